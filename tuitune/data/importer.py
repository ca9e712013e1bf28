"""Import a folder of pictures (plain or kohya-style ``N_name/``) into a dataset: verify, dedupe, record.

``iter_import`` is a generator of progress events so a 10,000-image folder never freezes its caller; the
items found so far are saved every few hundred files and when the caller stops early.

``read_picture`` is the one check a picture passes on its way to training, here and in the config-file path
(``tuitune.train.dataset.scan_folder``): a regular file (a FIFO is refused without being opened), no link
leading outside the folder, within the pixel limit, decoded upright, and its caption read whatever its encoding.

A ``masks/<stem>/<concept>.png`` tree in the folder (at its top, or beside the pictures) holds those pictures'
masks: it is imported as their masks (resized to the picture, grey thresholded, each with a note), never as
pictures. Pixel-identical copies become one item: the copies' captions are merged into it and the report names
which file was dropped for which. Another import running at the same time into the same folder never
overwrites a file of this one; what both add reaches dataset.json and the project database alike.
"""

from __future__ import annotations

import io
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tuitune import atomic
from tuitune.data import thumbnails
from tuitune.data.captions import decode_caption, find_caption
from tuitune.data.dataset import Dataset, DatasetItem, MasksIndex
from tuitune.data.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, DecodedImage, ImageRejected, decode

KOHYA_FOLDER = re.compile(r"^(\d+)_(.+)$")
SAVE_EVERY = 250
MASKS_FOLDER = "masks"  # <folder>/masks/<stem>/<concept>.png: the masks of <folder>'s pictures
IMPORTED = "imported"  # masks.json entry "source" of a mask the user brought (detection leaves it alone)
MAX_PIXELS_HINT = "raise the limit with --max-pixels"


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class ImportReport:
    items: list[DatasetItem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path dropped, stem of the item kept)
    warnings: list[str] = field(default_factory=list)
    masks: int = 0  # mask files imported from masks/ trees


@dataclass
class ImportProgress:
    done: int  # files looked at so far
    path: str  # the file just handled
    report: ImportReport


# --- the picture check both paths use ------------------------------------------------------------------
@dataclass
class Picture:
    """A file that passed ``read_picture``: its bytes, the upright RGB picture, and its caption."""

    rel: str  # inside the folder it was read from
    data: bytes
    decoded: DecodedImage
    caption: str
    caption_file: Path | None
    caption_warnings: list[str] = field(default_factory=list)  # each names the caption file

    @property
    def warnings(self) -> list[str]:
        """What the user should be told about this picture and its caption, each naming its file."""
        return [*self.caption_warnings, *(f"{self.rel}: {note}" for note in self.decoded.notes)]


def read_picture(path: Path, root: Path, rel: str, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                 limit_hint: str | None = MAX_PIXELS_HINT) -> Picture:
    """Check and decode the picture ``path`` (``rel`` inside the resolved folder ``root``) and read its caption.

    Raises ``ImageRejected`` with the reason: not a regular file, a link leading outside ``root``, unreadable,
    above ``max_pixels`` (``limit_hint`` says how to raise it), or not a picture. A caption that is not UTF-8
    is read as cp1252/latin-1 with a warning; one that cannot be read, or leads outside, is left empty with one.
    """
    data = read_regular(path, root, rel, max_pixels, limit_hint)
    decoded = decode(data, rel, max_pixels)
    caption, caption_file, warnings = _caption_of(path, root)
    return Picture(rel=rel, data=data, decoded=decoded, caption=caption, caption_file=caption_file,
                   caption_warnings=warnings)


def read_regular(path: Path, root: Path, rel: str, max_pixels: int | None = None,
                 limit_hint: str | None = MAX_PIXELS_HINT) -> bytes:
    """The bytes of ``path`` when it is a regular file inside ``root``; a picture's size is checked against
    ``max_pixels`` from its header, before the rest is read. Raises ``ImageRejected`` with the reason."""
    try:
        target = path.resolve()
        if not target.is_relative_to(root):
            what = "symlink" if path.is_symlink() else "a link on its way"
            raise ImageRejected(f"{what} leads outside the folder ({target})")
        mode = path.stat().st_mode  # stat does not open: a FIFO or device is never waited on
    except OSError as exc:
        raise ImageRejected(f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise ImageRejected(f"is not a regular file ({_kind(mode)}); skipped without opening it")
    try:
        # O_NONBLOCK: should it have become a FIFO since the stat, opening it still does not wait.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ImageRejected(f"cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ImageRejected("is not a regular file; skipped without reading it")
        if max_pixels is not None:
            _check_pixels(fh, rel, max_pixels, limit_hint)
            fh.seek(0)
        try:
            return fh.read()
        except OSError as exc:
            raise ImageRejected(f"cannot be read ({exc.strerror or exc})") from None


def _check_pixels(fh: Any, rel: str, max_pixels: int, limit_hint: str | None) -> None:
    try:
        with Image.open(fh) as im:
            width, height = im.size
    except Exception:  # noqa: BLE001 - not a picture: decoding the bytes says which way, in its words
        return
    if width * height > max_pixels:
        how = f"downscale it first or {limit_hint}" if limit_hint else "downscale it first"
        raise ImageRejected(
            f"{rel} is {width}x{height} ({width * height / 1e6:.0f} MP), above the {max_pixels / 1e6:.0f} MP "
            f"limit; {how}."
        )


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a plain file"


def _caption_of(path: Path, root: Path) -> tuple[str, Path | None, list[str]]:
    caption_file = find_caption(path)
    if caption_file is None:
        return "", None, []
    rel = _rel(caption_file, root)
    try:
        data = read_regular(caption_file, root, rel)
    except ImageRejected as exc:
        return "", None, [f"{rel}: caption {exc}; left empty."]
    caption = decode_caption(data, rel)
    return caption.text, caption_file, [caption.warning] if caption.warning else []


# --- import -------------------------------------------------------------------------------------------
@dataclass
class _MaskSource:
    concept: str  # the file's name without .png
    path: Path
    rel: str


@dataclass
class _Run:
    """One import's state: what it added, the stems and pictures it knows, the masks still to write."""

    dataset: Dataset
    root: Path
    report: ImportReport
    max_pixels: int
    by_hash: dict[str, DatasetItem]
    used_stems: set[str]
    new: list[DatasetItem] = field(default_factory=list)
    pending_masks: dict[int, tuple[DatasetItem, list[_MaskSource]]] = field(default_factory=dict)  # id(item)
    caption_updates: dict[str, list[str]] = field(default_factory=dict)  # pixel hash -> [caption on file, merged]
    imported_masks: MasksIndex = field(default_factory=dict)
    mask_trees: set[Path] = field(default_factory=set)
    used_mask_dirs: set[Path] = field(default_factory=set)


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
        from tuitune.errors import UserError

        raise UserError(f"{root} is not a folder; give the folder that holds your pictures.")
    root = root.resolve()
    dataset = Dataset(Path(dataset_dir))
    report = ImportReport()
    existing = dataset.items()
    run = _Run(dataset, root, report, max_pixels, {item.hash: item for item in existing},
               {item.stem for item in existing})
    report.items = list(existing)
    done = 0
    finished = False
    try:
        for path, rel, group, repeats in _walk(root, run, default_repeats):
            done += 1
            _import_one(path, rel, group, repeats, run, make_thumbnails)
            if done % SAVE_EVERY == 0:
                _save(run)
            yield ImportProgress(done=done, path=rel, report=report)
        finished = True
    finally:
        # Also runs when the caller closes the generator early: what was imported is recorded, never lost.
        _save(run)
        if finished:
            _note_unused_masks(run)
        _record_in_project(run)


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


def _walk(root: Path, run: _Run, default_repeats: int) -> Iterator[tuple[Path, str, str, int]]:
    """Image files under ``root`` in a stable order, lazily; ``masks/`` trees are left for ``_masks_of``."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        for name in list(dirnames):
            if name.startswith("."):
                dirnames.remove(name)
                continue
            sub = here / name
            if name == MASKS_FOLDER:
                dirnames.remove(name)  # masks, not training pictures
                if sub.resolve().is_relative_to(root):
                    run.mask_trees.add(sub)
                else:
                    run.report.skipped.append(Skipped(_rel(sub, root), f"symlinked folder leads outside ({sub.resolve()})"))
                continue
            if sub.is_symlink():
                target = sub.resolve()
                if not target.is_relative_to(root):
                    run.report.skipped.append(Skipped(_rel(sub, root), f"symlinked folder leads outside ({target})"))
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
            yield path, _rel(path, root), group, repeats


def _import_one(path: Path, rel: str, group: str, repeats: int, run: _Run, make_thumbnails: bool) -> None:
    report, dataset = run.report, run.dataset
    try:
        picture = read_picture(path, run.root, rel, max_pixels=run.max_pixels)
    except ImageRejected as exc:
        report.skipped.append(Skipped(rel, str(exc)))
        return
    decoded = picture.decoded
    masks = _masks_of(path, run)
    kept = run.by_hash.get(decoded.pixel_hash)
    if kept is not None:
        _merge_duplicate(run, kept, rel, picture, masks)
        return
    report.warnings.extend(picture.warnings)
    if decoded.passthrough:
        ext = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}[decoded.format]
        payload = picture.data
    else:
        ext, buf = ".png", io.BytesIO()
        decoded.image.save(buf, "PNG")
        payload = buf.getvalue()
    stem, target = _claim(dataset.images_dir, _unique_stem(path, rel, run.used_stems), ext, path, rel, run.used_stems)
    atomic.write_bytes(target, payload)
    if make_thumbnails:
        thumb = dataset.thumbs_dir / f"{decoded.pixel_hash[:20]}.jpg"
        if not thumb.exists():
            thumbnails.save(thumbnails.shrink(decoded.image), thumb)
    item = DatasetItem(
        stem=stem,
        path=target.relative_to(dataset.root).as_posix(),
        caption=picture.caption,
        repeats=repeats,
        width=decoded.image.width,
        height=decoded.image.height,
        hash=decoded.pixel_hash,
        source=rel,
        group=group,
        notes=list(decoded.notes),
    )
    run.by_hash[decoded.pixel_hash] = item
    run.new.append(item)
    report.items.append(item)
    if masks:
        run.pending_masks[id(item)] = (item, masks)


def _merge_duplicate(run: _Run, kept: DatasetItem, rel: str, picture: Picture, masks: list[_MaskSource]) -> None:
    """``rel`` has the pixels of ``kept``: one item stays, with both copies' captions and masks."""
    run.report.duplicates.append((rel, kept.stem))
    merged = merge_captions(kept.caption, picture.caption)
    if merged != kept.caption:
        what = "its caption" if not kept.caption else "both captions, merged"
        run.report.warnings.append(f"{rel} has the same pixels as {kept.source or kept.stem} and was dropped for it; "
                                   f"{kept.stem} keeps {what}.")
        run.report.warnings.extend(picture.caption_warnings)
        run.caption_updates.setdefault(kept.hash, [kept.caption, merged])[1] = merged
        kept.caption = merged
    if masks:
        have = run.pending_masks.get(id(kept), (kept, []))[1]
        names = {m.concept for m in have}
        run.pending_masks[id(kept)] = (kept, [*have, *(m for m in masks if m.concept not in names)])


def merge_captions(kept: str, other: str) -> str:
    """One caption for two copies of a picture: the kept one's tags, then the other's it lacks."""
    if not other or other == kept:
        return kept
    if not kept:
        return other
    tags = [t.strip() for t in kept.split(",") if t.strip()]
    seen = {t.casefold() for t in tags}
    tags += [t.strip() for t in other.split(",") if t.strip() and t.strip().casefold() not in seen]
    return ", ".join(tags)


def _claim(folder: Path, stem: str, ext: str, path: Path, rel: str, used: set[str]) -> tuple[str, Path]:
    """A file name in ``folder`` no one else has: created empty here (O_EXCL), so an import running at the
    same time never writes over it; its content then replaces it atomically. The picture's own file (a
    project's ``images/`` imported into it) is its own name."""
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        target = folder / f"{stem}{ext}"
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            if stem not in used and _same_file(target, path):
                used.add(stem)
                return stem, target
            used.add(stem)
            stem = _unique_stem(path, rel, used)
            continue
        used.add(stem)
        return stem, target


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


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


# --- saving -------------------------------------------------------------------------------------------
def _save(run: _Run) -> None:
    """Add what this import made to dataset.json as it is now, then write the masks of what was added."""
    dropped: list[tuple[DatasetItem, DatasetItem]] = []  # (ours, the other import's copy of the picture)

    def add(current: list[DatasetItem]) -> list[DatasetItem]:
        # Captions edited meanwhile (the app) stay as edited: a merged caption lands only on the one it merged.
        for stored in current:
            update = run.caption_updates.get(stored.hash)
            if update is not None and stored.caption == update[0]:
                stored.caption = update[1]
        by_stem = {item.stem: item for item in current}
        by_hash = {item.hash: item for item in current if item.hash}
        added: list[DatasetItem] = []
        for item in run.new:
            there = by_stem.get(item.stem)
            if there is not None and there.hash == item.hash and there.path == item.path:
                continue  # saved before
            other = by_hash.get(item.hash)
            if other is not None:  # another import running at the same time added this picture first
                other.caption = merge_captions(other.caption, item.caption)
                dropped.append((item, other))
                continue
            if there is not None:  # ... or took this stem for another picture (same name, other extension)
                _restem(run, item, set(by_stem))
            by_stem[item.stem] = by_hash[item.hash] = item
            added.append(item)
        return current + added

    run.dataset.update_items(add)
    run.caption_updates.clear()
    for item, other in dropped:
        (run.dataset.root / item.path).unlink(missing_ok=True)  # ours: _claim made it
        run.new.remove(item)
        run.report.items.remove(item)
        run.report.duplicates.append((item.source, other.stem))
        run.by_hash[item.hash] = other
        pending = run.pending_masks.pop(id(item), None)
        if pending is not None:
            run.pending_masks[id(other)] = (other, pending[1])
    _write_pending_masks(run)


def _restem(run: _Run, item: DatasetItem, taken: set[str]) -> None:
    old, named, used = run.dataset.root / item.path, Path(item.source or item.stem), run.used_stems | taken
    stem, target = _claim(old.parent, _unique_stem(named, item.source, used), old.suffix, named, item.source, used)
    os.replace(old, target)
    run.used_stems.add(stem)
    item.stem, item.path = stem, target.relative_to(run.dataset.root).as_posix()


# --- masks ----------------------------------------------------------------------------------------------
def _masks_of(path: Path, run: _Run) -> list[_MaskSource]:
    """The mask files of the picture ``path``: ``masks/<stem>/`` beside it, else at the folder's top."""
    for tree in (path.parent / MASKS_FOLDER, run.root / MASKS_FOLDER):
        if tree not in run.mask_trees:
            continue
        folder = tree / path.stem
        if not folder.is_dir() or folder in run.used_mask_dirs:
            continue
        run.used_mask_dirs.add(folder)
        return [_MaskSource(p.stem, p, _rel(p, run.root)) for p in sorted(folder.iterdir())
                if p.suffix.lower() == ".png" and not p.name.startswith(".")]
    return []


def _write_pending_masks(run: _Run) -> None:
    """Masks of items whose stems are settled: written under ``masks/<stem>/`` and indexed in masks.json."""
    from tuitune.errors import UserError
    from tuitune.paths import safe_stem

    made: MasksIndex = {}
    for item, sources in run.pending_masks.values():
        for source in sources:
            try:
                concept = safe_stem(source.concept, f"The mask file {source.rel}")
                target = run.dataset.mask_path(item.stem, concept)
            except UserError as exc:
                run.report.warnings.append(str(exc))
                continue
            if target.exists():
                run.report.warnings.append(f"{source.rel}: {item.stem} already has a {concept!r} mask; kept that one.")
                continue
            mask = _read_mask(source, run, (item.width, item.height), item.source or item.stem)
            if mask is None:
                continue
            buf = io.BytesIO()
            Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L").save(buf, "PNG")
            atomic.write_bytes(target, buf.getvalue())
            run.report.masks += 1
            made.setdefault(item.stem, {})[concept] = {
                "path": target.relative_to(run.dataset.root).as_posix(), "instances": [], "source": IMPORTED,
            }
    run.pending_masks.clear()
    if not made:
        return

    def add(index: MasksIndex) -> MasksIndex:
        for stem, entries in made.items():
            for concept, entry in entries.items():
                index.setdefault(stem, {}).setdefault(concept, entry)
        return index

    run.dataset.update_masks_index(add)
    for stem, entries in made.items():
        run.imported_masks.setdefault(stem, {}).update(entries)


def _read_mask(source: _MaskSource, run: _Run, size: tuple[int, int], picture: str) -> np.ndarray | None:
    """The mask as booleans at the picture's ``size`` (width, height); white = the concept."""
    try:
        data = read_regular(source.path, run.root, source.rel, run.max_pixels)
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            grey = ImageOps.exif_transpose(im).convert("L")
    except ImageRejected as exc:
        run.report.skipped.append(Skipped(source.rel, str(exc)))
        return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        run.report.skipped.append(Skipped(source.rel, "is not a mask picture Pillow can read; re-save it as PNG"))
        return None
    values = np.unique(np.asarray(grey))
    if not set(values.tolist()) <= {0, 255}:
        run.report.warnings.append(f"{source.rel} has grey values; read with white (128 and up) as the concept.")
    if grey.size != size:
        run.report.warnings.append(f"{source.rel} is {grey.width}x{grey.height} but {picture} is {size[0]}x{size[1]}; "
                                   "resized to the picture.")
        grey = grey.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(grey) >= 128


def _note_unused_masks(run: _Run) -> None:
    for tree in sorted(run.mask_trees):
        for folder in sorted(p for p in tree.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if folder not in run.used_mask_dirs:
                run.report.warnings.append(f"{_rel(folder, run.root)}/: no picture named {folder.name!r} beside it, "
                                           "so its masks were not imported.")


def _record_in_project(run: _Run) -> None:
    """Bring the project database in line with dataset.json when the dataset folder is a tuitune project."""
    from tuitune.data import project_link

    note = project_link.sync_items(run.dataset.root, run.imported_masks)
    if note:
        run.report.warnings.append(note)
