"""One fix request for ``tuitune fix`` and the Generate screen's Fix mode: the same options make the same run.toml.

A setting left as None takes FixConfig's default, so neither front door keeps its own copy of the defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.fix.config import FixConfig
from tuitune.jobs.rundir import RunDir


@dataclass
class FixRequest:
    """What to fix (prompts, seeds, the mask: ``reward``, ``gradcam``, ``box:x0,y0,x1,y1`` in the picture's pixels,
    ``file:PNG``) with which model and reward, and the DRaFT-K settings that differ from the defaults."""

    prompts: list[str]
    mask: str | None = None
    seeds: list[int] = field(default_factory=list)  # [] = FixConfig's
    eval_seeds: list[int] = field(default_factory=list)  # [] = FixConfig's held-out seeds
    model: str | None = None
    reward: str | None = None
    reward_options: dict[str, str] = field(default_factory=dict)
    critic: str | None = None  # "" = no defect rate
    beta: float | None = None
    k: int | None = None
    rank: int | None = None  # the LoRA's alpha follows its rank
    lr: float | None = None
    steps: int | None = None
    batch_size: int | None = None
    threshold: float | None = None
    dilation: int | None = None
    sampler_steps: int | None = None
    guidance: float | None = None
    resolution: int | None = None  # the picture's side in pixels: a box must lie inside it
    grad_checkpointing: bool | None = None
    checkpoint_every: int | None = None
    device: str | None = None

    def table(self) -> dict[str, Any]:
        """The ``[fix]`` table of the run, validated by FixConfig (each problem one sentence)."""
        table = {key: value for key, value in asdict(self).items() if value is not None and value != []}
        if self.rank is not None:
            table["alpha"] = float(self.rank)
        if self.mask and self.mask.startswith("file:"):
            table["mask"] = "file:" + str(Path(self.mask[5:]).expanduser().resolve())  # the job runs elsewhere
        return FixConfig.from_table(table).to_table()


def read_prompts(path: str | Path) -> list[str]:
    """One prompt a line; blank lines and lines starting with # are skipped."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"The prompts file {path} does not exist; give a text file with one prompt a line.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"The prompts file {path} cannot be read ({exc}); give a UTF-8 text file.") from None
    prompts = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise UserError(f"The prompts file {path} holds no prompt; write one prompt a line.")
    return prompts


def submit(runs_folder: Path, request: FixRequest, name: str | None = None) -> RunDir:
    """Check ``request`` and queue it as a ``fix`` job in ``runs_folder``; nothing is queued when it is refused."""
    from tuitune.jobs.queue import submit as queue_submit

    table = request.table()
    return queue_submit(Path(runs_folder), "fix", {"fix": table}, name=name or None)
