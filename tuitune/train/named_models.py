"""Base models known by a name instead of a path: a package that ships or builds a model registers it here.

``[model] base = "toyworld"`` loads the tiny pipeline the toyworld ships because ``tuitune.toyworld`` registers
its folder; ``base = "arch:sd15"`` builds a real-size architecture with random weights because
``tuitune.train.architectures`` registers a builder. The loader knows no model by name itself. A folder, file or
hub id of the same name still wins.

A built model's name may end in ``@SEED`` (``arch:sdxl@3``): the seed of its random weights, 0 without one, so
the same name builds the same weights in every process (a resume, a sample job, an evaluation).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuitune.train.errors import TrainError

_FOLDERS: dict[str, Callable[[], Path]] = {}
# name -> build(dtype, seed) returning a diffusers pipeline
_BUILDERS: dict[str, Callable[[Any, int], Any]] = {}


def register(name: str, folder: Callable[[], Path]) -> None:
    """Let the base model ``name`` (any case) load the diffusers folder ``folder()`` returns."""
    _FOLDERS[name.strip().lower()] = folder


def register_builder(name: str, build: Callable[[Any, int], Any]) -> None:
    """Let the base model ``name`` (any case, optionally ``name@SEED``) be ``build(dtype, seed)``: a pipeline."""
    _BUILDERS[name.strip().lower()] = build


def folder_of(name: str) -> Path | None:
    """The folder of the model registered as ``name``; None when no model has that name."""
    folder = _FOLDERS.get(name.strip().lower())
    return folder() if folder is not None else None


def builder_of(name: str) -> tuple[Callable[[Any, int], Any], int] | None:
    """The builder and seed ``name`` (``NAME`` or ``NAME@SEED``) stands for; None when no builder has it."""
    key, at, seed = name.strip().lower().partition("@")
    build = _BUILDERS.get(key)
    if build is None:
        return None
    if at and not seed.isdigit():
        raise TrainError(f"Base model {name.strip()!r}: the seed after @ must be a whole number, e.g. {key}@0.")
    return build, int(seed or 0)


def builder_names() -> list[str]:
    """The names models built in code are registered under, sorted."""
    return sorted(_BUILDERS)
