"""Where the app's stylesheets live: ``tuitune/ui/styles/``, shipped as package data (any install works)."""

from __future__ import annotations

from pathlib import Path

STYLE_FILES = ("app.tcss", "screens.tcss")


def styles_dir() -> Path:
    """The ``styles`` folder inside this package (installed with it as package data)."""
    return Path(__file__).resolve().parent / "styles"


def stylesheets() -> list[Path]:
    folder = styles_dir()
    missing = [name for name in STYLE_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"stylesheet {missing[0]} is missing from {folder}; reinstall tuitune (`pip install .` from the repo)"
        )
    return [folder / name for name in STYLE_FILES]
