"""The LoRAs a project's runs offer for generating, newest run first, and the one to draw with by default.

The default is the checkpoint the newest run's evaluation recommends (★), else that run's final LoRA, else its
newest complete checkpoint: the newest run that offers any LoRA at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tuitune.jobs.queue import run_dirs
from tuitune.jobs.rundir import RunDir


@dataclass(frozen=True)
class LoraOffer:
    choices: list[tuple[str, str]] = field(default_factory=list)  # (label, path): finals and checkpoints
    default: str | None = None  # the path to pick when the user has not picked one


def lora_offer(project_root: Path) -> LoraOffer:
    """Every LoRA in the project's runs (final files and complete checkpoints) and the default among them."""
    from tuitune.evaluate.eval_view import recommended_lora

    choices: list[tuple[str, str]] = []
    default: str | None = None
    for run in reversed(run_dirs(Path(project_root) / "runs")):
        offered = _run_loras(run)
        if not offered:
            continue
        recommended = recommended_lora(run) if default is None else None
        star = str(recommended[1]) if recommended else None
        # The star first: the Generate form's picker is narrow and cuts a long label's end off.
        choices += [(("★ " if path == star else "") + label, path) for label, path in offered]
        if default is None:
            default = star if star in {path for _, path in offered} else offered[0][1]
    return LoraOffer(choices, default)


def _run_loras(run: RunDir) -> list[tuple[str, str]]:
    """The final LoRA first, then the checkpoints newest first."""
    found = [(f"{run.name} (final)", str(run.lora_path))] if run.lora_path.is_file() else []
    found += [(f"{run.name} step {step}", str(run.checkpoint_dir(step))) for step in reversed(run.checkpoint_steps())]
    return found
