"""Speed of the region-aware step against a plain diffusers+peft step, measured in one run on a tiny model.

Prints three ratios (lower is faster): masked step / plain step, preservation step / masked step, and a
cached epoch / an uncached epoch (uncached = decode, resize and VAE-encode every image, encode every caption).
Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_step.py [--steps 30] [--resolution 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from tiny_pipelines import build_sd1, config_dict, make_dataset  # noqa: E402

from tuitune.train.base_model import load_base  # noqa: E402
from tuitune.train.batches import BatchMaker  # noqa: E402
from tuitune.train.config import TrainConfig  # noqa: E402
from tuitune.train.dataset import BatchOrder, scan_folder  # noqa: E402
from tuitune.train.loop import batch_loss  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from peft import LoraConfig

    root = Path(tempfile.mkdtemp(prefix="tuitune-bench-"))
    build_sd1(root / "model")
    images = make_dataset(root / "images", count=8, size=args.resolution, with_masks=True)
    config = TrainConfig.from_dict(config_dict(root / "model", images, data={"resolution": args.resolution},
                                               train={"batch_size": args.batch},
                                               loss={"concepts": {"watermark": {"weight": 0.0, "preserve": 1.0}},
                                                     "background_preserve": 0.0}), base_dir=root)
    base = load_base(config.base_model)
    for m in (base.unet, base.vae, *base.text_encoders):
        m.requires_grad_(False)
    torch.manual_seed(0)
    base.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian",
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    params = [p for p in base.unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    scan = scan_folder(images)
    maker = BatchMaker(config, base, scan.records, torch.device("cpu"), torch.float32, cache_text=True)
    order = BatchOrder(maker.buckets, [1] * len(scan.records), args.batch, 0)
    warm = [maker.make(order.batch(i)[1], 0, i) for i in range(order.per_epoch)]  # fills the cache
    maker.use_preserve = True  # build P maps too, for the preservation variant
    batches = [maker.make(order.batch(i)[1], 0, i) for i in range(order.per_epoch)]
    del warm

    def plain_step(batch) -> float:
        tick = time.perf_counter()
        noisy = base.noise_scheduler.add_noise(batch.latents, batch.noise, batch.timesteps)
        pred = base.unet(noisy, batch.timesteps, encoder_hidden_states=batch.embeds.hidden).sample
        F.mse_loss(pred.float(), batch.noise.float()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - tick

    def region_step(batch, lam: float) -> float:
        tick = time.perf_counter()
        parts = batch_loss(base, base.unet, base.unet, batch, batch.embeds, torch.float32, lam, 0.0)
        parts.total.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - tick

    def epoch(cached: bool, train: bool = True) -> float:
        tick = time.perf_counter()
        for i in range(order.per_epoch):
            if not cached:
                maker.latent_cache.memory.clear()
                maker.text_cache.memory.clear()
                maker.latent_cache.folder = maker.text_cache.folder = None
                maker._maps.clear()
            batch = maker.make(order.batch(i)[1], 0, i)
            if train:
                region_step(batch, 0.0)
        return time.perf_counter() - tick

    times: dict[str, list[float]] = {"plain": [], "masked": [], "preserve": [], "cached": [], "uncached": [],
                                     "data_cached": [], "data_uncached": []}
    for _ in range(3):  # warm-up
        plain_step(batches[0]), region_step(batches[0], 0.0), region_step(batches[0], 1.0)
    folder = maker.latent_cache.folder, maker.text_cache.folder
    for i in range(args.steps):
        # Interleaved so load from other processes hits every variant alike.
        b = batches[i % len(batches)]
        times["plain"].append(plain_step(b))
        times["masked"].append(region_step(b, 0.0))
        times["preserve"].append(region_step(b, 1.0))
    for _ in range(max(3, args.steps // 10)):
        maker.latent_cache.folder, maker.text_cache.folder = folder
        times["cached"].append(epoch(True))
        times["uncached"].append(epoch(False))
        maker.latent_cache.folder, maker.text_cache.folder = folder
        epoch(True)  # refill the memory cache for the next cached epoch
        times["data_cached"].append(epoch(True, train=False))
        times["data_uncached"].append(epoch(False, train=False))
        maker.latent_cache.folder, maker.text_cache.folder = folder
        epoch(True, train=False)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"tiny SD1 model, batch {args.batch}, {args.resolution}px, {args.steps} interleaved steps, medians:")
    print(f"  plain diffusers+peft step   {med['plain'] * 1000:8.1f} ms")
    print(f"  masked step (W map)         {med['masked'] * 1000:8.1f} ms   masked/plain      = "
          f"{med['masked'] / med['plain']:.3f}  (target <= 1.05)")
    print(f"  masked + preservation step  {med['preserve'] * 1000:8.1f} ms   preserve/masked   = "
          f"{med['preserve'] / med['masked']:.3f}  (target <= 1.45)")
    print(f"  epoch, cached latents+text  {med['cached'] * 1000:8.1f} ms   cached/uncached   = "
          f"{med['cached'] / med['uncached']:.3f}  (target <= 0.6)")
    print(f"  epoch, uncached             {med['uncached'] * 1000:8.1f} ms")
    print(f"  data only, cached           {med['data_cached'] * 1000:8.1f} ms   cached/uncached   = "
          f"{med['data_cached'] / med['data_uncached']:.3f}  (batch preparation without the UNet step)")
    print(f"  data only, uncached         {med['data_uncached'] * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
