"""Start a run's worker as a detached process that outlives the terminal, SSH session and UI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.jobs.accelerate_config import (
    AccelerateConfig,
    free_port,
    launch_command,
    other_machines_command,
    read_accelerate_config,
)
from tuitune.jobs.rundir import RunDir, RunState

WORKER_MODULE = "tuitune.jobs.worker"
ACCELERATE_KEY = "accelerate_config"  # run.toml [job]: the user's accelerate config file, relative to the run


def read_run_toml(run: RunDir) -> dict[str, Any]:
    return run.config()


def num_processes(config: dict[str, Any]) -> int:
    """How many worker processes the run wants: ``[job] num_processes`` or ``[train] num_processes``."""
    for section in ("job", "train"):
        value = config.get(section, {}).get("num_processes")
        if value is not None:
            return max(1, int(value))
    return 1


def accelerate_config(run: RunDir, config: dict[str, Any]) -> AccelerateConfig | None:
    """The accelerate config file ``[job] accelerate_config`` names (relative to the run folder), read and
    checked; None when the run names none. A missing or broken file raises a UserError of one sentence."""
    named = config.get("job", {}).get(ACCELERATE_KEY)
    if not named:
        return None
    path = Path(str(named)).expanduser()
    return read_accelerate_config(path if path.is_absolute() else run.path / path,
                                  f"run {run.name}'s [job] {ACCELERATE_KEY}")


def worker_tail(run: RunDir, resume: bool = False) -> list[str]:
    """The worker module and its arguments, as every launcher of ``run`` ends its command."""
    return ["-m", WORKER_MODULE, str(run.path.resolve())] + (["--resume"] if resume else [])


def worker_command(run: RunDir, config: dict[str, Any], resume: bool = False,
                   named: AccelerateConfig | None = None) -> list[str]:
    """The command line that runs ``run``: through accelerate with the user's config file when the run names
    one (``named``, when the caller has read it already); else plain python for one process and accelerate
    launch on this machine for more."""
    tail = worker_tail(run, resume)
    if named is None:
        named = accelerate_config(run, config)
    if named is not None:
        return launch_command(named, tail, str(config.get("train", {}).get("mixed_precision", "no")))
    processes = num_processes(config)
    if processes == 1:
        return [sys.executable, *tail]
    # torchrun underneath: gloo on CPU boxes, NCCL when there are GPUs.
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes", str(processes),
        "--num_machines", "1",
        "--mixed_precision", str(config.get("train", {}).get("mixed_precision", "no")),
        "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
        *tail,
    ]  # fmt: skip


def launch(run: RunDir, resume: bool = False, env: dict[str, str] | None = None) -> int:
    """Start the worker detached (own session, no terminal, output to worker.log); returns its pid."""
    config = read_run_toml(run)
    try:
        named = accelerate_config(run, config)
        command = worker_command(run, config, resume, named)
    except UserError as exc:  # the accelerate config went missing or broke while the run waited
        run.write_status(state=RunState.FAILED, pid=None, pgid=None, message=str(exc))
        run.append_event("error", message=str(exc))
        raise
    child_env = dict(os.environ if env is None else env)
    # The worker must find this tuitune even when started from another folder.
    package_root = str(Path(__file__).resolve().parents[2])
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, child_env.get("PYTHONPATH")) if p)
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    run.create()
    # Written before the worker exists: afterwards only the worker writes status.json, so no update is lost.
    run.write_status(
        state=RunState.STARTING,
        pid=None,
        pgid=None,
        resume=resume,
        message="resuming" if resume else "starting",
    )
    with open(run.log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                cwd=str(run.path),
                env=child_env,
            )
        except OSError as exc:
            run.write_status(state=RunState.FAILED, message=f"Could not start the worker: {exc.strerror}.")
            raise
    run.append_event("launched", pid=process.pid, resume=resume, command=command)
    if named is not None and named.multi_machine:
        run.append_event("other_machines", message=other_machines_command(named, worker_tail(run, resume)))
    return process.pid

