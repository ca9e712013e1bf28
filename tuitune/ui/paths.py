"""Where the app's stylesheets live: the repo's top-level ``styles/`` folder (editable install)."""

from __future__ import annotations

from pathlib import Path

STYLE_FILES = ("app.tcss", "screens.tcss")


def styles_dir() -> Path:
    """The ``styles/`` folder beside the ``tuitune`` package (the repo root in an editable install)."""
    return Path(__file__).resolve().parents[2] / "styles"


def stylesheets() -> list[Path]:
    folder = styles_dir()
    missing = [name for name in STYLE_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"stylesheet {missing[0]} not found in {folder}; install tuitune with `pip install -e .` from the repo"
        )
    return [folder / name for name in STYLE_FILES]
