"""What a training checkpoint holds: every process's accelerate state (optimizer, schedule, RNG, adapters) and
rank 0's LoRA export, written through the job context's one checkpoint writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuitune.jobs.context import JobContext
from tuitune.train.config import CheckpointSection
from tuitune.train.pivotal import embeddings_path

# What a LoRA-only checkpoint keeps: the LoRA the loop exports into it, and its pivotal embeddings if any.
LORA_FILE = "lora.safetensors"
LORA_FILES = frozenset({LORA_FILE, embeddings_path(Path(LORA_FILE)).name})


def save(ctx: JobContext, step: int, accelerator: Any, export: Callable[[Path], None],
         settings: CheckpointSection) -> Path:
    """Checkpoint ``step`` on every process; old checkpoints are pruned as ``[checkpoints]`` says. A failed
    write leaves the earlier checkpoints as they were."""
    folder = ctx.partial_checkpoint_dir(step)
    accelerator.wait_for_everyone()  # rank 0 has made the folder
    accelerator.save_state(str(folder))  # every process writes its own optimizer/RNG shard
    accelerator.wait_for_everyone()
    if ctx.is_main:
        export(folder / LORA_FILE)
    final = ctx.commit_checkpoint(step, settings.keep, settings.keep_state, LORA_FILES)
    accelerator.wait_for_everyone()
    return final
