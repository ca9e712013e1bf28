"""The fixed folder layout of a project, shared by the engine's Project and the UI's read-only view."""

from __future__ import annotations

from pathlib import Path


class ProjectFolders:
    """Mixin: the project's folders under ``self.root``."""

    root: Path

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def masks_dir(self) -> Path:
        return self.root / "masks"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def generations_dir(self) -> Path:
        return self.root / "generations"
