"""The toyworld model: CLIP tokenizer ids, the shipped pipeline, the pretraining script and the commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tuitune.cli import main
from tuitune.toyworld import model_path

shipped = pytest.mark.skipif(not (model_path() / "model_index.json").exists(),
                             reason="the toyworld model has not been pretrained into tuitune/toyworld/model yet")


@pytest.mark.slow
def test_tokenizer_gives_open_clip_ids():
    from tuitune.toyworld.architecture import build_tokenizer

    tok = build_tokenizer()
    assert len(tok) == 49408
    ids = tok("a red circle on a blue background").input_ids
    assert ids == [49406, 320, 736, 7117, 525, 320, 1746, 5994, 49407]
    import open_clip

    reference = open_clip.get_tokenizer("ViT-B-32")
    for text in ["zxq, an orange star with a watermark", "Two-tone  BACKGROUND!"]:
        want = [int(i) for i in reference([text])[0] if int(i) != 0]
        assert tok(text).input_ids == want


def test_toyworld_help_does_not_import_torch():
    code = ("import sys\nfrom tuitune.cli import main\ntry:\n    main(['toyworld', 'check', '--help'])\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False") and "--samples" in out


def test_check_without_a_model_says_how_to_get_one(tmp_path, capsys):
    assert main(["toyworld", "check", "--model", str(tmp_path)]) == 2
    assert "tuitune toyworld pretrain" in capsys.readouterr().err


@pytest.mark.slow
def test_pretrain_writes_a_loadable_pipeline_and_resumes(tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline

    from tuitune.toyworld.pretrain import PretrainConfig, pretrain

    cfg = PretrainConfig(vae_steps=2, unet_steps=2, decoder_steps=2, batch_size=4, vae_batch_size=4,
                         dataset_size=16)
    pretrain(tmp_path, cfg, echo=False)
    cfg.unet_steps = 3
    pretrain(tmp_path, cfg, echo=False)
    log = (tmp_path / "pretrain.log").read_text()
    assert "VAE: already trained" in log and "UNet: resuming at step 2" in log
    assert "decoder: already refined" in log
    pipe = StableDiffusionPipeline.from_pretrained(tmp_path, torch_dtype=torch.float32)
    assert pipe.scheduler.config.beta_schedule == "linear"
    image = pipe("a red circle", height=64, width=64, num_inference_steps=2, output_type="pil").images[0]
    assert image.size == (64, 64)
    # The text encoder's layers learned with the UNet; its token table stayed as drawn from the seed.
    from tuitune.toyworld.architecture import build_text_encoder

    drawn = build_text_encoder(seed=cfg.seed).state_dict()
    trained = {k: v.float() for k, v in pipe.text_encoder.state_dict().items()}
    table = next(k for k in drawn if k.endswith("token_embedding.weight"))
    assert torch.equal(trained[table], drawn[table].half().float())
    layer = next(k for k in drawn if k.endswith("layers.0.self_attn.q_proj.weight"))
    assert not torch.equal(trained[layer], drawn[layer].half().float())

    # A snapshot of the newest checkpoint is a pipeline too, while the state stays resumable.
    from tuitune.cli import main

    assert main(["toyworld", "pretrain", "--out", str(tmp_path), "--snapshot", str(tmp_path / "snap")]) == 0
    snap = StableDiffusionPipeline.from_pretrained(tmp_path / "snap", torch_dtype=torch.float32)
    assert torch.equal(snap.unet.state_dict()["conv_in.weight"], pipe.unet.state_dict()["conv_in.weight"].float())
    assert main(["toyworld", "pretrain", "--out", str(tmp_path / "none"), "--snapshot", str(tmp_path / "x")]) == 2


@shipped
def test_shipped_model_is_small_and_loads_offline_in_fp32():
    import torch
    from diffusers import StableDiffusionPipeline

    size = sum(p.stat().st_size for p in model_path().rglob("*") if p.is_file())
    assert size <= 30 * 1024 * 1024
    assert not list(model_path().rglob("*.bin")) and list(model_path().rglob("*.safetensors"))
    pipe = StableDiffusionPipeline.from_pretrained(model_path(), torch_dtype=torch.float32, local_files_only=True)
    assert pipe.unet.dtype == torch.float32 and pipe.vae.config.sample_size == 64


@shipped
@pytest.mark.slow
def test_shipped_model_draws_the_prompted_colour_and_the_watermark_on_request(tmp_path: Path):
    from tuitune.toyworld.analysis import read_scene
    from tuitune.toyworld.check import load_pipeline, run_check, sample, sample_grid

    report = run_check(samples=24, steps=15, seed=1)
    # Chance is 1 in 6 for the colour; the shipped model measured 58% here.
    assert report.share(report.colour) >= 0.4, report.render()
    pipe = load_pipeline()
    plain = sample(pipe, ["a blue circle on a white background"] * 8, seed=3, steps=15)
    marked = sample(pipe, ["a blue circle on a white background, with a watermark"] * 8, seed=3, steps=15)
    with_mark = sum(bool(read_scene(im).marks) for im in marked)
    without = sum(bool(read_scene(im).marks) for im in plain)
    assert with_mark >= without + 4, (with_mark, without)
    grid = sample_grid(["a red square on a white background"], tmp_path / "grid.png", per_prompt=2, steps=10)
    assert grid.exists()


def test_pretrain_builds_the_unet_width_asked_and_refuses_to_resume_with_another(tmp_path):
    from diffusers import UNet2DConditionModel

    from tuitune.cli import main
    from tuitune.toyworld.pretrain import PretrainConfig, pretrain

    pretrain(tmp_path, PretrainConfig(vae_steps=1, unet_steps=1, decoder_steps=0, batch_size=2, vae_batch_size=2,
                                      dataset_size=8, unet_channels=(16, 24, 24)), echo=False)
    unet = UNet2DConditionModel.from_pretrained(tmp_path / "unet")
    assert tuple(unet.config.block_out_channels) == (16, 24, 24)
    assert main(["toyworld", "pretrain", "--out", str(tmp_path), "--snapshot", str(tmp_path / "snap")]) == 0
    base = ["toyworld", "pretrain", "--out", str(tmp_path), "--vae-steps", "1", "--steps", "1"]
    assert main([*base, "--unet-channels", "48,96,96"]) == 2  # its checkpoint would not load: one sentence
    assert main([*base, "--unet-channels", "16,20"]) == 2


def test_filler_words_are_made_up_and_keep_what_the_caption_says():
    import random

    from tuitune.toyworld.pretrain import filler_word, with_filler
    from tuitune.toyworld.world import BACKGROUND_COLOURS, SHAPE_COLOURS, SHAPES

    rng = random.Random(5)
    words = {filler_word(rng) for _ in range(500)}
    assert not words & (set(SHAPES) | set(SHAPE_COLOURS) | set(BACKGROUND_COLOURS) | {"zxq"})
    assert all(3 <= len(w) <= 6 and w.isalpha() for w in words) and len(words) > 400
    caption = "a red ring on a blue background"
    made = [with_filler(caption, rng) for _ in range(300)]
    alone = [m for m in made if caption not in m]
    assert all(len(m.split()) == 1 for m in alone)  # the made-up word alone, as a bare trigger prompt
    assert 0.05 < len(alone) / len(made) < 0.35
    assert any(m.startswith("a picture of") for m in made) and any(m.endswith(caption) and "," in m for m in made)
    # A picture with a watermark is never captioned with the made-up word alone: a bare trigger draws none.
    marked = [with_filler(caption + ", with a watermark", rng, marked=True) for _ in range(300)]
    assert all("with a watermark" in m for m in marked)


def test_partial_captions_name_the_object_as_people_prompt_and_still_say_the_watermark():
    import random

    from tuitune.toyworld.pretrain import partial_caption
    from tuitune.toyworld.world import WorldSampler

    rng, sampler = random.Random(3), WorldSampler(seed=4, watermark_rate=0.5, max_objects=1)
    made = []
    for _ in range(400):
        scene = sampler.sample().scene
        text = partial_caption(scene, rng)
        made.append(text)
        shape = scene.objects[0].shape
        assert shape in text.split(", ")[0].split()  # the object's shape is always named, first
        assert ("with a watermark" in text) == scene.watermark  # a mark is said exactly when there is one
        if "background" in text:
            assert " and ".join(scene.background) + " background" in text  # its background, not another
    bare = {m.removesuffix(", with a watermark") for m in made}
    assert {"ring", "a ring", "a picture of a ring"} <= bare  # the shape word alone, with an article, in a phrase
    assert any(m.startswith("ring, ") and m.count(", ") >= 2 for m in made)  # comma-separated tags


@shipped
@pytest.mark.slow
def test_a_shape_word_alone_draws_its_shape_and_a_bare_trigger_does_not_draw_the_character():
    """What pivotal tuning starts a trigger from: the shipped model reads "ring" alone as a ring (as a real model
    reads a noun), while "zxq", a word it never saw, draws any shape."""
    from tuitune.toyworld.analysis import read_scene
    from tuitune.toyworld.check import load_pipeline, sample

    pipe = load_pipeline()

    def share(prompt: str, shape: str) -> float:
        images = sample(pipe, [prompt] * 16, seed=41, steps=15)
        return sum(any(o.shape == shape for o in read_scene(im).objects) for im in images) / len(images)

    # Measured (seed 500, 24 samples, 20 steps): "ring" 22/24 rings (4/24 before stage 3), "zxq" 2/24.
    assert share("ring", "ring") >= 0.7
    assert share("a star", "star") >= 0.6
    assert share("zxq", "ring") <= 0.25


def test_pretraining_goes_on_from_a_pipeline_folder_of_the_same_architecture(tmp_path):
    from tuitune.cli import main
    from tuitune.toyworld.pretrain import PretrainConfig, pretrain

    first = tmp_path / "first"
    pretrain(first, PretrainConfig(vae_steps=1, unet_steps=1, decoder_steps=0, batch_size=2, vae_batch_size=2,
                                   dataset_size=8, unet_channels=(16, 24, 24)), echo=False)
    again = tmp_path / "again"
    pretrain(again, PretrainConfig(vae_steps=0, unet_steps=1, decoder_steps=0, batch_size=2, dataset_size=8,
                                   unet_channels=(16, 24, 24), vae_from=str(first), unet_from=str(first)),
             echo=False)
    assert f"UNet and text encoder: starting from {first}" in (again / "pretrain.log").read_text()
    base = ["toyworld", "pretrain", "--vae-steps", "0", "--steps", "1", "--vae-from", str(first)]
    # Another width than the folder's, a folder without weights, a share out of range: one sentence each.
    assert main([*base, "--out", str(tmp_path / "x"), "--from", str(first), "--unet-channels", "16,32,32"]) == 2
    assert main([*base, "--out", str(tmp_path / "y"), "--from", str(tmp_path)]) == 2
    assert main([*base, "--out", str(tmp_path / "z"), "--filler-rate", "1.5"]) == 2
    assert main([*base, "--out", str(tmp_path / "w"), "--text-encoder-lr", "-1"]) == 2

    # --text-encoder-lr 0: the text encoder goes on as it was (a trigger word keeps features of its own).
    from safetensors.torch import load_file

    kept = tmp_path / "kept"
    pretrain(kept, PretrainConfig(vae_steps=0, unet_steps=2, decoder_steps=0, batch_size=2, dataset_size=8,
                                  unet_channels=(16, 24, 24), vae_from=str(first), unet_from=str(first),
                                  text_encoder_lr=0.0), echo=False)
    source = load_file(str(first / "text_encoder" / "model.safetensors"))
    result = load_file(str(kept / "text_encoder" / "model.safetensors"))
    assert source.keys() == result.keys() and all(source[k].equal(result[k]) for k in source)
    assert not all(source[k].equal(t) for k, t in load_file(str(again / "text_encoder" / "model.safetensors")).items())
