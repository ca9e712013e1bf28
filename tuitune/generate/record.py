"""Save generations as PNGs with an A1111 ``parameters`` chunk plus one JSON record each (the history)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tuitune import atomic
from tuitune.generate.params import GenerationParams, a1111_parameters


def save_png(path: Path, image: Image.Image, parameters: str) -> None:
    info = PngInfo()
    info.add_text("parameters", parameters)
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    atomic.write_bytes(path, buffer.getvalue())


def read_parameters(path: Path) -> str | None:
    """The A1111 ``parameters`` text of a PNG, or None when it has none."""
    with Image.open(path) as image:
        return image.info.get("parameters")


@dataclass
class GenerationRecord:
    id: str
    time: float
    params: dict[str, Any]
    model: str
    lora: str | None
    images: dict[str, str]  # "base" / "lora" -> file name inside the generations folder

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def save_generation(
    folder: Path,
    params: GenerationParams,
    images: dict[str, Image.Image],
    model: str = "",
    lora: str | None = None,
    extra: dict[str, Any] | None = None,
) -> GenerationRecord:
    """Write ``images`` (e.g. base and lora) and their JSON record into ``folder``; never overwrites."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = 0
    while True:
        gen_id = f"{stamp}-{params.seed}" + (f"-{n}" if n else "")
        if not (folder / f"{gen_id}.json").exists():
            break
        n += 1
    names: dict[str, str] = {}
    for role, image in images.items():
        name = f"{gen_id}-{role}.png"
        lora_for_role = lora if role != "base" else None
        save_png(folder / name, image, a1111_parameters(params, image.size, model, lora_for_role))
        names[role] = name
    record = GenerationRecord(gen_id, time.time(), params.model_dump(), model, lora, names)
    data = record.to_dict() | ({"extra": extra} if extra else {})
    atomic.write_json(folder / f"{gen_id}.json", data)
    return record


def list_generations(folder: Path) -> list[dict[str, Any]]:
    """Every record in ``folder``, newest first; unreadable records are skipped."""
    rows = []
    for path in Path(folder).glob("*.json"):
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(row, dict) and "images" in row:
            rows.append(row)
    return sorted(rows, key=lambda r: r.get("time", 0), reverse=True)
