"""The intent -> loss contract: each [loss.concepts] entry names its mask file; mismatches stop the run at start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.tiny_pipelines import build_sd1, config_dict, make_dataset
from tuitune.data.dataset import concept_filename
from tuitune.data.loss_plan import loss_table
from tuitune.intent.spec import Concept, IntentSpec
from tuitune.train.config import LossSection, TrainConfig
from tuitune.train.errors import TrainError
from tuitune.train.loss import check_masks, pixel_maps


def _spec(*names: str) -> IntentSpec:
    return IntentSpec(trigger_words=["zxq"], concepts=[
        Concept(name="ring", granularity="instance", operation="keep"),
        *[Concept(name=n, granularity="instance", operation="delete") for n in names]])


@pytest.mark.parametrize("name", ["logo: corner", "ÿ ü x", "logo*?<corner>", "  tag  | mark "])
def test_a_delete_concept_with_an_awkward_name_trains_at_weight_zero_in_its_region(name: str) -> None:
    spec = _spec(name)
    section = LossSection.model_validate(loss_table(spec))
    region = np.zeros((8, 8), bool)
    region[:2, :2] = True
    ring = np.zeros((8, 8), bool)
    ring[4:, 4:] = True
    # The files the exporter writes: masks/<stem>/<concept_filename(name)>.png
    masks = {concept_filename(spec.concepts[1].name): region, "ring": ring}
    check_masks({stem: ["p0.png"] for stem in masks}, section)
    weight, preserve = pixel_maps(masks, section, (8, 8))
    assert (weight[region] == 0.0).all() and (preserve[region] == 1.0).all()
    assert (weight[ring] == 1.0).all()


def test_a_mask_file_with_no_entry_and_an_entry_with_no_mask_are_one_sentence_each() -> None:
    section = LossSection.model_validate(loss_table(_spec("watermark")))
    with pytest.raises(TrainError, match=r"mask file logo\.png \(picture p3\.png\) belongs to no \[loss\.concepts\] entry"):
        check_masks({"ring": ["p0.png"], "watermark": ["p0.png"], "logo": ["p3.png"]}, section)
    with pytest.raises(TrainError, match=r"'watermark' is to be deleted but no picture has its mask "
                                         r"\(masks/<picture>/watermark\.png\), so it would be learned"):
        check_masks({"ring": ["p0.png"]}, section)
    # A keep concept without a mask anywhere trains with the rest of the picture, and the run says so.
    warnings = check_masks({"watermark": ["p0.png"]}, section)
    assert warnings == ["[loss.concepts] 'ring' has no mask in any picture (masks/<picture>/ring.png); "
                        "it trains with the rest of the picture."]
    # Without [loss.concepts] masks are plain weight masks, as kohya's masked loss reads them.
    check_masks({"anything": ["p0.png"]}, LossSection())


def test_two_entries_naming_one_mask_file_are_refused() -> None:
    section = LossSection.model_validate({"concepts": {"logo: corner": {"weight": 0.0},
                                                       "logo_ corner": {"weight": 1.0}}})
    with pytest.raises(TrainError, match="both use the mask file logo_ corner.png"):
        check_masks({"logo_ corner": ["p0.png"]}, section)


def test_old_dont_care_marker_is_read_as_the_flag_and_small_weights_are_real_weights() -> None:
    old = Concept.model_validate({"name": "sky", "granularity": "imagery", "operation": "modify",
                                  "loss_weight": 0.1, "preserve": 1.0})
    assert old.dont_care and old.loss_weight is None
    small = Concept(name="hat", granularity="instance", operation="modify", loss_weight=0.05, preserve=1.0)
    assert not small.dont_care
    assert loss_table(IntentSpec(trigger_words=["zxq"], concepts=[small]))["concepts"]["hat"]["weight"] == 0.05


@pytest.mark.slow
def test_training_with_a_mask_that_has_no_entry_stops_at_start_naming_the_file(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    torch.set_num_threads(1)
    model = build_sd1(tmp_path / "sd1")
    images = make_dataset(tmp_path / "images", count=2, with_masks=True)
    extra = np.zeros((32, 32), np.uint8)
    extra[20:, 20:] = 255
    Image.fromarray(extra).save(images / "masks" / "img1" / "logo.png")
    loss = {"preservation": 1.0, "concepts": {"watermark": {"weight": 0.0, "preserve": 1.0}}}
    config = TrainConfig.from_dict(config_dict(model, images, loss=loss, train={"steps": 2}), base_dir=tmp_path)
    from tuitune.train import base_model
    from tuitune.train.loop import train

    def no_load(*args, **kwargs):
        raise AssertionError("the base model was loaded before the loss contract was checked")

    # The contract is checked before the base model loads (seconds on a real model, not minutes).
    monkeypatch.setattr(base_model, "load_base", no_load)
    with pytest.raises(TrainError) as caught:
        train(config, tmp_path / "run")
    assert "mask file logo.png (picture img1.png) belongs to no [loss.concepts] entry" in str(caught.value)
    assert not list((tmp_path / "run").glob("checkpoints/*")) and not (tmp_path / "run" / "lora.safetensors").exists()


def test_two_concepts_that_would_share_a_mask_file_are_refused_in_the_spec() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="would share the mask file logo_ corner.png"):
        _spec("logo: corner", "logo_ corner")


def test_latents_next_to_a_deleted_thing_learn_nothing_and_are_held_to_the_base_model():
    """A watermark covering a few pixels of a 64x64 picture: every latent cell it touches, and the cells around
    them (the VAE's encoder sees past its own cell), get W = 0 and P = 1; cells farther away keep W = 1, and a
    region that is merely not learned (W 0, P 0: a masked loss's outside) keeps its plain average."""
    import numpy as np

    from tuitune.train.loss import latent_maps, to_latent

    weight = np.ones((64, 64), np.float32)
    preserve = np.zeros((64, 64), np.float32)
    weight[50:54, 50:53], preserve[50:54, 50:53] = 0.0, 1.0  # over latent cells 12..13 (4 px each)
    w, p = latent_maps(weight, preserve, (64, 64), (0, 0), (64, 64), (16, 16))
    assert float(w[0, 11:15, 11:15].max()) == 0.0 and float(p[0, 11:15, 11:15].min()) == 1.0
    assert float(w[0, :10].min()) == 1.0 and float(p[0, :10].max()) == 0.0
    plain = to_latent(weight, (64, 64), (0, 0), (64, 64), (16, 16))[0]
    assert 0.0 < float(plain[12, 12]) < 1.0  # an area average alone still learns part of the mark there
    outside = np.zeros((64, 64), np.float32)
    outside[20:40, 20:40] = 1.0  # masked loss: learn only the character, nothing held
    w, _ = latent_maps(outside, np.zeros_like(outside), (64, 64), (0, 0), (64, 64), (16, 16))
    assert torch.equal(w, to_latent(outside, (64, 64), (0, 0), (64, 64), (16, 16)))
