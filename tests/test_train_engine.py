"""Training engine on tiny SD1.x / SDXL models: loss, plain-loop equivalence, exports, region preservation."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from tiny_pipelines import build_sd1, build_sdxl, config_dict, make_dataset

from tuitune.jobs.rundir import ControlRequest, RunDir
from tuitune.train.config import TrainConfig
from tuitune.train.errors import TrainError
from tuitune.train.loop import train

pytestmark = pytest.mark.slow
torch.set_num_threads(1)  # the tiny models are faster on one thread, and the CI box is shared


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train")
    return {"root": root, "sd1": build_sd1(root / "sd1"), "sdxl": build_sdxl(root / "sdxl"),
            "images": make_dataset(root / "images", count=4, with_masks=True)}


def _config(world, tmp: Path, model: str = "sd1", **sections) -> TrainConfig:
    return TrainConfig.from_dict(config_dict(world[model], world["images"], **sections), base_dir=tmp)


def _pipeline(model_dir: Path):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(model_dir))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _fixed_eval(pipe, images: Path, mask_region: bool = False) -> torch.Tensor:
    """Noise-prediction error (or the prediction itself) on fixed noise/timesteps for the dataset latents."""
    from tuitune.train.base_model import load_base  # noqa: F401 - same loader the trainer uses

    preds = []
    gen = torch.Generator().manual_seed(123)
    is_xl = hasattr(pipe, "text_encoder_2")
    with torch.no_grad():
        for path in sorted(images.glob("*.png")):
            px = torch.from_numpy(__import__("numpy").asarray(Image.open(path).convert("RGB"), "float32") / 127.5 - 1)
            latent = pipe.vae.encode(px.permute(2, 0, 1)[None]).latent_dist.mean * pipe.vae.config.scaling_factor
            for _ in range(4):
                noise = torch.randn(latent.shape, generator=gen)
                t = torch.randint(100, 900, (1,), generator=gen)
                noisy = pipe.scheduler.add_noise(latent, noise, t)
                if is_xl:
                    emb, _, pooled, _ = pipe.encode_prompt("a photo of sks square", do_classifier_free_guidance=False)
                    extra = {"added_cond_kwargs": {"text_embeds": pooled,
                                                   "time_ids": torch.tensor([[32, 32, 0, 0, 32, 32]], dtype=torch.float32)}}
                else:
                    emb, _ = pipe.encode_prompt("a photo of sks square", "cpu", 1, False)
                    extra = {}
                pred = pipe.unet(noisy, t, encoder_hidden_states=emb, **extra).sample
                preds.append(pred if mask_region else ((pred - noise) ** 2).mean()[None])
    return torch.cat(preds)


@pytest.mark.parametrize("model", ["sd1", "sdxl"])
def test_training_lowers_the_denoising_loss_and_export_loads(world, tmp_path, model):
    config = _config(world, tmp_path, model, train={"steps": 40, "lr": 1e-2})
    outcome = train(config, tmp_path / "run")
    assert outcome.state == "finished"
    rd = RunDir(tmp_path / "run")
    assert [m["step"] for m in rd.read_metrics()] == list(range(1, 41))
    assert rd.read_status()["state"] == "finished"
    pipe = _pipeline(world[model])
    before = _fixed_eval(pipe, world["images"]).mean()
    pipe.load_lora_weights(str(rd.lora_path))
    after = _fixed_eval(pipe, world["images"]).mean()
    assert after < before * 0.95, (before, after)


def test_plain_config_matches_a_hand_written_diffusers_peft_loop(world, tmp_path):
    from diffusers.optimization import get_scheduler
    from peft import LoraConfig

    from tuitune.train.batches import micro_generator

    images = make_dataset(tmp_path / "two", count=2)
    config = TrainConfig.from_dict(config_dict(world["sd1"], images, data={"shuffle": False, "buckets": False},
                                               train={"steps": 6, "batch_size": 2}), base_dir=tmp_path)
    train(config, tmp_path / "run")
    ours = [m["loss"] for m in RunDir(tmp_path / "run").read_metrics()]

    pipe = _pipeline(world["sd1"])
    unet, vae = pipe.unet, pipe.vae
    for m in (unet, vae, pipe.text_encoder):
        m.requires_grad_(False)
    torch.manual_seed(0)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian",
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2)
    sched = get_scheduler("constant", optimizer=opt, num_warmup_steps=0, num_training_steps=6)
    import numpy as np

    px = torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), np.float32) / 127.5 - 1).permute(2, 0, 1)
                      for p in sorted(images.glob("*.png"))])
    with torch.no_grad():
        # Encoded one image at a time, as a caching loop does (batched convs round differently).
        latents = torch.cat([vae.encode(x[None]).latent_dist.mean for x in px]) * vae.config.scaling_factor
        ids = pipe.tokenizer(["a photo of sks square"], padding="max_length", max_length=16,
                             return_tensors="pt").input_ids
        emb = pipe.text_encoder(ids)[0].repeat(2, 1, 1)
    from diffusers import DDPMScheduler

    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    plain = []
    unet.train()
    for step in range(6):
        gen = micro_generator(0, step)
        noise = torch.randn(latents.shape, generator=gen)
        t = torch.randint(0, 1000, (2,), generator=gen)
        pred = unet(noise_scheduler.add_noise(latents, noise, t), t, encoder_hidden_states=emb).sample
        loss = F.mse_loss(pred.float(), noise.float(), reduction="mean")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        plain.append(loss.item())
    assert ours == plain


def test_delete_region_stays_closer_to_base_than_a_plain_run(world, tmp_path):
    common = {"train": {"steps": 40, "lr": 5e-3}}
    plain = _config(world, tmp_path / "a", **common)
    focused = _config(world, tmp_path / "b", **common,
                      loss={"preservation": 10.0, "concepts": {"watermark": {"weight": 0.0, "preserve": 1.0}}})
    train(plain, tmp_path / "plain")
    train(focused, tmp_path / "focused")
    base = _fixed_eval(_pipeline(world["sd1"]), world["images"], mask_region=True)
    drift = {}
    for name in ("plain", "focused"):
        pipe = _pipeline(world["sd1"])
        pipe.load_lora_weights(str(tmp_path / name / "lora.safetensors"))
        pred = _fixed_eval(pipe, world["images"], mask_region=True)
        # The watermark is the top-left quarter of the image, so of the 16x16 latent too.
        drift[name] = ((pred - base)[..., :4, :4] ** 2).mean().item()
    assert drift["focused"] < 0.8 * drift["plain"], drift  # measured: 0.069 vs 0.100


def test_both_exports_load_and_change_the_image(world, tmp_path):
    from safetensors.torch import load_file

    train(_config(world, tmp_path, train={"steps": 15, "lr": 5e-3}), tmp_path / "run")
    kohya = load_file(str(tmp_path / "run" / "lora_kohya.safetensors"))
    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    assert f"{key}.lora_down.weight" in kohya and float(kohya[f"{key}.alpha"]) == 4.0
    images = {}
    for name in ("base", "lora.safetensors", "lora_kohya.safetensors"):
        pipe = _pipeline(world["sd1"])
        if name != "base":
            pipe.load_lora_weights(str(tmp_path / "run" / name))
        images[name] = torch.from_numpy(pipe("a photo of sks square", num_inference_steps=4, height=32, width=32,
                                             generator=torch.Generator().manual_seed(0), output_type="np").images[0])
    for name in ("lora.safetensors", "lora_kohya.safetensors"):
        assert (images[name] - images["base"]).abs().mean() > 1e-3, name
    assert torch.allclose(images["lora.safetensors"], images["lora_kohya.safetensors"], atol=1e-3)


def test_stop_and_sample_requests_checkpoint_and_write_tagged_pngs(world, tmp_path):
    config = _config(world, tmp_path, samples={"prompts": ["a photo of sks square"], "steps": 2, "seeds": [3]})
    rd = RunDir(tmp_path / "run").create()
    rd.request(ControlRequest.SAMPLE_NOW)
    seen = []

    def on_step(step, total, row):
        seen.append(step)
        if step == 3:
            rd.request(ControlRequest.STOP)

    outcome = train(config, rd, on_step=on_step)
    assert outcome.state == "stopped" and outcome.step == 3
    assert rd.read_status()["state"] == "stopped"
    assert rd.checkpoint_steps() == [3]
    png = Image.open(rd.sample_dir(1) / "p00_s3.png")
    assert "Seed: 3" in png.text["parameters"] and "Sampler: Euler" in png.text["parameters"]
    with pytest.raises(TrainError, match="--resume"):
        train(config, rd)
    assert train(config, rd, resume=True).state == "finished"
    assert [m["step"] for m in rd.read_metrics()][-1] == 10


def test_bad_images_are_skipped_and_listed_and_a_failed_checkpoint_keeps_the_last(world, tmp_path, monkeypatch):
    images = make_dataset(tmp_path / "imgs", count=2)
    (images / "empty.png").write_bytes(b"")
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    (images / "img1.txt").unlink()
    config = TrainConfig.from_dict(config_dict(world["sd1"], images, train={"steps": 4},
                                               checkpoints={"every": 2}), base_dir=tmp_path)
    from accelerate import Accelerator

    real = Accelerator.save_state
    saves: list[Path] = []

    def disk_full_at_the_second_checkpoint(self, output_dir=None, **kwargs):
        saves.append(Path(output_dir))
        if len(saves) == 2:
            (saves[-1] / "optimizer.bin").write_bytes(b"half a file")
            raise OSError(errno.ENOSPC, "No space left on device", str(saves[-1] / "optimizer.bin"))
        return real(self, output_dir, **kwargs)

    monkeypatch.setattr(Accelerator, "save_state", disk_full_at_the_second_checkpoint)
    rd = RunDir(tmp_path / "run")
    with pytest.raises(TrainError, match="disk is full") as failed:
        train(config, rd)
    assert "step 4" in str(failed.value) and "continues from step 2" in str(failed.value)
    status = rd.read_status()
    assert status["state"] == "failed" and status["message"] == str(failed.value)
    assert rd.checkpoint_steps() == [2] and (rd.checkpoint_dir(2) / "lora.safetensors").exists()
    assert sorted(p.name for p in rd.checkpoints_dir.iterdir()) == ["step_2"]  # nothing half-written is left
    warnings = " ".join(e.get("message", "") for e in rd.read_events() if e["kind"] == "warning")
    assert "empty.png" in warnings and "broken.jpg" in warnings and "no caption" in warnings


def test_missing_base_model_is_one_sentence(world, tmp_path):
    config = TrainConfig.from_dict(config_dict(tmp_path / "nope", world["images"]), base_dir=tmp_path)
    with pytest.raises(TrainError, match="does not exist"):
        train(config, tmp_path / "run")
    assert RunDir(tmp_path / "run").read_status()["state"] == "failed"
