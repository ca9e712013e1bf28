"""UI settings: the ``[ui]`` table of ``project.toml`` overridden by ``TUITUNE_*`` environment variables."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

ImageProtocol = Literal["auto", "kitty", "sixel", "halfcell", "unicode"]


class UiSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # "auto" asks the terminal; force one when a multiplexer hides what the terminal can do.
    image_protocol: ImageProtocol = "auto"
    min_width: int = 60
    min_height: int = 16
    poll_seconds: float = 1.0


def load_settings(project_root: Path | None) -> tuple[UiSettings, str | None]:
    """Settings plus a warning sentence when the project's ``[ui]`` table was unusable."""
    data: dict = {}
    warning = None
    if project_root is not None:
        try:
            table = tomllib.loads((project_root / "project.toml").read_text(encoding="utf-8")).get("ui", {})
            data.update(table if isinstance(table, dict) else {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            warning = f"project.toml could not be read ({exc}); using default UI settings."
    env = os.environ.get("TUITUNE_IMAGE_PROTOCOL")
    if env:
        data["image_protocol"] = env.strip().lower()
    try:
        return UiSettings.model_validate(data), warning
    except ValidationError:
        return UiSettings(), (
            "image_protocol must be one of auto, kitty, sixel, halfcell, unicode; using auto."
        )
