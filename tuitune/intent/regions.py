"""Reference regions: numbered boxes [1], [2]... on reference images that intent text can point at."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuitune.intent.errors import IntentError
from tuitune.vision.protocols import Box, Detector

_REF = re.compile(r"^(?P<image>.+?):(?P<box>-?[\d.]+(?:\s*,\s*-?[\d.]+){3})$")


@dataclass(frozen=True)
class Region:
    """One numbered box on one reference image; ``label`` is what it shows when known."""

    number: int
    image: str
    box: Box
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Region:
        return cls(int(data["number"]), str(data["image"]), tuple(data["box"]), str(data.get("label", "")))


def parse_ref(text: str, number: int, check_file: bool = True) -> Region:
    """``IMG:x0,y0,x1,y1`` -> Region ``number``; a bad box or missing image is a one-sentence error."""
    match = _REF.match(text.strip())
    if not match:
        raise IntentError(f"Cannot read reference {text!r}; write it as IMAGE:x0,y0,x1,y1 (pixels).")
    image = match["image"]
    x0, y0, x1, y1 = (float(v) for v in match["box"].split(","))
    if x1 <= x0 or y1 <= y0 or min(x0, y0) < 0:
        raise IntentError(f"Box {match['box']} in {text!r} is empty or negative; give x0,y0,x1,y1 with x1>x0, y1>y0.")
    if check_file:
        path = Path(image)
        if not path.is_file():
            raise IntentError(f"Reference image {image} does not exist; check the path.")
        from PIL import Image

        with Image.open(path) as img:
            width, height = img.size
        if x0 >= width or y0 >= height:
            raise IntentError(f"Box {match['box']} lies outside {image} ({width}x{height}); check the numbers.")
        x1, y1 = min(x1, width), min(y1, height)
    return Region(number, image, (x0, y0, x1, y1))


def parse_refs(texts: list[str], start: int = 1, check_file: bool = True) -> list[Region]:
    return [parse_ref(t, start + i, check_file) for i, t in enumerate(texts)]


def propose(image: str, names: list[str], detector: Detector, start: int = 1, min_score: float = 0.0) -> list[Region]:
    """Ask a detector for each name on ``image``; its best box per name becomes the next numbered region."""
    from PIL import Image

    regions: list[Region] = []
    with Image.open(image) as img:
        rgb = img.convert("RGB")
    for name in names:
        found = [d for d in detector.detect(rgb, name) if d.score >= min_score]
        if found:
            regions.append(Region(start + len(regions), image, found[0].box, name))
    return regions


def describe(regions: list[Region]) -> str:
    """Lines like ``[1] face.png box (10, 10, 40, 40) "face"`` for prompts and tables."""
    lines = []
    for r in regions:
        box = ", ".join(f"{v:g}" for v in r.box)
        label = f' "{r.label}"' if r.label else ""
        lines.append(f"[{r.number}] {Path(r.image).name} box ({box}){label}")
    return "\n".join(lines)
