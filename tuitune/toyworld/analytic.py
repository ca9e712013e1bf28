"""Registry entry points for the toyworld's analytic backend (names "toyworld" / "analytic")."""

from __future__ import annotations

from typing import Any

from tuitune.toyworld.backend import AnalyticBackend


def _backend(options: dict[str, Any]) -> AnalyticBackend:
    aliases = options.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise TypeError("toyworld backend option 'aliases' must map words to toyworld words, e.g. {'zxq': 'ring'}")
    return AnalyticBackend(aliases={str(k): str(v) for k, v in aliases.items()})


def ToyworldDetector(**options: Any) -> AnalyticBackend:  # noqa: N802 - named like the class it stands for
    """Detector: text ("red circle", "watermark", "background") -> boxes, from pixel analysis."""
    return _backend(options)


def ToyworldSegmenter(**options: Any) -> AnalyticBackend:  # noqa: N802
    """Segmenter: box -> the mask of the object (or background) the box frames."""
    return _backend(options)


def ToyworldEmbedder(**options: Any) -> AnalyticBackend:  # noqa: N802
    """Embedder: picture, crop or text -> colour + shape + background + mark vector."""
    return _backend(options)
