"""What ``tuitune train`` does, from typed options: a config file trained in this terminal with a rich progress
bar (or through an accelerate config), a project's run queued as a job exactly as the app's Train screen does, or
only the memory plan of either."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tuitune.errors import UserError

if TYPE_CHECKING:
    from tuitune.jobs.rundir import RunDir
    from tuitune.train.config import TrainConfig


def train_file(config_file: str, run_dir: str | None = None, *, steps: int | None = None, device: str | None = None,
               resume: bool = False, accelerate_config: str | None = None) -> int:
    """Train the config TOML ``config_file`` (as the user typed it) into ``run_dir`` (default: runs/<config name>
    beside it) in this terminal with a progress bar, or through ``accelerate_config`` on the processes it asks for."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from tuitune.train.config import load_config
    from tuitune.train.errors import TrainError
    from tuitune.train.loop import train

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if Path(config_file).is_dir():
        raise TrainError(f"{config_file} is a folder but not a tuitune project; give a config TOML or a project.")
    config = load_config(config_file)
    config_path = Path(config_file).resolve()
    run_path = Path(run_dir) if run_dir else config_path.parent / "runs" / config_path.stem
    if steps is not None and steps < 1:
        raise TrainError("--steps must be at least 1.")
    if accelerate_config:
        return train_file_through_accelerate(config_file, accelerate_config, config, run_path, steps=steps,
                                             device=device, resume=resume)
    columns = (TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TextColumn("{task.fields[speed]}"), TimeRemainingColumn(), TextColumn("{task.fields[phase]}"))
    with Progress(*columns) as progress:
        task = progress.add_task("train", total=steps or config.train.steps, loss="-", speed="", phase="")

        first: list[tuple[float, int]] = []  # the first step's (time, step): the wall rate counts from there

        def on_step(step: int, total: int, row: dict) -> None:
            # Wall seconds per step, so the samples and checkpoints made between steps count (s_per_step
            # times the step alone).
            now = time.monotonic()
            first[:] = first or [(now, step)]
            (t0, s0) = first[0]
            speed = f"{(now - t0) / (step - s0):.2f} s/step" if step > s0 else f"{row['s_per_step']:.2f} s/step"
            progress.update(task, completed=step, total=total, loss=f"{row['loss']:.4f}", speed=speed)

        def on_phase(phase: str) -> None:  # before step 1: loading the model, caching latents 12/48
            progress.update(task, phase=phase)

        outcome = train(config, run_path, resume=resume, steps=steps, device=device, on_step=on_step,
                        on_phase=on_phase)
    if outcome.state == "finished":
        print(f"LoRA written to {outcome.lora_path} (kohya keys: {run_path / 'lora_kohya.safetensors'})")
    else:
        print(f"Stopped at step {outcome.step}; continue with: tuitune train {config_file} --run-dir {run_path} --resume")
    return 0


def train_file_through_accelerate(config_file: str, accelerate_config: str, config: TrainConfig, run_dir: Path, *,
                                  steps: int | None = None, device: str | None = None, resume: bool = False) -> int:
    """``tuitune train CONFIG.toml --accelerate-config FILE``: freeze ``config`` (read from ``config_file``) into the
    run folder as a ``train`` job and run the job worker on every process ``FILE`` asks for, in this terminal
    (Ctrl-C checkpoints, then stops); the exit code is the launcher's."""
    import os
    import subprocess
    import sys

    from tuitune.jobs.accelerate_config import launch_command, other_machines_command, read_accelerate_config
    from tuitune.jobs.launch import worker_tail
    from tuitune.jobs.rundir import RunDir
    from tuitune.train.loop import refuse_fresh_start_over_a_run

    named = read_accelerate_config(Path(accelerate_config).expanduser(), "--accelerate-config")
    rd = RunDir(run_dir)
    refuse_fresh_start_over_a_run(rd, resume)
    rd.create()
    _freeze_as_a_job(rd, config, resume, steps=steps, device=device)
    worker = worker_tail(rd, resume)
    command = launch_command(named, worker, config.train.mixed_precision)
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # the processes must import this tuitune
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    print(" ".join(command), flush=True)
    if named.multi_machine:
        print(other_machines_command(named, worker), flush=True)
    process = subprocess.Popen(command, env=env)
    while True:
        try:
            code = process.wait()
            break
        except KeyboardInterrupt:  # Ctrl-C reached every process too: theirs checkpoint, then stop; wait for them
            print("stopping after a checkpoint (Ctrl-C again to keep waiting)", flush=True)
    status = rd.read_status()
    if status.get("state") == "finished":
        print(f"LoRA written to {rd.lora_path} (kohya keys: {run_dir / 'lora_kohya.safetensors'})")
    elif status.get("state") == "stopped":
        print(f"Stopped at step {status.get('step')}; continue with: tuitune train {config_file} "
              f"--run-dir {run_dir} --accelerate-config {accelerate_config} --resume")
    elif status.get("state") == "failed":
        print(f"tuitune: {status.get('message')}", file=sys.stderr)
    return code


def _freeze_as_a_job(rd: RunDir, config: TrainConfig, resume: bool, *, steps: int | None = None,
                    device: str | None = None) -> None:
    """Write ``rd``'s run.toml for the job worker: ``config`` frozen as a ``train`` job (a resume keeps the run's
    own), with ``--steps`` and ``--device`` in its ``[train]`` table when given."""
    import tomli_w

    from tuitune import atomic
    from tuitune.train.errors import TrainError

    kept = resume and rd.run_toml.exists()
    tables = rd.config() if kept else {"job": {"kind": "train"}, **config.frozen().model_dump(exclude_none=True)}
    kind = tables.setdefault("job", {}).setdefault("kind", "train")  # trained in a terminal before: no [job]
    if kind != "train":
        raise TrainError(f"{rd.path} holds a {kind} run, not a training run; pick another --run-dir.")
    train = tables.setdefault("train", {})
    train.update({k: v for k, v in (("steps", steps), ("device", device)) if v is not None})
    if not kept or tables != rd.config():
        atomic.write_text(rd.run_toml, tomli_w.dumps(tables))


def queue_project_run(project: str, *, steps: int | None = None, device: str | None = None,
                      accelerate_config: str | None = None, detach: bool = False) -> int:
    """Queue a training run of the project folder ``project`` (as the user typed it) as the app's Train screen does,
    then follow it unless ``detach``; ``steps``, ``device`` and ``accelerate_config`` override its settings."""
    from tuitune.jobs.launch import ACCELERATE_KEY
    from tuitune.jobs.queue import submit
    from tuitune.train.project_run import ACCELERATE, train_request

    root = Path(project).expanduser().resolve()
    choices: dict[str, dict] = {}
    if steps is not None:
        if steps < 1:
            raise UserError("--steps must be at least 1.")
        choices.setdefault("train", {})["steps"] = steps
    if device is not None:
        choices.setdefault("train", {})["device"] = device
    if accelerate_config:  # typed by the user: theirs to place anywhere
        from tuitune.jobs.accelerate_config import read_accelerate_config

        named = read_accelerate_config(Path(accelerate_config).expanduser(), "--accelerate-config")
        choices[ACCELERATE] = {"config": str(named.path)}
    tables = train_request(root, choices)
    if "spec_version" not in tables["dataset"]:
        print("No intent yet: training without masks weighting (`tuitune intent ... --project` adds one).")
    run = submit(root / "runs", "train", tables)
    print(f"{run.name}: {run.state()}; `tuitune attach {run.name} --project {project}` follows it.")
    if tables.get("job", {}).get(ACCELERATE_KEY):
        from tuitune.jobs.accelerate_config import other_machines_command
        from tuitune.jobs.launch import accelerate_config as run_accelerate_config
        from tuitune.jobs.launch import worker_tail

        named = run_accelerate_config(run, tables)
        if named is not None and named.multi_machine:
            print(other_machines_command(named, worker_tail(run)))
    if detach:
        return 0
    from tuitune.jobs.attach import attach

    print(f"{run.name}: {attach(run)}")
    return 0


def print_plan(config_file: str, device: str | None = None) -> int:
    """``tuitune train CONFIG --plan``: print the memory plan of a config file, or of the run a project's settings
    would start (the plan the Train screen's m shows), on this machine (on ``device`` when given), without
    loading any weights; 0 when it fits, 1 when it does not."""
    root = Path(config_file).expanduser()
    if (root / "project.toml").is_file():
        from tuitune.train.plan_file import plan_of_project_run

        report = plan_of_project_run(root, device=device)
        lines, sentence, fits = report["lines"], report["sentence"], report["fits"]
    else:
        from tuitune.train.config import load_config
        from tuitune.train.hardware import choose_device
        from tuitune.train.memory_plan import check_at_start

        config = load_config(root)
        chosen = choose_device(config.train.device, device)
        verdict = check_at_start(config, chosen, config.train.num_processes if chosen == "cpu" else 1)
        lines, sentence, fits = verdict.plan.lines(), verdict.sentence, verdict.fits
    print("\n".join(lines))
    print(sentence)
    return 0 if fits else 1
