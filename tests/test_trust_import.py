"""What an import and a config-file training run make of a folder: masks trees, copies, special files, bad pictures,
and two imports at once into one project."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuitune.cli import main
from tuitune.data.dataset import Dataset
from tuitune.data.export import export
from tuitune.data.images import decode
from tuitune.data.importer import import_folder
from tuitune.project.project import Project
from tuitune.train.dataset import scan_folder

REPO = Path(__file__).resolve().parents[1]


def _noise(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "RGB")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width``x``height`` without the pixels (a 400 MP 'bomb' of a few bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def _mask(w: int, h: int, box: tuple[int, int, int, int], value: int = 255) -> Image.Image:
    arr = np.zeros((h, w), dtype=np.uint8)
    x0, y0, x1, y1 = box
    arr[y0:y1, x0:x1] = value
    return Image.fromarray(arr, "L")


def _run_with_timeout(work, fifo: Path, seconds: float = 20.0):
    """Run ``work`` in a thread; should it hang on ``fifo``, open the FIFO's other end to free it, and fail."""
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # a reader is waiting, so this opens
        os.close(fd)
        thread.join(10)
        pytest.fail(f"reading the folder hung on the FIFO {fifo.name}")
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]


# --- point 1: masks trees, copies, special files ----------------------------------------------------------
def test_a_masks_tree_becomes_the_pictures_masks_not_training_pictures(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "masks" / "p0").mkdir(parents=True)
    (src / "masks" / "p1").mkdir(parents=True)
    (src / "masks" / "ghost").mkdir(parents=True)
    _noise(40, 24, 0).save(src / "p0.png")
    _noise(40, 24, 1).save(src / "p1.png")
    (src / "p0.txt").write_text("zxq, a card")
    _mask(40, 24, (4, 4, 20, 20)).save(src / "masks" / "p0" / "card.png")
    _mask(20, 12, (2, 2, 10, 10), value=200).save(src / "masks" / "p1" / "card.png")  # half size, grey
    _mask(40, 24, (0, 0, 8, 8)).save(src / "masks" / "ghost" / "card.png")
    proj = tmp_path / "proj"
    Project.create(proj).close()

    report = import_folder(src, proj, make_thumbnails=False)

    assert sorted(item.stem for item in report.items) == ["p0", "p1"]  # no mask became a training picture
    assert report.masks == 2
    dataset = Dataset(proj)
    p0 = np.asarray(Image.open(dataset.mask_path("p0", "card")))
    assert np.array_equal(p0, np.asarray(_mask(40, 24, (4, 4, 20, 20))))
    p1 = np.asarray(Image.open(dataset.mask_path("p1", "card")))
    assert p1.shape == (24, 40) and set(np.unique(p1).tolist()) == {0, 255}  # resized to the picture, binary
    assert p1[5:19, 5:19].all() and not p1[22:, 30:].any()
    notes = " | ".join(report.warnings)
    assert "masks/p1/card.png is 20x12" in notes and "resized" in notes
    assert "masks/p1/card.png has grey values" in notes
    assert "masks/ghost/" in notes and "not imported" in notes
    index = dataset.masks_index()
    assert index["p0"]["card"]["source"] == "imported" and index["p0"]["card"]["path"] == "masks/p0/card.png"
    with Project.open(proj, readonly=True) as project:
        assert {(Path(m.image).stem, m.concept, m.source) for m in project.db.masks()} == {
            ("p0", "card", "imported"), ("p1", "card", "imported")}
    # And training sees them as masks: two pictures, each with its card mask.
    out = tmp_path / "export"
    export(proj, out)
    scan = scan_folder(out)
    assert {r.stem: sorted(r.masks) for r in scan.records} == {"p0": ["card"], "p1": ["card"]}


def test_pixel_identical_copies_keep_the_caption_and_the_report_names_what_was_dropped(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _noise(16, 16, 0).save(src / "a.png")  # no caption
    _noise(16, 16, 0).save(src / "b.png")
    (src / "b.txt").write_text("zxq, red card")
    _noise(16, 16, 1).save(src / "c.png")
    (src / "c.txt").write_text("zxq, blue card")
    _noise(16, 16, 1).save(src / "d.png")
    (src / "d.txt").write_text("blue card, on a table")

    report = import_folder(src, tmp_path / "ds", make_thumbnails=False)

    captions = {item.stem: item.caption for item in Dataset(tmp_path / "ds").items()}
    assert captions == {"a": "zxq, red card", "c": "zxq, blue card, on a table"}
    assert sorted(report.duplicates) == [("b.png", "a"), ("d.png", "c")]
    notes = " | ".join(report.warnings)
    assert "b.png has the same pixels as a.png and was dropped for it" in notes
    assert "d.png has the same pixels as c.png and was dropped for it" in notes and "merged" in notes
    # Importing again changes nothing: the merged captions are not merged twice.
    import_folder(src, tmp_path / "ds", make_thumbnails=False)
    assert {i.stem: i.caption for i in Dataset(tmp_path / "ds").items()} == captions


def test_a_fifo_named_like_a_picture_is_skipped_without_opening_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _noise(16, 16, 0).save(src / "good.png")
    fifo = src / "pipe.png"
    os.mkfifo(fifo)

    report = _run_with_timeout(lambda: import_folder(src, tmp_path / "ds", make_thumbnails=False), fifo)

    assert [item.stem for item in report.items] == ["good"]
    reasons = {s.path: s.reason for s in report.skipped}
    assert "FIFO" in reasons["pipe.png"] and "without opening" in reasons["pipe.png"]


# --- point 2: the config-file training path checks pictures as an import does ----------------------------
def test_a_plain_training_folder_gets_the_same_picture_check_as_an_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where upright copies go by default
    (tmp_path / "tmp").mkdir()
    folder = tmp_path / "data"
    folder.mkdir()
    _noise(16, 16, 0).save(folder / "good.png")
    (folder / "good.txt").write_bytes("zxq, café au lait".encode("latin-1"))
    (folder / "huge.png").write_bytes(_png_header_only(20000, 20000))  # 400 MP
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown turned 90 degrees clockwise
    _noise(40, 20, 1).save(folder / "rotated.jpg", "JPEG", exif=exif)
    (folder / "rotated.txt").write_text("zxq")
    outside = tmp_path / "secret.png"
    _noise(16, 16, 2).save(outside)
    (folder / "link.png").symlink_to(outside)
    fifo = folder / "pipe.png"
    os.mkfifo(fifo)

    scan = _run_with_timeout(lambda: scan_folder(folder), fifo)  # as `tuitune train CONFIG.toml` calls it

    records = {r.stem: r for r in scan.records}
    assert sorted(records) == ["good", "rotated"]
    reasons = {path.name: reason for path, reason in scan.skipped}
    assert "20000x20000" in reasons["huge.png"] and "400 MP" in reasons["huge.png"]
    assert "outside" in reasons["link.png"]
    assert "FIFO" in reasons["pipe.png"]
    assert records["good"].caption == "zxq, café au lait"
    assert any("good.txt" in w and "not UTF-8" in w for w in scan.warnings)
    rotated = records["rotated"]
    assert rotated.size == (20, 40)
    with Image.open(rotated.path) as im:  # what training reads is the upright picture
        assert im.size == (20, 40)
        upright = np.asarray(Image.open(folder / "rotated.jpg").transpose(Image.Transpose.ROTATE_270)).astype(int)
        assert np.abs(np.asarray(im.convert("RGB")).astype(int) - upright).mean() < 3
    assert rotated.path.is_relative_to(tmp_path / "tmp")
    assert records["good"].path == folder / "good.png"  # a clean picture trains from its own file


# --- point 4: two imports at once, and paths relative to the project ---------------------------------------
def _pictures(folder: Path, seed: int, count: int, shared: int) -> None:
    """``count`` 16x16 pictures p000...; the first ``shared`` have the same pixels in every folder."""
    folder.mkdir(parents=True)
    for i in range(count):
        colour_seed = 10_000 + i if i < shared else seed * 1000 + i
        _noise(16, 16, colour_seed).save(folder / f"p{i:03d}.png")
        (folder / f"p{i:03d}.txt").write_text(f"zxq, picture {i}")


def _import(source: Path, into: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "tuitune", "dataset", "import", str(source), "--into", into,
                             "--no-thumbnails"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _info(proj: Path, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "tuitune", "info", str(proj)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_imports_at_once_leave_the_files_and_the_database_agreeing(tmp_path: Path) -> None:
    # Same file names in both folders (other pixels), and five pictures both folders hold.
    _pictures(tmp_path / "one", seed=1, count=60, shared=5)
    _pictures(tmp_path / "two", seed=2, count=60, shared=5)
    proj = tmp_path / "proj"
    Project.create(proj).close()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    first = _import(tmp_path / "one", "proj", cwd=tmp_path)  # the project named relative to the current folder
    second = _import(tmp_path / "two", ".", cwd=proj)  # ... and from inside it
    outputs = [proc.communicate(timeout=300)[0] for proc in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs

    items = Dataset(proj).items()
    assert len(items) == 115  # 60 + 60, less the five both folders hold
    assert len({i.hash for i in items}) == 115 and len({i.stem for i in items}) == 115
    for item in items:  # each file holds the picture its item says
        assert decode((proj / item.path).read_bytes(), item.path).pixel_hash == item.hash
    assert sorted(p.name for p in (proj / "images").iterdir() if not p.name.startswith(".")) == \
        sorted(Path(i.path).name for i in items)  # and no file is left that no item names
    with Project.open(proj, readonly=True) as project:
        rows = {row.image: row for row in project.db.items()}
    assert set(rows) == {i.path for i in items}  # relative to the project, one row per item
    assert all(rows[i.path].caption == i.caption for i in items)
    assert " 115 images" in _info(proj, cwd=elsewhere)


def test_database_rows_are_relative_to_the_project_whatever_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(8):
        _noise(16, 16, i).save(src / f"p{i}.png")
    proj = tmp_path / "proj"
    Project.create(proj).close()
    # A row an earlier tuitune stored relative to the folder it ran in, for a picture it set aside.
    buf = io.BytesIO()
    _noise(16, 16, 0).save(buf, "PNG")
    stale_hash = decode(buf.getvalue(), "p0.png").pixel_hash
    with Project.open(proj) as project:
        project.db.upsert_item("proj/images/p0.png", caption="", split="test", meta={"hash": stale_hash})

    monkeypatch.chdir(tmp_path)
    assert main(["dataset", "import", "src", "--into", "proj", "--no-thumbnails"]) == 0
    monkeypatch.chdir(proj)
    assert main(["dataset", "import", str(src), "--into", ".", "--no-thumbnails"]) == 0

    with Project.open(proj, readonly=True) as project:
        rows = {row.image: row for row in project.db.items()}
    assert sorted(rows) == [f"images/p{i}.png" for i in range(8)]
    assert rows["images/p0.png"].split == "test"  # the old row's setting moved to the right row
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert " 8 images" in _info(proj, cwd=elsewhere)
