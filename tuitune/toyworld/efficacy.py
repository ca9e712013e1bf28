"""What a LoRA trained on the toyworld sample draws, read from its evaluation samples, with spreads over seeds.

The intent metrics say how close samples are to references; on the toyworld the analytic reader can say what
was drawn: whether a trigger sample shows the character's ring, whether it carries the watermark, and whether
an "a blue zxq" sample shows a blue ring. ``read_run`` reads a run's cached evaluation samples; ``bootstrap``
gives the mean and a percentile interval over training seeds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tuitune.evaluate.prompts import EvalPromptSet, PromptKind
from tuitune.toyworld.analysis import read_scene
from tuitune.toyworld.sample_project import CHARACTER_SHAPE


@dataclass(frozen=True)
class Reading:
    """Shares over one run's evaluation samples (None when the run has no samples of that kind)."""

    character: float | None  # trigger samples showing the character's shape
    watermark: float | None  # trigger samples carrying a corner mark
    watermark_all: float | None  # trigger and alternative samples carrying a corner mark
    colour_asked: float | None  # alternative samples showing the character in the colour asked
    trigger_samples: int
    alternative_samples: int


def _share(hits: Sequence[bool]) -> float | None:
    return sum(hits) / len(hits) if hits else None


def read_images(prompts: EvalPromptSet, images: dict[str, Image.Image], shape: str = CHARACTER_SHAPE) -> Reading:
    """Read ``images`` (prompt key -> picture) of the trigger and alternative prompts of ``prompts``."""
    character, marks, trigger_marks, coloured = [], [], [], []
    for prompt in prompts.prompts:
        if prompt.kind is PromptKind.NEUTRAL:
            continue
        image = images.get(prompt.key)
        if image is None:
            raise FileNotFoundError(f"no evaluation sample for {prompt.text!r} (seed {prompt.seed})")
        reading = read_scene(image)
        marks.append(bool(reading.marks))
        if prompt.kind is PromptKind.TRIGGER:
            character.append(any(o.shape == shape for o in reading.objects))
            trigger_marks.append(bool(reading.marks))
        else:
            coloured.append(any(o.shape == shape and o.colour == prompt.alternative for o in reading.objects))
    return Reading(_share(character), _share(trigger_marks), _share(marks), _share(coloured), len(character),
                   len(coloured))


def read_run(run_path: Path, prompts: EvalPromptSet, checkpoint: str = "final", base: Path | None = None) -> Reading:
    """Read the LoRA samples ``tuitune eval`` cached for ``checkpoint`` (or, with ``base``, that folder's
    base-model samples)."""
    folder = base if base is not None else Path(run_path) / "eval" / checkpoint
    images = {}
    for prompt in prompts.prompts:
        path = folder / f"{prompt.key}.png"
        if path.is_file():
            with Image.open(path) as im:
                images[prompt.key] = im.convert("RGB")
    return read_images(prompts, images)


@dataclass(frozen=True)
class Spread:
    mean: float
    low: float
    high: float
    n: int

    def render(self, percent: bool = True) -> str:
        if percent:
            return f"{self.mean:.0%} [{self.low:.0%}, {self.high:.0%}]"
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap(values: Sequence[float], draws: int = 2000, level: float = 0.95, seed: int = 0) -> Spread:
    """Mean of ``values`` with a percentile bootstrap interval (resampling the values with replacement)."""
    if not values:
        raise ValueError("bootstrap needs at least one value")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choice(values) for _ in range(n)) / n for _ in range(draws))
    tail = (1 - level) / 2
    low, high = means[int(tail * (draws - 1))], means[int((1 - tail) * (draws - 1))]
    return Spread(sum(values) / n, low, high, n)
