"""Which items have a mask of which concept: a mask counts only when at least one of its pixels is set.

Detection writes a mask file for every concept of every picture, all zero where it found nothing or every
instance was rejected; such a file is no mask for badges, ``mask:NAME`` filters or counts. masks.json tells
for what detection wrote (an entry with instances needs an accepted one); a mask file it does not list (made
by hand, or by another tool) is opened and looked at, once per version of the file.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from PIL import Image


def concepts_with_masks(masks_dir: Path, masks_index: dict[str, Any]) -> dict[str, set[str]]:
    """Stem -> the concepts whose mask has a pixel set, from masks.json and one pass over ``masks_dir``."""
    found: dict[str, set[str]] = {}
    for stem, entries in masks_index.items():
        for concept, entry in (entries.items() if isinstance(entries, dict) else ()):
            instances = entry.get("instances") if isinstance(entry, dict) else None
            if isinstance(instances, list) and instances:
                if any(isinstance(i, dict) and i.get("accepted", True) for i in instances):
                    found.setdefault(stem, set()).add(concept)
            elif _file_has_pixels(masks_dir / stem / f"{concept}.png"):
                found.setdefault(stem, set()).add(concept)
    if masks_dir.is_dir():
        with os.scandir(masks_dir) as stems:
            for stem in stems:
                if not stem.is_dir():
                    continue
                listed = masks_index.get(stem.name) if isinstance(masks_index.get(stem.name), dict) else {}
                for name in os.listdir(stem.path):
                    concept = name.removesuffix(".png")
                    if name.endswith(".png") and concept not in listed and _file_has_pixels(Path(stem.path, name)):
                        found.setdefault(stem.name, set()).add(concept)
    return found


def found_counts(masks_index: dict[str, Any]) -> dict[str, int]:
    """Accepted instances per concept over the dataset; a mask listed without instances (not from detection)
    counts one, and a concept detection found nowhere counts none."""
    counts: dict[str, int] = {}
    for per_item in masks_index.values():
        for concept, entry in (per_item.items() if isinstance(per_item, dict) else ()):
            instances = entry.get("instances") if isinstance(entry, dict) else None
            if isinstance(instances, list):
                accepted = sum(1 for i in instances if isinstance(i, dict) and i.get("accepted", True))
            else:
                accepted = 1
            counts[concept] = counts.get(concept, 0) + accepted
    return counts


def _file_has_pixels(path: Path) -> bool:
    try:
        info = path.stat()
    except OSError:
        return False
    return _has_pixels(str(path), info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=65536)
def _has_pixels(path: str, _mtime_ns: int, _size: int) -> bool:
    try:
        with Image.open(path) as mask:
            return mask.convert("L").getbbox() is not None
    except (OSError, ValueError):
        return False
