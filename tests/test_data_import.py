"""Importing folders: every kind of bad input gets a clear outcome and nothing is half written."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuitune.data.captions import decode_caption
from tuitune.data.dataset import Dataset
from tuitune.data.importer import import_folder, iter_import


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width``x``height`` without the pixels: enough to test refusal before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _save(path: Path, image: Image.Image, fmt: str, **kw: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt, **kw)


def _gradient(w: int = 40, h: int = 24, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "RGB")


def test_bad_inputs_each_get_a_clear_outcome(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _save(src / "good.png", _gradient(), "PNG")
    full = io.BytesIO()
    _gradient(seed=1).save(full, "JPEG")
    (src / "truncated.jpg").write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    (src / "empty.png").write_bytes(b"")
    (src / "huge.png").write_bytes(_png_header_only(20000, 20000))
    (src / "notes.jpg").write_text("this is not a picture")
    _save(src / "cmyk.jpg", _gradient(seed=2).convert("CMYK"), "JPEG")
    grey16 = Image.fromarray((np.linspace(0, 65535, 40 * 24).reshape(24, 40)).astype(np.uint16))
    _save(src / "deep.png", grey16, "PNG")
    _save(src / "palette.png", _gradient(seed=3).convert("P"), "PNG")
    frames = [Image.new("RGB", (20, 20), c) for c in ("red", "blue", "green")]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:])
    # EXIF orientation 6 = stored sideways, shown rotated 90 degrees clockwise.
    exif = Image.Exif()
    exif[0x0112] = 6
    _save(src / "rotated.jpg", _gradient(40, 20, seed=4), "JPEG", exif=exif)
    _save(src / "copy_of_good.png", _gradient(), "PNG")  # same pixels as good.png
    outside = tmp_path / "outside.png"
    _save(outside, _gradient(seed=5), "PNG")
    (src / "link.png").symlink_to(outside)

    report = import_folder(src, tmp_path / "ds")
    stems = {item.stem: item for item in report.items}
    assert set(stems) == {"copy_of_good", "cmyk", "deep", "palette", "anim", "rotated"}
    reasons = {s.path: s.reason for s in report.skipped}
    assert "empty" in reasons["empty.png"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "20000x20000" in reasons["huge.png"] and "--max-pixels" in reasons["huge.png"]
    assert "not a picture" in reasons["notes.jpg"]
    assert "outside" in reasons["link.png"]
    assert report.duplicates == [("good.png", "copy_of_good")]  # files are taken in name order

    ds = Dataset(tmp_path / "ds")
    for item in ds.items():
        with Image.open(ds.image_path(item)) as im:
            assert im.mode == "RGB"
            assert im.size == (item.width, item.height)
    assert (stems["rotated"].width, stems["rotated"].height) == (20, 40)
    deep = np.asarray(Image.open(ds.image_path(stems["deep"])))
    assert deep.max() >= 250 and deep.min() <= 5  # the 16-bit range survives, not clipped to black/white
    assert any("first frame" in n for n in stems["anim"].notes)
    with Image.open(ds.image_path(stems["anim"])) as im:
        assert im.getpixel((5, 5))[0] > 200  # the first (red) frame
    assert not list((tmp_path / "ds").rglob("*.tmp"))  # no half-written file is left behind
    assert len(list(ds.thumbs_dir.glob("*.jpg"))) == 6


def test_kohya_folder_repeats_and_captions_in_any_encoding(tmp_path: Path) -> None:
    src = tmp_path / "train"
    _save(src / "10_zxq cat" / "a.png", _gradient(seed=1), "PNG")
    (src / "10_zxq cat" / "a.txt").write_bytes("zxq, café au lait".encode("utf-16"))
    _save(src / "3_style" / "b.jpg", _gradient(seed=2), "JPEG")
    (src / "3_style" / "b.caption").write_bytes("naïve art".encode("cp1252"))
    _save(src / "3_style" / "a.png", _gradient(seed=3), "PNG")  # same name as in the other folder
    (src / "3_style" / "a.txt").write_bytes(b"\xef\xbb\xbfbom caption\nsecond line")

    report = import_folder(src, tmp_path / "ds")
    by_source = {item.source: item for item in report.items}
    a1, b, a2 = by_source["10_zxq cat/a.png"], by_source["3_style/b.jpg"], by_source["3_style/a.png"]
    assert (a1.repeats, a1.group, a1.caption) == (10, "zxq cat", "zxq, café au lait")
    assert (b.repeats, b.group, b.caption) == (3, "style", "naïve art")
    assert a2.caption == "bom caption, second line"
    assert a1.stem != a2.stem
    assert any("cp1252" in w and "b.caption" in w for w in report.warnings)
    # Re-importing the same folder adds nothing: every picture is a duplicate of what is there.
    again = import_folder(src, tmp_path / "ds")
    assert len(again.items) == 3 and len(again.duplicates) == 3


def test_caption_encodings() -> None:
    assert decode_caption("ü".encode("utf-16-be").join([b"\xfe\xff", b""])).text == "ü"
    assert decode_caption("déjà".encode()).warning is None
    latin = decode_caption("déjà".encode("latin-1"))
    assert latin.text == "déjà" and latin.warning


@pytest.mark.slow
def test_ten_thousand_files_stream_progress_and_keep_what_was_done(tmp_path: Path) -> None:
    src = tmp_path / "many"
    src.mkdir()
    for i in range(10_000):
        buf = io.BytesIO()
        Image.new("RGB", (4, 4), (i % 256, (i // 256) % 256, 7)).save(buf, "PNG")
        (src / f"img{i:05d}.png").write_bytes(buf.getvalue())
    start = time.perf_counter()
    events = iter_import(src, tmp_path / "ds", make_thumbnails=False)
    first = next(events)
    assert time.perf_counter() - start < 2.0  # progress starts at once, not after a scan of everything
    assert first.done == 1
    for event in events:
        if event.done == 300:
            break
    events.close()  # the user cancelled: the 300 imported so far are recorded
    assert len(Dataset(tmp_path / "ds").items()) == 300
