"""Caption tag dropout: the trigger tags always stay, the rest drop per sample and step, reproducibly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_pipelines import build_sd1, config_dict, make_dataset

from tuitune.train.batches import BatchMaker, drop_tags, tag_generator
from tuitune.train.config import TrainConfig
from tuitune.train.errors import TrainError

torch.set_num_threads(1)
CAPTION = "zxq, red, on a yellow background, small, centred"


def _many(keep: int, p: float, seed: int = 0, micro: int = 0, n: int = 200) -> list[str]:
    rng = tag_generator(seed, micro)
    return [drop_tags(CAPTION, keep, p, rng) for _ in range(n)]


def test_the_trigger_is_always_kept_and_the_other_tags_sometimes_drop():
    captions = _many(keep=1, p=0.5)
    assert all(c.split(", ")[0] == "zxq" for c in captions)
    assert "zxq" in captions  # every description tag dropped at once happens
    assert CAPTION in captions  # and none dropped
    # Each description tag is left out about half the time, and what stays keeps its order.
    for tag in ("red", "on a yellow background", "small", "centred"):
        share = sum(tag in c.split(", ") for c in captions) / len(captions)
        assert 0.3 < share < 0.7, (tag, share)
    order = CAPTION.split(", ")
    for c in captions:
        tags = c.split(", ")
        assert tags == sorted(tags, key=order.index)


def test_dropout_one_leaves_only_the_kept_tokens():
    assert set(_many(keep=1, p=1.0, n=20)) == {"zxq"}
    assert set(_many(keep=2, p=1.0, n=20)) == {"zxq, red"}
    assert set(_many(keep=0, p=1.0, n=20)) == {""}


def test_dropout_zero_leaves_the_caption_untouched():
    odd = "zxq ,  red,,on a   yellow background "
    rng = tag_generator(0, 0)
    assert drop_tags(odd, 1, 0.0, rng) == odd
    assert set(_many(keep=1, p=0.0, n=10)) == {CAPTION}


def test_same_seed_and_step_give_the_same_captions_and_others_differ():
    assert _many(1, 0.5, seed=3, micro=9) == _many(1, 0.5, seed=3, micro=9)
    assert _many(1, 0.5, seed=3, micro=9) != _many(1, 0.5, seed=3, micro=10)
    assert _many(1, 0.5, seed=3, micro=9) != _many(1, 0.5, seed=4, micro=9)
    assert _many(1, 0.5, seed=-1, micro=0) == _many(1, 0.5, seed=-1, micro=0)  # negative seeds work too


def test_config_reads_the_options_and_names_a_bad_value():
    base = {"model": {"base": "x"}}
    config = TrainConfig.from_dict({**base, "data": {"keep_tokens": 2, "caption_tag_dropout": 0.25}})
    assert (config.data.keep_tokens, config.data.caption_tag_dropout) == (2, 0.25)
    assert (TrainConfig.from_dict(base).data.keep_tokens, TrainConfig.from_dict(base).data.caption_tag_dropout) \
        == (0, 0.0)
    with pytest.raises(TrainError, match="caption_tag_dropout"):
        TrainConfig.from_dict({**base, "data": {"caption_tag_dropout": 1.5}})
    with pytest.raises(TrainError, match="keep_tokens"):
        TrainConfig.from_dict({**base, "data": {"keep_tokens": -1}})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("captions")
    images = make_dataset(root / "images", count=4)
    for i, txt in enumerate(sorted(images.glob("*.txt"))):
        txt.write_text(f"sks, square number {i}, on a grey field, with a white corner", encoding="utf-8")
    return {"model": build_sd1(root / "sd1"), "images": images}


def _maker(tiny: dict[str, Path], tmp: Path, **data: object) -> BatchMaker:
    from tuitune.train.base_model import load_base
    from tuitune.train.dataset import scan_folder

    config = TrainConfig.from_dict(config_dict(tiny["model"], tiny["images"], data=data), base_dir=tmp)
    base = load_base(config.base_model, config.model.kind)
    records = scan_folder(config.data_folder).records
    return BatchMaker(config, base, records, torch.device("cpu"), torch.float32, cache_text=True)


def test_training_batches_drop_tags_per_step_reproducibly_and_keep_the_noise(tiny, tmp_path):
    plain = _maker(tiny, tmp_path)
    dropped = _maker(tiny, tmp_path, keep_tokens=1, caption_tag_dropout=0.5)
    indices = [0, 1, 2, 3]
    steps = [dropped.make(indices, seed=5, micro=m) for m in range(6)]
    captions = [c for b in steps for c in b.captions]
    assert all(c.startswith("sks") for c in captions)
    assert len(set(captions)) > 4  # the same four pictures get different captions on different steps
    assert any(len(c.split(", ")) < 4 for c in captions)  # some steps train on fewer tags
    # A resumed run rebuilds step 3 exactly; noise and timesteps do not depend on tag dropout.
    again = dropped.make(indices, seed=5, micro=3)
    assert again.captions == steps[3].captions
    assert torch.equal(again.embeds.hidden, steps[3].embeds.hidden)
    untouched = plain.make(indices, seed=5, micro=3)
    assert torch.equal(untouched.noise, steps[3].noise) and torch.equal(untouched.timesteps, steps[3].timesteps)
    assert untouched.captions == [r.caption for r in plain.records]


def _spec(trigger_words: list[str] | None = None):
    from tuitune.intent.rules import RuleParser

    spec = RuleParser().parse("zxq is my character: a ring. Keep its shape. Its colour can vary (red or blue). "
                              "Delete the watermark in the corner.", None, [])
    return spec.model_copy(update={"trigger_words": trigger_words}) if trigger_words else spec


@pytest.mark.parametrize("triggers", [["zxq"], ["zxq", "sks"]])
def test_an_optimised_caption_under_the_project_default_trains_the_trigger_alone_and_with_its_words(triggers):
    from tuitune.intent.captions import optimise
    from tuitune.train.project_run import intent_caption_options

    spec = _spec(triggers)
    caption = optimise("zxq, a red ring on a yellow background, with a watermark", spec)
    assert caption != " ".join(triggers)  # the optimiser still describes the colour and the background
    tags = caption.split(", ")[len(triggers):]
    options = intent_caption_options(spec)
    rng = tag_generator(0, 0)
    trained = [drop_tags(caption, options["keep_tokens"], options["caption_tag_dropout"], rng) for _ in range(400)]
    lead = ", ".join(triggers)
    assert all(t == lead or t.startswith(lead + ", ") for t in trained)  # the triggers always come first, whole
    alone = trained.count(lead) / len(trained)
    # Each tag after the triggers is dropped half the time: the trigger learns alone and beside its words.
    assert alone == pytest.approx(0.5 ** len(tags), abs=0.08), (alone, tags)
    assert caption in trained


def test_a_project_run_gets_tag_dropout_only_on_captions_from_its_intent(tmp_path):
    from tuitune.data.importer import import_folder
    from tuitune.train.project_run import INTENT_TAG_DROPOUT, job_config

    root = tmp_path / "proj"
    root.mkdir()
    config = {"model": {"base": "toyworld"}}
    spec = _spec()
    # No dataset yet: a run copies images/ with the user's own captions, which it leaves whole.
    assert job_config(root, config, spec)["data"]["caption_tag_dropout"] == 0.0
    import_folder(make_dataset(tmp_path / "pictures", count=2), root)
    data = job_config(root, config, spec)["data"]
    assert (data["keep_tokens"], data["caption_tag_dropout"]) == (1, INTENT_TAG_DROPOUT)
    assert job_config(root, config, None)["data"]["caption_tag_dropout"] == 0.0  # no intent, no optimised captions
    chosen = job_config(root, {**config, "data": {"caption_tag_dropout": 0.3}}, spec)["data"]
    assert chosen["caption_tag_dropout"] == 0.3  # the user's own setting wins


def test_partial_tag_dropout_does_not_grow_the_text_cache_step_after_step(tiny, tmp_path):
    dropped = _maker(tiny, tmp_path, keep_tokens=1, caption_tag_dropout=0.5)
    indices = list(range(len(dropped.records)))
    seen = {c for micro in range(12) for c in dropped.make(indices, seed=5, micro=micro).captions}
    # New tag mixes keep coming, but only captions that come back (the records' own, "") stay in memory.
    assert len(seen) > len(indices) + 1
    assert len(dropped.text_cache.memory) <= len(indices) + 1
    full = _maker(tiny, tmp_path, keep_tokens=1, caption_tag_dropout=1.0)
    full.make(indices, seed=5, micro=0)
    assert len(full.text_cache.memory) == 1  # the trigger-only caption, the same every step, is cached


def test_a_project_run_trains_the_trigger_from_what_the_intent_says_it_is_unless_told_otherwise(tmp_path):
    from tuitune.data.importer import import_folder
    from tuitune.train.project_run import job_config

    root = tmp_path / "proj"
    root.mkdir()
    import_folder(make_dataset(tmp_path / "pictures", count=2), root)
    config = {"model": {"base": "toyworld"}}
    lora = job_config(root, config, _spec())["lora"]
    assert (lora["pivotal"], lora["pivotal_init"]) == (["zxq"], {"zxq": "ring"})
    assert job_config(root, config, _spec(["sks", "zxq"]))["lora"]["pivotal_init"] == {"sks": "ring"}
    assert job_config(root, config, None)["lora"]["pivotal"] == []  # no intent: nothing to start it at
    # The user's own setting wins, even "off"; pivotal tuning trains on one process, so more turn it off.
    assert job_config(root, {**config, "lora": {"pivotal": []}}, _spec())["lora"]["pivotal"] == []
    two = job_config(root, {**config, "train": {"num_processes": 2}}, _spec())["lora"]
    assert (two["pivotal"], two["pivotal_init"]) == ([], {})
