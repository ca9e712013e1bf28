"""The user's accelerate config file (the YAML `accelerate config` writes): read, checked, and launched with.

A run that names one starts as ``python -m accelerate.commands.launch --config_file FILE -m tuitune.jobs.worker
RUN``, so multi-GPU, multi-node, DeepSpeed and FSDP mean what accelerate says they mean. tuitune reads only the
few keys it must agree with (how many processes and machines, this machine's rank, the port); accelerate reads
the rest. Two things tuitune settles itself: ``[train] mixed_precision`` is passed on the command line (which
overrides the file's), and a one-machine file without ``main_process_port`` gets a free port, so two runs on
one box never meet on accelerate's default port. A run over several machines needs its run folder on a
filesystem they all share; this machine is ``machine_rank`` 0 and the others start their share of the
processes with ``other_machines_command``.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.errors import UserError

LAUNCHER_MODULE = "accelerate.commands.launch"
# (key, smallest allowed value); accelerate's own defaults when a key is left out.
_COUNTS = {"num_processes": 1, "num_machines": 1, "machine_rank": 0, "main_process_port": 1}
_DEFAULTS = {"num_processes": 1, "num_machines": 1, "machine_rank": 0}


@dataclass(frozen=True)
class AccelerateConfig:
    """What tuitune needs to know of an accelerate config file; the file itself goes to accelerate whole."""

    path: Path
    num_processes: int  # in all, over every machine (accelerate's meaning)
    num_machines: int
    machine_rank: int
    main_process_port: int | None
    distributed_type: str

    @property
    def multi_machine(self) -> bool:
        return self.num_machines > 1


def read_accelerate_config(path: Path, where: str = "the accelerate config") -> AccelerateConfig:
    """Parse the YAML (or JSON) file at ``path``; a file that is missing or not an accelerate config raises a
    UserError of one sentence saying what to do. ``where`` names the setting that pointed at it."""
    import yaml

    path = Path(path)
    fix = f"run `accelerate config --config_file {path}` to write one, or point {where} at another file"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{where} names {path}, which does not exist; {fix}.") from None
    except IsADirectoryError:
        raise UserError(f"{where} names {path}, which is a folder, not a file; {fix}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise UserError(f"{where} names {path}, which cannot be read ({reason}); {fix}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise UserError(f"{path} is not valid YAML{place}; fix that line, or {fix}.") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} does not hold an accelerate config (a YAML mapping of settings); {fix}.")
    counts = {key: _count(data, key, low, path) for key, low in _COUNTS.items()}
    config = AccelerateConfig(
        path=path.resolve(),
        num_processes=counts["num_processes"] or _DEFAULTS["num_processes"],
        num_machines=counts["num_machines"] or _DEFAULTS["num_machines"],
        machine_rank=counts["machine_rank"] or _DEFAULTS["machine_rank"],
        main_process_port=counts["main_process_port"],
        distributed_type=str(data.get("distributed_type") or "NO"),
    )
    if config.machine_rank != 0:
        raise UserError(f"{path} says machine_rank {config.machine_rank}: tuitune starts a run on the main "
                        "machine (machine_rank 0); name that machine's config here, and start the other "
                        "machines' processes with their own files.")
    if config.multi_machine and not str(data.get("main_process_ip") or "").strip():
        raise UserError(f"{path} spans {config.num_machines} machines but names no main_process_ip; add the main "
                        "machine's address (the others connect to it).")
    if config.num_processes % config.num_machines:
        raise UserError(f"{path} asks for {config.num_processes} processes on {config.num_machines} machines; "
                        "num_processes counts them all, so make it a multiple of num_machines.")
    return config


def _count(data: dict[str, Any], key: str, low: int, path: Path) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{path}: {key} is {value!r}; it must be a whole number of at least {low}.")
    return value


def launch_command(config: AccelerateConfig, worker: list[str], mixed_precision: str) -> list[str]:
    """The argv that starts ``worker`` (``["-m", MODULE, ...]``) through accelerate with ``config``."""
    command = [sys.executable, "-m", LAUNCHER_MODULE, "--config_file", str(config.path),
               "--mixed_precision", mixed_precision]
    if not config.multi_machine and config.main_process_port is None:
        command += ["--main_process_port", str(free_port())]
    return [*command, *worker]


def other_machines_command(config: AccelerateConfig, worker: list[str]) -> str:
    """What to run on each other machine of a multi-machine config (each with its own file and machine_rank)."""
    tail = " ".join(worker)
    return (f"This run spans {config.num_machines} machines: on each of the others, with the run folder on the "
            f"same shared path and that machine's own accelerate config (machine_rank 1 to "
            f"{config.num_machines - 1}), run: python -m {LAUNCHER_MODULE} --config_file THAT_MACHINES.yaml {tail}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
