"""Samples the toyworld model and scores it with the analytic backend; also writes sample grids."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from tuitune.errors import UserError
from tuitune.toyworld.analysis import read_scene
from tuitune.toyworld.world import BACKGROUND_COLOURS, SHAPE_COLOURS, SHAPES, article

DEFAULT_PROMPTS = (
    "a red circle on a white background",
    "a blue square on a yellow background",
    "a green triangle on a black background",
    "a yellow star on a blue background",
    "a purple ring on a gray background",
    "an orange circle on a white background, with a watermark",
)


def load_pipeline(model: str | Path | None = None, lora: str | Path | None = None):
    """The toyworld pipeline (or any SD folder) in fp32 on CPU, optionally with a LoRA loaded."""
    import torch
    from diffusers import StableDiffusionPipeline

    from tuitune.toyworld import model_path

    folder = Path(model) if model else model_path()
    if not (folder / "model_index.json").exists():
        raise UserError(f"{folder} holds no pipeline (no model_index.json); run "
                        "'tuitune toyworld pretrain --out DIR' or pass --model with a pipeline folder.")
    pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32, safety_checker=None,
                                                   requires_safety_checker=False)
    if lora:
        lora_path = Path(lora)
        if not lora_path.is_file():
            raise UserError(f"LoRA file {lora_path} does not exist; pass the lora.safetensors of a finished run.")
        from tuitune.train.pivotal import TokenTables, diffusers_lora

        tables = TokenTables(pipe)
        rows = tables.read(lora_path)  # the trigger's trained embeddings, when the run trained them
        pipe.load_lora_weights(diffusers_lora(lora_path))
        if rows is not None:
            tables.put("lora", rows)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sample(pipe, prompts: list[str], seed: int = 0, steps: int = 25, guidance: float = 3.0,
           batch: int = 16) -> list[Image.Image]:
    """One 64x64 image per prompt; image i uses seed ``seed + i`` so runs are repeatable."""
    import torch

    images: list[Image.Image] = []
    for start in range(0, len(prompts), batch):
        chunk = prompts[start : start + batch]
        gens = [torch.Generator().manual_seed(seed + start + i) for i in range(len(chunk))]
        with torch.no_grad():
            out = pipe(chunk, height=64, width=64, num_inference_steps=steps, guidance_scale=guidance,
                       generator=gens, output_type="pil")
        images.extend(out.images)
    return images


def check_prompts(count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """``count`` (colour, shape, background) triples covering every colour and shape evenly."""
    rng = random.Random(seed)
    colours, triples = list(SHAPE_COLOURS), []
    for i in range(count):
        colour, shape = colours[i % len(colours)], SHAPES[(i // len(colours) + i) % len(SHAPES)]
        background = rng.choice([c for c in BACKGROUND_COLOURS if c != colour])
        triples.append((colour, shape, background))
    return triples


@dataclass
class CheckReport:
    total: int = 0
    colour: int = 0
    shape: int = 0
    both: int = 0
    background: int = 0
    per_shape: dict[str, list[int]] = field(default_factory=dict)  # shape -> [right, asked]

    def share(self, n: int) -> float:
        return n / self.total if self.total else 0.0

    def render(self) -> str:
        lines = [f"{self.total} samples of '<colour> <shape> on a <colour> background' prompts:",
                 f"  right colour      {self.colour:3d}/{self.total}  {self.share(self.colour):.0%}",
                 f"  right shape       {self.shape:3d}/{self.total}  {self.share(self.shape):.0%}",
                 f"  colour and shape  {self.both:3d}/{self.total}  {self.share(self.both):.0%}",
                 f"  right background  {self.background:3d}/{self.total}  {self.share(self.background):.0%}",
                 "  shape by shape: " + ", ".join(f"{s} {r}/{n}" for s, (r, n) in self.per_shape.items())]
        return "\n".join(lines)


def score(images: list[Image.Image], triples: list[tuple[str, str, str]]) -> CheckReport:
    report = CheckReport(per_shape={s: [0, 0] for s in SHAPES})
    for image, (colour, shape, background) in zip(images, triples, strict=True):
        reading = read_scene(image)
        report.total += 1
        report.colour += any(o.colour == colour for o in reading.objects)
        report.shape += any(o.shape == shape for o in reading.objects)
        hit = any(o.colour == colour and o.shape == shape for o in reading.objects)
        report.both += hit
        report.background += background in reading.background
        report.per_shape[shape][0] += hit
        report.per_shape[shape][1] += 1
    return report


def run_check(model=None, lora=None, samples: int = 48, seed: int = 0, steps: int = 25,
              guidance: float = 3.0) -> CheckReport:
    if samples < 1:
        raise UserError("--samples must be at least 1.")
    triples = check_prompts(samples, seed)
    prompts = [f"{article(c)} {c} {s} on {article(b)} {b} background" for c, s, b in triples]
    images = sample(load_pipeline(model, lora), prompts, seed=seed, steps=steps, guidance=guidance)
    return score(images, triples)


def grid(rows: list[list[Image.Image]], labels: list[str], scale: int = 2) -> Image.Image:
    """Rows of images, each under its label, upscaled by ``scale`` without smoothing."""
    cell = 64 * scale
    label_h = 14
    width = max(len(r) for r in rows) * (cell + 2)
    sheet = Image.new("RGB", (width, len(rows) * (cell + label_h + 2)), (30, 30, 30))
    draw = ImageDraw.Draw(sheet)
    for y, (row, label) in enumerate(zip(rows, labels, strict=True)):
        top = y * (cell + label_h + 2)
        draw.text((2, top + 1), label, fill=(230, 230, 230))
        for x, image in enumerate(row):
            sheet.paste(image.resize((cell, cell), Image.NEAREST), (x * (cell + 2), top + label_h))
    return sheet


def sample_grid(prompts: list[str], out: Path, model=None, lora=None, per_prompt: int = 6, seed: int = 0,
                steps: int = 25, guidance: float = 3.0, scale: int = 2) -> Path:
    prompts = list(prompts) or list(DEFAULT_PROMPTS)
    pipe = load_pipeline(model, lora)
    flat = [p for p in prompts for _ in range(per_prompt)]
    images = sample(pipe, flat, seed=seed, steps=steps, guidance=guidance)
    rows = [images[i * per_prompt : (i + 1) * per_prompt] for i in range(len(prompts))]
    out.parent.mkdir(parents=True, exist_ok=True)
    grid(rows, prompts, scale).save(out)
    return out


@dataclass
class TriggerEffect:
    """How trigger-word samples change with the LoRA: share showing the character's shape, share with a
    watermark, and closeness to the project's own pictures (mean best cosine in the analytic embedding)."""

    samples: int
    base_character: float
    lora_character: float
    base_watermark: float
    lora_watermark: float
    base_likeness: float = 0.0
    lora_likeness: float = 0.0

    def render(self, shape: str) -> str:
        return (f"{self.samples} samples per side: showing a {shape}: base {self.base_character:.0%} -> "
                f"LoRA {self.lora_character:.0%}; showing a watermark: base {self.base_watermark:.0%} -> "
                f"LoRA {self.lora_watermark:.0%}; likeness to the project's pictures: base "
                f"{self.base_likeness:.3f} -> LoRA {self.lora_likeness:.3f}")


def trigger_effect(lora: str | Path, prompts: list[str], shape: str, model=None, per_prompt: int = 8,
                   seed: int = 0, steps: int = 20, guidance: float = 3.0,
                   references: list[Image.Image] | None = None) -> TriggerEffect:
    """Sample the same prompts and seeds with the LoRA off and on, and read both sets with the backend."""
    import numpy as np

    from tuitune.toyworld.backend import AnalyticBackend

    backend = AnalyticBackend()
    refs = np.stack([backend.embed_image(im) for im in references]) if references else None
    pipe = load_pipeline(model, lora)
    flat = [p for p in prompts for _ in range(per_prompt)]
    sides = []
    for enabled in (False, True):
        pipe.enable_lora() if enabled else pipe.disable_lora()
        images = sample(pipe, flat, seed=seed, steps=steps, guidance=guidance)
        readings = [read_scene(im) for im in images]
        character = sum(any(o.shape == shape for o in r.objects) for r in readings) / len(readings)
        marks = sum(bool(r.marks) for r in readings) / len(readings)
        likeness = 0.0
        if refs is not None:
            vectors = np.stack([backend.embed_image(im) for im in images])
            likeness = float((vectors @ refs.T).max(axis=1).mean())
        sides.append((character, marks, likeness))
    (bc, bm, bl), (lc, lm, ll) = sides
    return TriggerEffect(len(flat), bc, lc, bm, lm, bl, ll)
