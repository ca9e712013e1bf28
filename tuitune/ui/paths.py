"""Where the app's stylesheets live: the repository's ``styles/``, installed as the package ``tuitune.styles``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

STYLE_FILES = ("app.tcss", "screens.tcss")


def styles_dir() -> Path:
    """The installed ``tuitune.styles`` folder (the repository's ``styles/`` in an editable install)."""
    spec = importlib.util.find_spec("tuitune.styles")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise FileNotFoundError("tuitune's stylesheets (package tuitune.styles) are not installed; "
                                "reinstall tuitune (`bash scripts/setup` from the repo)")
    return Path(locations[0])


def stylesheets() -> list[Path]:
    folder = styles_dir()
    missing = [name for name in STYLE_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"stylesheet {missing[0]} is missing from {folder}; reinstall tuitune (`bash scripts/setup` from the repo)"
        )
    return [folder / name for name in STYLE_FILES]
