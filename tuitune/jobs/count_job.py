"""The ``count`` job: a seeded random walk on the CPU that follows the whole run protocol cheaply.

It checkpoints, resumes bit-exactly, pauses, samples on request and writes ``lora.safetensors``, so the
runner, the queue and attach can be exercised (and demonstrated) without a model.

run.toml::

    [count]
    steps = 100            # total steps
    step_seconds = 0.05    # work per step
    checkpoint_every = 10
    sample_every = 0       # 0 = only on request
    width = 16             # size of the state vector
    history = false        # keep every step's state in checkpoints (they grow with the step)
    seed = 0
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from PIL import Image
from safetensors.numpy import load_file, save_file

from tuitune import atomic
from tuitune.jobs.context import JobContext
from tuitune.jobs.rundir import ControlRequest

DEFAULTS: dict[str, Any] = {
    "steps": 100,
    "step_seconds": 0.05,
    "checkpoint_every": 10,
    "sample_every": 0,
    "width": 16,
    "history": False,
    "seed": 0,
}


def run(ctx: JobContext) -> None:
    settings = {**DEFAULTS, **ctx.job_config().get("count", {})}
    total, width = int(settings["steps"]), int(settings["width"])
    keep_history = bool(settings["history"])
    rng = np.random.default_rng(int(settings["seed"]))
    value = np.zeros(width, dtype=np.float64)
    history: list[np.ndarray] = []
    step = 0

    found = ctx.resume_checkpoint()
    if found is not None:
        step, folder = found
        tensors = load_file(str(folder / "state.safetensors"))
        value = tensors["value"]
        if keep_history and "history" in tensors:
            history = list(tensors["history"])
        rng.bit_generator.state = json.loads((folder / "rng.json").read_text(encoding="utf-8"))
        ctx.event("resumed", step=step)

    ctx.started(total_steps=total, step=step)
    every = int(settings["checkpoint_every"])
    sample_every = int(settings["sample_every"])

    def checkpoint(at: int) -> None:
        partial = ctx.partial_checkpoint_dir(at)
        tensors = {"value": value}
        if keep_history and history:
            tensors["history"] = np.stack(history)
        save_file(tensors, str(partial / "state.safetensors"))
        atomic.write_text(partial / "rng.json", json.dumps(rng.bit_generator.state))
        ctx.commit_checkpoint(at)

    while step < total:
        request = ctx.poll()
        if request is ControlRequest.STOP:
            checkpoint(step)
            return
        if request is ControlRequest.SAMPLE_NOW:
            _sample(ctx, step, value)
        time.sleep(float(settings["step_seconds"]))
        value = value + rng.standard_normal(width) * 0.1 - value * 0.01
        step += 1
        if keep_history:
            history.append(value.copy())
        ctx.log_metric({"step": step, "loss": float(np.mean(value**2))})
        ctx.progress(step)
        if sample_every and step % sample_every == 0:
            _sample(ctx, step, value)
        if every and step % every == 0 and step < total:
            checkpoint(step)

    atomic.write_with(ctx.run.lora_path, lambda tmp: save_file({"value": value}, str(tmp)))
    ctx.event("lora", path=ctx.run.lora_path.name, step=step)


def _sample(ctx: JobContext, step: int, value: np.ndarray) -> None:
    """A small grey strip of the state, so sample-on-request has something to show."""
    pixels = np.clip((np.tanh(value) + 1) * 127.5, 0, 255).astype(np.uint8)
    folder = ctx.run.sample_dir(step)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.repeat(pixels[None, :], 8, axis=0)).resize((max(64, value.size * 4), 32)).save(
        folder / "state.png"
    )
    ctx.event("sample", step=step, path=str(folder.relative_to(ctx.run.path)))
