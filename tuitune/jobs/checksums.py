"""A checkpoint folder's checksums: ``checksums.json`` lists every file's size and sha256 when it is sealed, so
damage since then (a full disk, a killed copy, a flipped byte) is found before a resume trusts it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHECKSUMS = "checksums.json"  # inside each checkpoint: relative path -> bytes and sha256 of every file


def _listed_files(folder: Path, skip: set[str]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in skip | {CHECKSUMS})


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(folder: Path, skip: set[str]) -> None:
    """Write ``CHECKSUMS`` for every file under ``folder`` but those named in ``skip`` (markers)."""
    files = {
        p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
        for p in _listed_files(folder, skip)
    }
    with open(folder / CHECKSUMS, "w", encoding="utf-8") as fh:
        json.dump({"files": files}, fh, indent=1, sort_keys=True)


def checksum_problem(folder: Path, full: bool) -> str | None:
    """What is wrong with ``folder`` against its ``CHECKSUMS`` in a few words (sizes; every byte when ``full``),
    None when all match or it has no checksums (written before checkpoints carried them)."""
    try:
        raw = (folder / CHECKSUMS).read_bytes()
    except FileNotFoundError:
        return None  # written before checkpoints carried checksums
    except OSError as exc:
        return f"its {CHECKSUMS} cannot be read: {exc.strerror or exc}"
    try:
        files = json.loads(raw.decode("utf-8"))["files"]
        entries = [(str(name), int(entry["bytes"]), str(entry["sha256"])) for name, entry in files.items()]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return f"its {CHECKSUMS} is not readable"
    for name, size, _ in entries:
        path = folder / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            return f"its {CHECKSUMS} names {name!r:.60}, outside the checkpoint"
        try:
            actual = path.stat().st_size
        except OSError:
            return f"{name} is missing"
        if actual != size:
            return f"{name} has {actual:,} bytes where its checksum was taken over {size:,}"
    if full:
        for name, _, digest in entries:
            try:
                if file_sha256(folder / name) != digest:
                    return f"{name} does not match its checksum"
            except OSError as exc:
                return f"{name} cannot be read: {exc.strerror or exc}"
    return None
