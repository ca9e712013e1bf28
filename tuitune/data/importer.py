"""Import a folder of pictures (plain or kohya-style ``N_name/``) into a dataset: verify, dedupe, record.

``iter_import`` is a generator of progress events so a 10,000-image folder never freezes its caller; the
items found so far are saved every few hundred files and when the caller stops early.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tuitune import atomic
from tuitune.data import thumbnails
from tuitune.data.captions import find_caption, read_caption
from tuitune.data.dataset import Dataset, DatasetItem
from tuitune.data.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, ImageRejected, decode

KOHYA_FOLDER = re.compile(r"^(\d+)_(.+)$")
SAVE_EVERY = 250


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class ImportReport:
    items: list[DatasetItem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, stem it duplicates)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImportProgress:
    done: int  # files looked at so far
    path: str  # the file just handled
    report: ImportReport


def iter_import(
    source: str | os.PathLike[str],
    dataset_dir: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    make_thumbnails: bool = True,
    default_repeats: int = 1,
) -> Iterator[ImportProgress]:
    """Import every picture under ``source`` into ``dataset_dir``; yields after each file."""
    root = Path(source).expanduser()
    if not root.is_dir():
        from tuitune.cli import UserError

        raise UserError(f"{root} is not a folder; give the folder that holds your pictures.")
    root = root.resolve()
    dataset = Dataset(Path(dataset_dir))
    report = ImportReport()
    existing = dataset.items()
    by_hash = {item.hash: item.stem for item in existing}
    used_stems = {item.stem for item in existing}
    report.items = list(existing)
    first_new = len(report.items)
    done = 0
    try:
        for path, rel, group, repeats in _walk(root, report, default_repeats):
            done += 1
            _import_one(path, rel, group, repeats, dataset, report, by_hash, used_stems, max_pixels, make_thumbnails)
            if done % SAVE_EVERY == 0:
                _add_items(dataset, report.items[first_new:])
            yield ImportProgress(done=done, path=rel, report=report)
    finally:
        # Also runs when the caller closes the generator early: what was imported is recorded, never lost.
        saved = _add_items(dataset, report.items[first_new:])
        _record_in_project(dataset, saved)


def import_folder(
    source: str | os.PathLike[str],
    dataset_dir: str | os.PathLike[str],
    progress: Callable[[ImportProgress], None] | None = None,
    **options: object,
) -> ImportReport:
    report = ImportReport()
    for event in iter_import(source, dataset_dir, **options):  # type: ignore[arg-type]
        report = event.report
        if progress is not None:
            progress(event)
    if not report.items and not report.skipped:
        report = ImportReport(items=Dataset(Path(dataset_dir)).items())
    return report


def _walk(root: Path, report: ImportReport, default_repeats: int) -> Iterator[tuple[Path, str, str, int]]:
    """Image files under ``root`` in a stable order, lazily; symlinks leading outside are skipped."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        for name in list(dirnames):
            if name.startswith("."):
                dirnames.remove(name)
                continue
            sub = here / name
            if sub.is_symlink():
                target = sub.resolve()
                if not target.is_relative_to(root):
                    report.skipped.append(Skipped(_rel(sub, root), f"symlinked folder leads outside ({target})"))
        rel_dir = here.relative_to(root)
        group, repeats = "", default_repeats
        if rel_dir.parts:
            match = KOHYA_FOLDER.match(rel_dir.parts[0])
            if match:
                repeats, group = max(1, int(match.group(1))), match.group(2)
            else:
                group = rel_dir.parts[0]
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            rel = _rel(path, root)
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    report.skipped.append(Skipped(rel, f"symlink leads outside the folder ({target})"))
                    continue
            yield path, rel, group, repeats


def _import_one(
    path: Path,
    rel: str,
    group: str,
    repeats: int,
    dataset: Dataset,
    report: ImportReport,
    by_hash: dict[str, str],
    used_stems: set[str],
    max_pixels: int,
    make_thumbnails: bool,
) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.skipped.append(Skipped(rel, f"cannot be read ({exc.strerror or exc})"))
        return
    try:
        decoded = decode(data, rel, max_pixels)
    except ImageRejected as exc:
        report.skipped.append(Skipped(rel, str(exc)))
        return
    if decoded.pixel_hash in by_hash:
        report.duplicates.append((rel, by_hash[decoded.pixel_hash]))
        return
    stem = _unique_stem(path, rel, used_stems)
    if decoded.passthrough:
        ext = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}[decoded.format]
        payload = data
    else:
        ext, buf = ".png", io.BytesIO()
        decoded.image.save(buf, "PNG")
        payload = buf.getvalue()
    target = dataset.images_dir / f"{stem}{ext}"
    atomic.write_bytes(target, payload)
    caption_text = ""
    caption_file = find_caption(path)
    if caption_file is not None:
        try:
            caption = read_caption(caption_file)
        except OSError as exc:
            report.warnings.append(f"{_rel(caption_file, path.parent)}: caption unreadable ({exc}); left empty.")
        else:
            caption_text = caption.text
            if caption.warning:
                report.warnings.append(caption.warning)
    if make_thumbnails:
        thumb = dataset.thumbs_dir / f"{decoded.pixel_hash[:20]}.jpg"
        if not thumb.exists():
            thumbnails.save(thumbnails.shrink(decoded.image), thumb)
    for note in decoded.notes:
        report.warnings.append(f"{rel}: {note}")
    item = DatasetItem(
        stem=stem,
        path=target.relative_to(dataset.root).as_posix(),
        caption=caption_text,
        repeats=repeats,
        width=decoded.image.width,
        height=decoded.image.height,
        hash=decoded.pixel_hash,
        source=rel,
        group=group,
        notes=list(decoded.notes),
    )
    used_stems.add(stem)
    by_hash[decoded.pixel_hash] = stem
    report.items.append(item)


def _unique_stem(path: Path, rel: str, used: set[str]) -> str:
    base = re.sub(r"[^\w.-]+", "_", path.stem).strip("._") or "image"
    if base not in used:
        return base
    # Same name in two folders: prefix the folder so the stem still reads as where it came from.
    parent = re.sub(r"[^\w.-]+", "_", Path(rel).parent.as_posix()).strip("._")
    candidate = f"{parent}_{base}" if parent else base
    n = 2
    while candidate in used:
        candidate = f"{parent}_{base}_{n}" if parent else f"{base}_{n}"
        n += 1
    return candidate


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _add_items(dataset: Dataset, imported: list[DatasetItem]) -> list[DatasetItem]:
    """Add what this import made to dataset.json as it is now (captions edited meanwhile stay as edited)."""

    def add(current: list[DatasetItem]) -> list[DatasetItem]:
        have = {item.stem for item in current}
        return current + [item for item in imported if item.stem not in have]

    return dataset.update_items(add)


def _record_in_project(dataset: Dataset, items: list[DatasetItem]) -> None:
    """Mirror the items into the project database when the dataset folder is a tuitune project."""
    from tuitune.data import project_link

    project_link.record_items(dataset.root, items)
