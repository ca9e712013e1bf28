"""Base models known by a name instead of a path: a package that ships a model registers its folder here.

``[model] base = "toyworld"`` loads the tiny pipeline the toyworld ships because ``tuitune.toyworld`` registers
it; the loader knows no model by name itself. A folder, file or hub id of the same name still wins.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

_FOLDERS: dict[str, Callable[[], Path]] = {}


def register(name: str, folder: Callable[[], Path]) -> None:
    """Let the base model ``name`` (any case) load the diffusers folder ``folder()`` returns."""
    _FOLDERS[name.strip().lower()] = folder


def folder_of(name: str) -> Path | None:
    """The folder of the model registered as ``name``; None when no model has that name."""
    folder = _FOLDERS.get(name.strip().lower())
    return folder() if folder is not None else None
