"""The fix request both front doors build: a box is checked against the picture before anything is queued."""

from __future__ import annotations

import pytest

from tuitune.errors import UserError
from tuitune.fix.box import Box
from tuitune.fix.config import FixConfig
from tuitune.fix.request import FixRequest, submit


def test_a_box_reaching_past_the_picture_is_refused_with_one_sentence_and_nothing_is_queued(tmp_path):
    request = FixRequest(prompts=["a red circle"], mask=Box(40, 40, 72, 64).spec, resolution=64)
    with pytest.raises(UserError) as caught:
        submit(tmp_path / "runs", request)
    said = str(caught.value)
    assert said == "The box 40,40 → 71,63 reaches past the 64×64 picture; keep it inside 0..63."
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("mask", "said"), [
    ("box:10,10,10,20", "is empty or negative"),
    ("box:1,2,3", "must be four whole numbers"),
])
def test_an_empty_or_unreadable_box_is_one_sentence(mask, said):
    with pytest.raises(UserError, match=said):
        FixRequest(prompts=["a red circle"], mask=mask).table()


def test_settings_left_out_take_the_fix_defaults_and_alpha_follows_the_rank():
    assert FixRequest(prompts=["p"]).table() == FixConfig(prompts=["p"]).to_table()
    table = FixRequest(prompts=["p"], rank=8, seeds=[7], eval_seeds=[7]).table()
    assert (table["rank"], table["alpha"], table["seeds"], table["eval_seeds"]) == (8, 8.0, [7], [7])


def test_the_box_moves_and_grows_by_grid_cells_and_stays_inside_the_picture():
    box = Box.centred(64)
    assert box.label(64) == "box 24,24 → 39,39 of 64×64"
    assert box.moved(10, 0, 64) == Box(48, 24, 64, 40)  # stops at the right edge
    assert box.moved(-1, -5, 64) == Box(16, 0, 32, 16)
    assert box.resized(1, 0, 64) == Box(24, 24, 48, 40)
    assert box.resized(-5, -5, 64) == Box(24, 24, 32, 32)  # never smaller than one cell
    assert Box(56, 56, 64, 64).resized(1, 1, 64) == Box(56, 56, 64, 64)
