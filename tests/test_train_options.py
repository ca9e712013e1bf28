"""Training options on tiny models: text-encoder LoRA export, mixed precision, 8-bit AdamW fallback, buckets."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from tiny_pipelines import build_sd1, build_sdxl, config_dict, make_dataset

from tuitune.jobs.rundir import RunDir
from tuitune.train.config import TrainConfig
from tuitune.train.errors import TrainError
from tuitune.train.loop import train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("options")
    return {"sd1": build_sd1(root / "sd1"), "sdxl": build_sdxl(root / "sdxl"),
            "images": make_dataset(root / "images", count=4)}


def _config(world, tmp: Path, model: str = "sd1", **sections) -> TrainConfig:
    return TrainConfig.from_dict(config_dict(world[model], world["images"], **sections), base_dir=tmp)


def _prompt_embeds(model_dir: Path, lora: Path | None) -> torch.Tensor:
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(model_dir))
    if lora is not None:
        pipe.load_lora_weights(str(lora))
    with torch.no_grad():
        return pipe.encode_prompt("a photo of sks square", device="cpu", num_images_per_prompt=1,
                                  do_classifier_free_guidance=False)[0]


@pytest.mark.parametrize("model", ["sd1", "sdxl"])
def test_text_encoder_lora_trains_and_both_exports_load_back(world, tmp_path, model):
    config = _config(world, tmp_path, model, lora={"text_encoder": True}, train={"steps": 6, "lr": 2e-2})
    assert train(config, tmp_path / "run").state == "finished"
    run = tmp_path / "run"
    ours, kohya = load_file(str(run / "lora.safetensors")), load_file(str(run / "lora_kohya.safetensors"))
    encoders = ["text_encoder", "text_encoder_2"] if model == "sdxl" else ["text_encoder"]
    kohya_names = ["lora_te1", "lora_te2"] if model == "sdxl" else ["lora_te"]
    for encoder, kohya_name in zip(encoders, kohya_names, strict=True):
        assert f"{encoder}.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight" in ours
        assert f"{kohya_name}_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight" in kohya
    assert not any(k.startswith("lora_te1_") for k in kohya) or model == "sdxl"

    base = _prompt_embeds(world[model], None)
    from_ours = _prompt_embeds(world[model], run / "lora.safetensors")
    from_kohya = _prompt_embeds(world[model], run / "lora_kohya.safetensors")
    halves = [slice(0, 32), slice(32, 64)] if model == "sdxl" else [slice(None)]
    for part in halves:  # each text encoder's share of the conditioning moved
        assert (from_ours[..., part] - base[..., part]).abs().mean() > 1e-3
    assert torch.allclose(from_ours, from_kohya, atol=1e-5)


def test_text_encoder_lora_refused_by_transformers_fails_at_start_in_one_sentence(world, tmp_path, monkeypatch):
    """transformers 5.24 asked for a peft that did not exist yet: the run says so before training, no traceback."""
    from importlib.metadata import version

    from transformers.integrations import peft as hf_peft

    monkeypatch.setattr(hf_peft, "MIN_PEFT_VERSION", "99.0.0")
    config = _config(world, tmp_path, lora={"text_encoder": True}, train={"steps": 2})
    with pytest.raises(TrainError) as caught:
        train(config, tmp_path / "run")
    message = str(caught.value)
    assert f"transformers {version('transformers')} needs peft >= 99.0.0" in message
    assert f"peft {version('peft')}" in message and "text_encoder = false" in message
    assert "\n" not in message
    assert not list((tmp_path / "run").glob("checkpoints/*"))


def test_bf16_mixed_precision_trains_on_cpu(world, tmp_path):
    runs = {}
    for precision in ("no", "bf16"):
        config = _config(world, tmp_path, train={"steps": 4, "mixed_precision": precision})
        assert train(config, tmp_path / precision).state == "finished"
        runs[precision] = [m["loss"] for m in RunDir(tmp_path / precision).read_metrics()]
    assert all(math.isfinite(loss) for loss in runs["bf16"])
    # Same seed and data: only bf16 arithmetic can make the numbers differ, so autocast really ran.
    assert runs["bf16"] != runs["no"]
    assert max(abs(a - b) for a, b in zip(runs["bf16"], runs["no"], strict=True)) < 0.05


def test_fp16_on_cpu_is_refused_in_one_sentence(world, tmp_path):
    config = _config(world, tmp_path, train={"mixed_precision": "fp16"})
    with pytest.raises(TrainError, match="fp16 mixed precision needs a CUDA GPU") as info:
        train(config, tmp_path / "run")
    assert "bf16" in str(info.value)
    assert RunDir(tmp_path / "run").read_status()["state"] == "failed"


def test_adamw8bit_without_bitsandbytes_warns_once_and_uses_adamw(world, tmp_path, caplog, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "bitsandbytes" else real(name, *a))
    config = _config(world, tmp_path, train={"steps": 2, "optimizer": "adamw8bit"})
    with caplog.at_level(logging.WARNING, logger="tuitune.train.hardware"):
        assert train(config, tmp_path / "run").state == "finished"
    warnings = [r.getMessage() for r in caplog.records if "adamw8bit" in r.getMessage()]
    assert len(warnings) == 1 and "bitsandbytes is not installed" in warnings[0] and "plain AdamW" in warnings[0]
    events = [e for e in RunDir(tmp_path / "run").read_events() if e["kind"] == "warning"]
    assert [e["message"] for e in events] == warnings


def _aspect_images(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, size in {"wide0": (48, 24), "wide1": (50, 25), "tall0": (24, 48), "tall1": (25, 50),
                       "square0": (32, 32), "square1": (40, 40)}.items():
        rng = np.random.default_rng(len(name) + size[0])
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{name}.png")
        (folder / f"{name}.txt").write_text("a photo of sks square", encoding="utf-8")
    return folder


def test_aspect_ratios_get_their_own_buckets_and_batches_never_mix_sizes(world, tmp_path):
    from tuitune.train.base_model import load_base
    from tuitune.train.batches import BatchMaker
    from tuitune.train.dataset import BatchOrder, scan_folder

    images = _aspect_images(tmp_path / "images")
    config = TrainConfig.from_dict(config_dict(world["sd1"], images, train={"batch_size": 2}), base_dir=tmp_path)
    records = scan_folder(images).records
    maker = BatchMaker(config, load_base(world["sd1"]), records, torch.device("cpu"), torch.float32, True)
    bucket = {r.stem: b for r, b in zip(records, maker.buckets, strict=True)}
    wide, tall, square = bucket["wide0"], bucket["tall0"], bucket["square0"]
    assert wide[0] > wide[1] and tall[0] < tall[1] and square[0] == square[1]
    assert bucket["wide1"] == wide and bucket["tall1"] == tall and bucket["square1"] == square
    assert all(w * h <= 32 * 32 for w, h in maker.buckets)
    order = BatchOrder(maker.buckets, [1] * len(records), 2, seed=0)
    for epoch in range(4):
        batches = order.epoch(epoch)
        assert sorted(i for b in batches for i in b) == list(range(len(records)))
        for indices in batches:
            assert len({maker.buckets[i] for i in indices}) == 1
            latents = maker.make(indices, 0, epoch).latents
            w, h = maker.buckets[indices[0]]
            assert latents.shape == (len(indices), 4, h // 2, w // 2)  # the tiny VAE halves each side
    # Bucketing off: every image is cropped to the one square size.
    flat = TrainConfig.from_dict(config_dict(world["sd1"], images, data={"buckets": False}), base_dir=tmp_path)
    assert {b for b in BatchMaker(flat, maker.base, records, torch.device("cpu"), torch.float32, True).buckets} \
        == {(32, 32)}


def test_training_on_mixed_aspect_ratios_runs(world, tmp_path):
    images = _aspect_images(tmp_path / "images")
    config = TrainConfig.from_dict(config_dict(world["sd1"], images, train={"steps": 4, "batch_size": 2}),
                                   base_dir=tmp_path)
    assert train(config, tmp_path / "run").state == "finished"
    assert [m["step"] for m in RunDir(tmp_path / "run").read_metrics()] == [1, 2, 3, 4]
