"""The loss options: min-SNR-γ weights, v-prediction targets, noise offset, and a tiny v-prediction model training."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from tiny_pipelines import build_sd1, config_dict, make_dataset

from tuitune.train.batches import Batch
from tuitune.train.config import TrainConfig
from tuitune.train.loop import batch_loss
from tuitune.train.loss import min_snr_weights, region_loss

torch.set_num_threads(1)


def _scheduler(prediction_type: str):
    from diffusers import DDPMScheduler

    return DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         prediction_type=prediction_type)


def _snr(scheduler, t: torch.Tensor) -> torch.Tensor:
    a = scheduler.alphas_cumprod[t].double()
    return a / (1 - a)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_min_snr_weights_follow_the_paper(prediction_type):
    scheduler = _scheduler(prediction_type)
    t = torch.tensor([0, 10, 200, 500, 999])
    snr = _snr(scheduler, t)
    gamma = 5.0
    expected = torch.minimum(snr, torch.tensor(gamma, dtype=snr.dtype))
    expected = expected / (snr + 1) if prediction_type == "v_prediction" else expected / snr
    got = min_snr_weights(scheduler, t, gamma)
    assert torch.allclose(got.double(), expected, rtol=1e-4)
    # Early (low-noise) steps are down-weighted, late ones keep full weight for epsilon.
    assert got[0] < 0.05 and (prediction_type == "v_prediction" or got[-1] == 1.0)


def test_min_snr_weights_each_sample_of_the_plain_and_masked_loss():
    pred, target = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    weights = torch.tensor([0.2, 1.0, 3.0])
    per_sample = ((pred - target) ** 2).mean(dim=(1, 2, 3))
    plain = region_loss(pred, target, snr_weights=weights)
    assert torch.allclose(plain.total, (per_sample * weights).mean())
    mask = torch.zeros(3, 1, 8, 8)
    mask[..., :4, :] = 1.0
    masked = region_loss(pred, target, weight=mask, snr_weights=weights)
    top = ((pred - target)[..., :4, :] ** 2).mean(dim=(1, 2, 3))
    assert torch.allclose(masked.total, (top * weights).mean())


@dataclass
class _FakeBase:
    """Just what ``batch_loss`` reads from a base model."""

    noise_scheduler: object

    @property
    def prediction_type(self) -> str:
        return self.noise_scheduler.config.prediction_type

    def unet_kwargs(self, embeds, time_ids):
        return {}


def _halving_unet(noisy, timesteps, return_dict=False):
    return (noisy * 0.5,)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_the_loss_target_is_noise_or_velocity(prediction_type):
    scheduler = _scheduler(prediction_type)
    gen = torch.Generator().manual_seed(0)
    latents, noise = torch.randn(2, 4, 8, 8, generator=gen), torch.randn(2, 4, 8, 8, generator=gen)
    t = torch.tensor([100, 800])
    batch = Batch(latents=latents, embeds=None, captions=["", ""], time_ids=None, weight=None, preserve=None,
                  noise=noise, timesteps=t)
    parts = batch_loss(_FakeBase(scheduler), _halving_unet, None, batch, None, torch.float32, 0.0, 0.0)
    a = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    noisy = a.sqrt() * latents + (1 - a).sqrt() * noise
    target = a.sqrt() * noise - (1 - a).sqrt() * latents if prediction_type == "v_prediction" else noise
    assert torch.allclose(parts.total, F.mse_loss(noisy * 0.5, target), rtol=1e-5)
    if prediction_type == "v_prediction":
        assert torch.allclose(target, scheduler.get_velocity(latents, noise, t), atol=1e-6)


@pytest.fixture(scope="module")
def vpred(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vpred")
    folder = build_sd1(root / "sd1")
    shutil.copytree(folder, root / "sd2v")
    config_path = root / "sd2v" / "scheduler" / "scheduler_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "prediction_type": "v_prediction"}))
    return {"root": root, "sd1": folder, "sd2v": root / "sd2v", "images": make_dataset(root / "images", count=4)}


def test_noise_offset_shifts_each_channel_by_one_constant(vpred):
    from tuitune.train.base_model import load_base
    from tuitune.train.batches import BatchMaker
    from tuitune.train.dataset import scan_folder

    base = load_base(vpred["sd1"])
    records = scan_folder(vpred["images"]).records
    noise = {}
    for offset in (0.0, 0.1):
        config = TrainConfig.from_dict(config_dict(vpred["sd1"], vpred["images"], train={"noise_offset": offset}))
        maker = BatchMaker(config, base, records, torch.device("cpu"), torch.float32, cache_text=True)
        noise[offset] = maker.make([0, 1], seed=0, micro=3).noise
    shift = noise[0.1] - noise[0.0]
    per_channel = shift.mean(dim=(2, 3), keepdim=True)
    assert torch.allclose(shift, per_channel.expand_as(shift), atol=1e-6)  # constant over the image
    assert 0.01 < per_channel.abs().mean() < 0.3  # of the offset's size, not zero


def test_a_tiny_v_prediction_model_trains(vpred, tmp_path):
    from tuitune.train.base_model import load_base
    from tuitune.train.loop import train

    config = TrainConfig.from_dict(config_dict(vpred["sd2v"], vpred["images"],
                                               train={"steps": 30, "lr": 1e-2, "min_snr_gamma": 5.0}),
                                   base_dir=tmp_path)
    assert train(config, tmp_path / "run").state == "finished"

    def fixed_loss(lora: Path | None) -> float:
        base = load_base(vpred["sd2v"])
        assert base.kind == "sd2" and base.prediction_type == "v_prediction"
        if lora is not None:
            base.pipeline().load_lora_weights(str(lora))
        from tuitune.train.batches import BatchMaker
        from tuitune.train.dataset import scan_folder

        maker = BatchMaker(config, base, scan_folder(vpred["images"]).records, torch.device("cpu"),
                           torch.float32, cache_text=True)
        maker.latent_cache.folder = maker.text_cache.folder = None
        with torch.no_grad():
            losses = [batch_loss(base, base.unet, base.unet, maker.make([i % 4], 99, i),
                                 maker.make([i % 4], 99, i).embeds, torch.float32, 0.0, 0.0).total.item()
                      for i in range(16)]
        return sum(losses) / len(losses)

    before, after = fixed_loss(None), fixed_loss(tmp_path / "run" / "lora.safetensors")
    assert after < 0.95 * before, (before, after)
