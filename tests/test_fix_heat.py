"""Fix mode's heatmap: where the embedded critic finds a toyworld picture wrong, as a region and a grid box."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from tuitune.errors import UserError
from tuitune.fix.box import Box
from tuitune.fix.heat import HEAT_FILE, REGION_FILE, heat_report
from tuitune.toyworld.world import Scene, ShapeSpec, render, watermark_box


@pytest.mark.parametrize(("shape", "colour", "background"), [
    ("ring", "red", "white"), ("square", "blue", "green"), ("star", "yellow", "black"), ("circle", "green", "red"),
])
def test_a_watermark_is_found_and_boxed_and_a_clean_picture_has_no_box(tmp_path, shape, colour, background):
    for watermark in (True, False):
        scene = Scene(objects=(ShapeSpec(shape, colour, 27, 29, 13),), background=(background,), watermark=watermark)
        picture = tmp_path / f"{watermark}.png"
        render(scene).image.save(picture)
        report = heat_report(picture, tmp_path / str(watermark), "toyworld-critic")
        with Image.open(tmp_path / str(watermark) / REGION_FILE) as region:
            marked = sum(1 for v in region.getdata() if v > 127)
        assert (tmp_path / str(watermark) / HEAT_FILE).is_file() and report["pixels"] == marked
        if watermark:
            x0, y0, x1, y1 = watermark_box()
            box = Box(*report["box"])
            assert box.x0 <= x0 and box.y0 <= y0 and box.x1 >= x1 and box.y1 >= y1
            assert (box.x1 - box.x0) * (box.y1 - box.y0) <= 64 * 64 // 4  # the mark's corner, not the picture
        else:
            assert report["box"] is None and report["pixels"] == 0 and report["peak"] < report["threshold"]


def test_a_region_becomes_the_grid_box_that_holds_it():
    assert Box.around(49, 56, 61, 61, 64) == Box(48, 56, 64, 64)
    assert Box.around(0, 0, 1, 1, 64) == Box(0, 0, 8, 8)
    with pytest.raises(ValueError):
        Box.around(10, 10, 10, 20, 64)


def test_an_unreadable_picture_is_one_sentence_from_the_function_and_from_the_process(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(UserError, match="cannot be read"):
        heat_report(broken, tmp_path / "out", "toyworld-critic")
    done = subprocess.run([sys.executable, "-m", "tuitune.fix.heat", str(broken), str(tmp_path / "out"),
                           "toyworld-critic"], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "cannot be read" in json.loads(done.stdout)["error"]
    usage = subprocess.run([sys.executable, "-m", "tuitune.fix.heat", str(broken)], capture_output=True, text=True,
                           check=False)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    assert not (tmp_path / "out" / REGION_FILE).exists()


def test_an_unknown_reward_is_refused_listing_the_ones_that_exist(tmp_path):
    picture = tmp_path / "p.png"
    Image.new("RGB", (64, 64), (200, 200, 200)).save(picture)
    with pytest.raises(UserError, match="toyworld-critic"):
        heat_report(picture, tmp_path / "out", "no-such-reward")
