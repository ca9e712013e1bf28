"""Input completion for file paths: suggests the first entry of the typed folder that starts with the rest."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from textual.suggester import Suggester

from tuitune.ui.project_view import IMAGE_SUFFIXES


class PathSuggester(Suggester):
    """``relative_to`` gives the folder a relative path starts from (e.g. the open project, where the screen
    will look for the file), not the folder the app was started in."""

    def __init__(self, folders_only: bool = False, images_only: bool = False,
                 relative_to: Callable[[], Path] | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.folders_only = folders_only
        self.images_only = images_only
        self.relative_to = relative_to

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        folder, _, prefix = expanded.rpartition("/")
        if expanded.startswith("/"):
            base = Path(folder or "/")
        else:
            start = self.relative_to() if self.relative_to is not None else Path(".")
            base = start / folder if folder else start
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
