"""Load the vision backends evaluation uses by name; a backend that cannot load is recorded with the reason."""

from __future__ import annotations

from tuitune.evaluate.metrics import Backends


def load_backends(
    detector: str | None = None,
    segmenter: str | None = None,
    embedder: str | None = None,
    detect_threshold: float = 0.25,
) -> Backends:
    """Backends for the names given; a missing or broken one becomes a sentence in ``Backends.missing``."""
    from tuitune.vision import registry

    backends = Backends(detect_threshold=detect_threshold)
    wanted = {"detector": detector, "segmenter": segmenter, "embedder": embedder}
    loaders = {
        "detector": registry.load_detector,
        "segmenter": registry.load_segmenter,
        "embedder": registry.load_embedder,
    }
    for kind, name in wanted.items():
        if not name:
            choices = ", ".join(registry.names()[kind])
            backends.missing[kind] = f"no {kind} is set; choose one with --{kind} ({choices})"
            continue
        try:
            setattr(backends, kind, loaders[kind](name))
        except Exception as exc:  # missing weights, missing package: the other metrics still run
            backends.missing[kind] = f"the {kind} {name!r} could not be loaded: {exc}"
    return backends
