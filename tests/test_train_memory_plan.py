"""The memory plan: predicted peak memory from a config alone, refusal with the change that would fit, and
`tuitune train --plan`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_pipelines import build_sd1, config_dict, make_dataset, write_config

from tuitune.jobs.rundir import RunDir
from tuitune.train import memory_plan
from tuitune.train.config import TrainConfig
from tuitune.train.errors import TrainError
from tuitune.train.loop import train
from tuitune.train.memory_plan import GIB, check, load_architecture, plan

torch.set_num_threads(1)


def _config(base: str = "arch:sd15", resolution: int = 512, **train) -> TrainConfig:
    return TrainConfig.from_dict({"model": {"base": base}, "data": {"resolution": resolution}, "train": train})


@pytest.fixture(scope="module")
def sd15():
    return load_architecture(_config())


def test_a_config_that_cannot_fit_is_refused_with_the_change_that_makes_it_fit(sd15):
    config = _config(batch_size=4)
    needed = plan(config, "cuda", sd15).peak
    fixed = plan(_config(batch_size=4, grad_checkpointing=True), "cuda", sd15)
    assert fixed.peak < needed
    verdict = check(config, "cuda", free=int(fixed.peak * 1.01), architecture=sd15)
    assert not verdict.fits and verdict.changes == ["grad_checkpointing = true under [train]"]
    assert verdict.sentence.startswith(f"Predicted peak memory {needed / GIB:.2f} GiB does not fit the ")
    assert f"set grad_checkpointing = true under [train] (predicted {fixed.peak / GIB:.2f} GiB)." in verdict.sentence
    assert verdict.sentence.count(".") == 4 and verdict.sentence.endswith(").")  # one sentence (3 decimals)

    # Less room: checkpointing alone is not enough, bf16 weights are needed too.
    both = plan(_config(batch_size=4, grad_checkpointing=True, mixed_precision="bf16"), "cuda", sd15).peak
    room = int(both * 1.01)
    assert fixed.peak > room and plan(_config(batch_size=4, mixed_precision="bf16"), "cuda", sd15).peak > room
    tight = check(config, "cuda", free=room, architecture=sd15)
    assert tight.changes == ["grad_checkpointing = true", 'mixed_precision = "bf16" under [train]']
    assert 'set grad_checkpointing = true and mixed_precision = "bf16" under [train] (predicted' in tight.sentence
    # Far too little: nothing in the config helps.
    hopeless = check(config, "cuda", free=GIB // 2, architecture=sd15)
    assert not hopeless.fits and "even with gradient checkpointing, bf16, 8-bit AdamW and batch 1" in hopeless.sentence


def test_a_smaller_batch_is_offered_last_and_keeps_the_effective_batch(sd15):
    config = _config(batch_size=8, grad_checkpointing=True, mixed_precision="bf16", optimizer="adamw8bit",
                     grad_accum=2)
    one = plan(_config(batch_size=1, grad_checkpointing=True, mixed_precision="bf16", optimizer="adamw8bit"),
               "cuda", sd15)
    two = plan(_config(batch_size=2, grad_checkpointing=True, mixed_precision="bf16", optimizer="adamw8bit"),
               "cuda", sd15)
    verdict = check(config, "cuda", free=(one.peak + two.peak) // 2, architecture=sd15)
    assert verdict.changes == ["batch_size = 1 with grad_accum = 16 under [train]"]


def test_the_prediction_moves_the_right_way_with_each_setting(sd15):
    def peak(device: str = "cuda", **changes) -> int:
        return plan(_config(**changes), device, sd15).peak

    base = peak()
    assert peak(batch_size=2) > base
    assert plan(_config(resolution=768), "cuda", sd15).peak > base
    assert peak(grad_checkpointing=True) < base
    assert peak(mixed_precision="bf16") < base and peak(mixed_precision="fp16") < base
    assert peak("cpu", mixed_precision="bf16") < peak("cpu")  # CPU keeps fp32 weights, bf16 activations
    assert peak(optimizer="adamw8bit") < base
    parts = plan(_config(), "cuda", sd15)
    assert parts.weights == sum(sd15.parameters.values()) * 4
    bf16 = plan(_config(mixed_precision="bf16"), "cuda", sd15)
    assert bf16.weights == parts.weights // 2 and bf16.activations < parts.activations
    # Activations follow the latent area: 4x the pixels, about 4x the saved tensors.
    big = plan(_config(resolution=1024), "cuda", sd15)
    assert 3.5 < big.details["saved_per_image"] / parts.details["saved_per_image"] < 4.5


def test_lora_settings_change_the_lora_and_activation_terms(sd15):
    def lora_plan(**lora):
        config = TrainConfig.from_dict({"model": {"base": "arch:sd15"}, "lora": lora})
        return plan(config, "cuda", sd15)

    small, large = lora_plan(rank=4), lora_plan(rank=64)
    assert large.details["lora_parameters"] == 16 * small.details["lora_parameters"]
    assert large.lora == 16 * small.lora
    kohya = lora_plan(targets="kohya")
    assert kohya.details["lora_parameters"] > lora_plan().details["lora_parameters"]
    with_te = lora_plan(text_encoder=True)
    assert with_te.details["lora_parameters"] > lora_plan().details["lora_parameters"]
    assert with_te.activations > lora_plan().activations  # the text encoder's forward is kept for backward
    # SD 1.5's attention LoRA at rank 8 (q, k, v, out of 16 transformer blocks' two attentions): 3.2 M numbers.
    assert lora_plan(rank=8).details["lora_parameters"] == pytest.approx(1.59e6, rel=0.01)


def test_every_architecture_and_a_diffusers_folder_get_a_plan(tmp_path):
    folder = build_sd1(tmp_path / "sd1")
    tiny = plan(_config(str(folder), 32), "cpu")
    assert tiny.details["parameters"]["unet"] == sum(
        p.numel() for p in __import__("diffusers").UNet2DConditionModel.from_pretrained(str(folder / "unet")).parameters())
    sdxl = plan(_config("arch:sdxl", 1024, grad_checkpointing=True, mixed_precision="bf16"), "cuda")
    assert set(sdxl.details["parameters"]) == {"unet", "vae", "text_encoder", "text_encoder_2"}
    # SDXL LoRA training at 1024 px in bf16 with checkpointing: known to fit a 24 GB card, not an 8 GB one.
    assert 8 * GIB < sdxl.peak < 24 * GIB
    sd21 = plan(_config("arch:sd21", 768), "cuda")
    assert sd21.peak > plan(_config("arch:sd15", 512), "cuda").peak


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plan")
    return {"sd1": build_sd1(root / "sd1"), "images": make_dataset(root / "images", count=2)}


def test_a_run_that_will_not_fit_stops_before_loading_the_model_in_one_sentence(world, tmp_path, monkeypatch):
    monkeypatch.setattr(memory_plan, "device_free", lambda device: (10 * 2**20, 0))
    config = TrainConfig.from_dict(config_dict(world["sd1"], world["images"], train={"steps": 1}), base_dir=tmp_path)
    loaded = []
    import tuitune.train.base_model as base_model

    monkeypatch.setattr(base_model, "load_base", lambda *a, **k: loaded.append(1))
    with pytest.raises(TrainError) as info:
        train(config, tmp_path / "run")
    message = str(info.value)
    assert message.startswith("Predicted peak memory ") and "does not fit the 0.01 GiB free RAM" in message
    assert message.endswith(', or set [train] memory_check = "warn" to start anyway.') and "\n" not in message
    assert not loaded and RunDir(tmp_path / "run").read_status()["state"] == "failed"


def test_memory_check_warn_starts_anyway_and_says_so(world, tmp_path, monkeypatch):
    monkeypatch.setattr(memory_plan, "device_free", lambda device: (10 * 2**20, 0))
    config = TrainConfig.from_dict(config_dict(world["sd1"], world["images"], train={"steps": 1, "memory_check": "warn"}),
                                   base_dir=tmp_path)
    assert train(config, tmp_path / "run").state == "finished"
    events = RunDir(tmp_path / "run").read_events()
    assert any(e.get("message", "").startswith("Predicted peak memory") for e in events if "warning" in str(e))


def test_train_plan_prints_the_plan_and_trains_nothing(world, tmp_path, capsys, monkeypatch):
    from tuitune.cli import main

    path = write_config(tmp_path / "train.toml", config_dict(world["sd1"], world["images"]))
    assert main(["train", str(path), "--plan", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Memory plan for {world['sd1']} on cpu: 32x32 px (largest bucket), batch 1")
    for part in ("weights", "LoRA", "activations", "VAE encode", "runtime", "peak"):
        assert f"\n  {part} " in out
    assert "fits the" in out.splitlines()[-1]
    assert not (tmp_path / "runs").exists()
    monkeypatch.setattr(memory_plan, "device_free", lambda device: (10 * 2**20, 0))
    assert main(["train", str(path), "--plan", "--device", "cpu"]) == 1
    assert "does not fit" in capsys.readouterr().out


def test_cpu_memory_figure_is_the_peak_not_what_is_left_after_a_step() -> None:
    # In a fresh process (as a detached run is): a long test session's allocator keeps freed memory.
    import subprocess
    import sys

    code = """
import psutil, torch
from tuitune.train.hardware import memory_mb
before = psutil.Process().memory_info().rss / 2**20
big = torch.ones(256 * 2**20 // 4)  # 256 MiB touched, then freed, as a step's activations are
big.add_(1)
del big
now = psutil.Process().memory_info().rss / 2**20
print(before, now, memory_mb(torch.device("cpu")))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    before, now, reported = map(float, done.stdout.split()[-3:])
    assert now < before + 100, "the freed tensor was not given back to the system; the test cannot tell peak from now"
    assert reported >= before + 200  # the resident set at the end would read about `before`


def test_a_run_says_what_it_trains_on_before_it_starts(tmp_path) -> None:
    from tiny_pipelines import build_sd1, make_dataset

    from tuitune.jobs.attach import RunView, render

    model = build_sd1(tmp_path / "sd1")
    images = make_dataset(tmp_path / "data" / "3_sks", count=3, with_masks=True)  # kohya's repeats folder
    (tmp_path / "data" / "1_more").mkdir()
    (tmp_path / "data" / "1_more" / "extra.png").write_bytes((images / "img0.png").read_bytes())
    (tmp_path / "data" / "1_more" / "extra.txt").write_text("a photo of sks square", encoding="utf-8")
    config = TrainConfig.from_dict(config_dict(model, tmp_path / "data", data={"masks": str(images / "masks")},
                                               train={"steps": 2, "batch_size": 2}),
                                   base_dir=tmp_path)
    assert train(config, tmp_path / "run").state == "finished"
    events = [e for e in RunDir(tmp_path / "run").read_events() if e.get("kind") == "dataset"]
    assert len(events) == 1
    message = events[0]["message"]
    assert message.startswith("4 pictures (3 with masks), repeats 1-3: 10 images per epoch; 1 bucket: 32x32 (4); ")
    assert message.endswith("2 steps at batch 2 = 0.4 epochs")
    from io import StringIO

    from rich.console import Console

    out = StringIO()
    view = RunView(RunDir(tmp_path / "run"))
    view.update()
    Console(file=out, width=200).print(render(view))
    assert "10 images per epoch" in out.getvalue()  # `tuitune attach` shows it too
