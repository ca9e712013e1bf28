"""Input completion for file paths: suggests the first entry of the typed folder that starts with the rest."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester

from tuitune.ui.project_view import IMAGE_SUFFIXES


class PathSuggester(Suggester):
    def __init__(self, folders_only: bool = False, images_only: bool = False) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.folders_only = folders_only
        self.images_only = images_only

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        folder, _, prefix = expanded.rpartition("/")
        base = Path(folder or "/") if expanded.startswith("/") else Path(folder or ".")
        try:
            names = sorted(os.listdir(base))
        except OSError:
            return None
        for name in names:
            if not name.startswith(prefix) or name == prefix or name.startswith("."):
                continue
            full = base / name
            is_dir = full.is_dir()
            if self.folders_only and not is_dir:
                continue
            if self.images_only and not is_dir and full.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            # Keep what the user typed (e.g. "~/") and append only the completion.
            return value + name[len(prefix):] + ("/" if is_dir else "")
        return None
