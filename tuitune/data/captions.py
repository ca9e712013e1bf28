"""Read caption files whatever their encoding: UTF-8 (with or without BOM), UTF-16 with BOM, then cp1252/latin-1."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

CAPTION_EXTENSIONS = (".txt", ".caption")


@dataclass
class Caption:
    text: str
    encoding: str
    warning: str | None = None


def decode_caption(data: bytes, name: str = "caption") -> Caption:
    if data.startswith(codecs.BOM_UTF8):
        return Caption(_clean(data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace")), "utf-8-sig")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return Caption(_clean(data.decode("utf-16")), "utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return Caption(_clean(data.decode("utf-8")), "utf-8")
    except UnicodeDecodeError:
        pass
    # Neither UTF-8 nor a BOM: an old Windows editor is the usual source, so cp1252 first, latin-1 always works.
    for encoding in ("cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return Caption(
            _clean(text),
            encoding,
            f"{name} is not UTF-8; read it as {encoding} — check the accents and save it as UTF-8.",
        )
    raise AssertionError("latin-1 decodes every byte string")


def read_caption(path: Path) -> Caption:
    return decode_caption(path.read_bytes(), path.name)


def find_caption(image_path: Path) -> Path | None:
    for ext in CAPTION_EXTENSIONS:
        candidate = image_path.with_suffix(ext)
        if candidate.is_file():
            return candidate
    return None


def _clean(text: str) -> str:
    # Captions are one line for every trainer we know of; newlines inside become ", ".
    parts = [line.strip() for line in text.replace("\x00", "").splitlines()]
    return ", ".join(part for part in parts if part)
