"""Pivotal tuning: the trigger's token embeddings train with the LoRA, are saved and drawn with, and resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_pipelines import build_sd1, build_sdxl, config_dict, make_dataset

from tuitune.jobs.rundir import ControlRequest, RunDir
from tuitune.train.config import TrainConfig
from tuitune.train.errors import TrainError
from tuitune.train.loop import train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pivotal")
    return {"sd1": build_sd1(root / "sd1"), "sdxl": build_sdxl(root / "sdxl"),
            "images": make_dataset(root / "images", count=4)}


def _config(world, tmp: Path, model: str = "sd1", **sections) -> TrainConfig:
    sections.setdefault("lora", {}).setdefault("pivotal", ["sks"])
    return TrainConfig.from_dict(config_dict(world[model], world["images"], **sections), base_dir=tmp)


def _token_rows(model_dir: Path, word: str) -> list[torch.Tensor]:
    from diffusers import DiffusionPipeline

    from tuitune.train.pivotal import pipeline_encoders, word_token_ids

    pipe = DiffusionPipeline.from_pretrained(str(model_dir))
    rows = []
    for tokenizer, encoder in zip(*pipeline_encoders(pipe), strict=True):
        rows.append(encoder.get_input_embeddings().weight.detach()[word_token_ids(tokenizer, word)].clone())
    return rows


@pytest.mark.parametrize("model", ["sd1", "sdxl"])
def test_trigger_embeddings_train_and_land_beside_the_lora_and_in_the_kohya_file(world, tmp_path, model):
    config = _config(world, tmp_path, model, train={"steps": 6, "lr": 2e-2})
    assert train(config, tmp_path / "run").state == "finished"
    run = tmp_path / "run"
    embeddings = load_file(str(run / "lora_embeddings.safetensors"))
    encoders = ["text_encoder", "text_encoder_2"] if model == "sdxl" else ["text_encoder"]
    assert sorted(embeddings) == [f"{e}.sks" for e in encoders]
    for encoder, before in zip(encoders, _token_rows(world[model], "sks"), strict=True):
        assert embeddings[f"{encoder}.sks"].shape == before.shape
        assert (embeddings[f"{encoder}.sks"] - before).abs().max() > 1e-3  # the vectors moved
    kohya = load_file(str(run / "lora_kohya.safetensors"))
    bundled = ["bundle_emb.sks.clip_l", "bundle_emb.sks.clip_g"] if model == "sdxl" else ["bundle_emb.sks.string_to_param.*"]
    assert all(k in kohya for k in bundled)
    assert torch.equal(kohya[bundled[0]], embeddings["text_encoder.sks"])
    # The checkpoint of the last step carries the same embeddings as the final LoRA.
    at_end = load_file(str(RunDir(run).checkpoint_dir(6) / "lora_embeddings.safetensors"))
    assert all(torch.equal(at_end[k], embeddings[k]) for k in embeddings)


def test_a_generator_draws_with_the_trained_vectors_and_gives_the_base_its_own_back(world, tmp_path):
    from tuitune.generate.pair import load_generator
    from tuitune.generate.params import GenerationParams
    from tuitune.train.pivotal import pipeline_encoders

    config = _config(world, tmp_path, train={"steps": 6, "lr": 5e-2})
    assert train(config, tmp_path / "run").state == "finished"
    generator = load_generator(str(world["sd1"]), device="cpu")
    table = pipeline_encoders(generator.pipe)[1][0].get_input_embeddings().weight
    original = table.detach().clone()
    params = GenerationParams(prompt="a photo of sks square", seed=3, steps=2, guidance=1.0, width=32, height=32)
    before = generator.draw(params)
    generator.load_lora(tmp_path / "run", "run")
    tuned = generator.draw(params, "run")
    trained = load_file(str(tmp_path / "run" / "lora_embeddings.safetensors"))["text_encoder.sks"]
    ids = generator.pipe.tokenizer("sks", add_special_tokens=False).input_ids
    assert torch.allclose(table.detach()[ids], trained)  # drawn with the trained rows
    after = generator.draw(params)
    assert torch.equal(table.detach(), original)  # every row the base's own again
    assert list(before.getdata()) == list(after.getdata())
    assert list(tuned.getdata()) != list(before.getdata())
    generator.unload_lora("run")
    assert torch.equal(table.detach(), original)
    # The kohya file carries the same vectors bundled, and draws the same picture.
    generator.load_lora(tmp_path / "run" / "lora_kohya.safetensors", "kohya")
    assert list(generator.draw(params, "kohya").getdata()) == list(tuned.getdata())


def test_a_stopped_run_with_pivotal_embeddings_resumes_to_the_same_vectors(world, tmp_path):
    config = _config(world, tmp_path, train={"steps": 6, "lr": 2e-2})
    assert train(config, tmp_path / "straight").state == "finished"
    rd = RunDir(tmp_path / "cut").create()

    def on_step(step, total, row):
        if step == 3:
            rd.request(ControlRequest.STOP)

    assert train(config, rd, on_step=on_step).state == "stopped"
    assert train(config, rd, resume=True).state == "finished"
    a = load_file(str(tmp_path / "straight" / "lora_embeddings.safetensors"))
    b = load_file(str(rd.path / "lora_embeddings.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    la, lb = load_file(str(tmp_path / "straight" / "lora.safetensors")), load_file(str(rd.lora_path))
    assert all(torch.equal(la[k], lb[k]) for k in la)


def test_a_pivotal_word_the_tokenizer_cannot_take_is_refused_before_training(world, tmp_path):
    config = _config(world, tmp_path, lora={"pivotal": [" sks"]})
    with pytest.raises(TrainError, match="pivotal word"):
        train(config, tmp_path / "run")


def test_pivotal_init_starts_the_trigger_at_the_words_it_means_and_the_rest_from_their_own_rows(world):
    from tuitune.train.base_model import load_base
    from tuitune.train.pivotal import PivotalEmbeddings, word_token_ids

    base = load_base(str(world["sdxl"]))
    pivotal = PivotalEmbeddings(["sks", "ohwx"], base.tokenizers, base.text_encoders, {"sks": "a square"})
    for e, (tokenizer, encoder) in enumerate(zip(base.tokenizers, base.text_encoders, strict=True)):
        table = encoder.get_input_embeddings().weight.detach()
        start = table[word_token_ids(tokenizer, "a square")].float().mean(dim=0)
        ours = pivotal.rows[e].detach()
        for token in word_token_ids(tokenizer, "sks"):
            assert torch.allclose(ours[pivotal._ids[e].index(token)], start)
        for token in word_token_ids(tokenizer, "ohwx"):  # not named: its own row, as loaded
            assert torch.equal(ours[pivotal._ids[e].index(token)], table[token].float())
        assert not torch.allclose(start, table[word_token_ids(tokenizer, "sks")[0]].float())


def test_pivotal_init_for_a_word_not_trained_or_with_no_words_is_refused_in_one_sentence(world, tmp_path):
    with pytest.raises(TrainError, match="pivotal_init names 'ohwx', which pivotal does not list"):
        _config(world, tmp_path, lora={"pivotal": ["sks"], "pivotal_init": {"ohwx": "a square"}})
    config = _config(world, tmp_path, lora={"pivotal": ["sks"], "pivotal_init": {"sks": "  "}})
    with pytest.raises(TrainError, match="holds no word to start from"):
        train(config, tmp_path / "run")

