"""Generate base/LoRA pairs for prompts x seeds into a generations folder; shared by the CLI and the job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tuitune.errors import UserError
from tuitune.generate.pair import LoraLoadError, PairGenerator
from tuitune.generate.params import GenerationParams, Sampler
from tuitune.generate.record import GenerationRecord, save_generation


class GenerateRequest(BaseModel):
    """A batch: every prompt with every seed, drawn by the base model and (when given) with the LoRA."""

    model_config = ConfigDict(extra="forbid")

    model: str
    kind: str = "auto"
    lora: str | None = None
    prompts: list[str] = Field(min_length=1)
    negative: str = ""
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    steps: int = Field(20, ge=1)
    guidance: float = 5.0
    lora_scale: float = 1.0
    sampler: Sampler = "euler"
    width: int | None = None
    height: int | None = None
    output: str = "generations"


def generate_batch(
    request: GenerateRequest,
    generator: PairGenerator | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[GenerationRecord]:
    """Draw and save every prompt x seed; returns the records written (the history entries)."""
    if generator is None:
        from tuitune.generate.pair import load_generator

        try:
            generator = load_generator(request.model, kind=request.kind)
        except Exception as exc:
            raise UserError(f"The base model {request.model} could not be loaded ({exc}); check the path.") from None
    adapter = None
    lora_name = None
    if request.lora:
        lora_name = lora_label(Path(request.lora))
        try:
            adapter = generator.load_lora(Path(request.lora), "generate")
        except LoraLoadError as exc:
            raise UserError(f"{exc}; pick a LoRA trained for this base model.") from None
    out = Path(request.output)
    jobs = [(p, s) for p in request.prompts for s in request.seeds]
    records = []
    for index, (prompt, seed) in enumerate(jobs):
        if should_stop is not None and should_stop():
            break
        params = GenerationParams(
            prompt=prompt, negative=request.negative, seed=seed, steps=request.steps, guidance=request.guidance,
            lora_scale=request.lora_scale, sampler=request.sampler, width=request.width, height=request.height,
        )
        images = {"base": generator.draw(params, None)}
        if adapter is not None:
            images["lora"] = generator.draw(params, adapter)
        records.append(save_generation(out, params, images, model=generator.model_name, lora=lora_name))
        if progress is not None:
            progress(index + 1, len(jobs))
    return records


def lora_label(path: Path) -> str:
    """The name a generation records for its LoRA: the run that trained it, with the checkpoint unless it is
    the run's final LoRA ("train-a", "train-a step_40"); a LoRA from elsewhere goes by its file or folder name."""
    folder = path.parent if path.is_file() else path
    if folder.name.startswith("step_") and folder.parent.name == "checkpoints":
        return f"{folder.parent.parent.name} {folder.name}"
    if (folder / "run.toml").is_file():
        return folder.name
    return path.stem if path.is_file() else path.name
