"""Speed of the region-aware step against a plain diffusers+peft step, and of cached against uncached epochs.

Prints (lower is faster): masked step / plain step, preservation step / masked step, and a cached epoch / an
uncached epoch. Uncached means what a loop without tuitune's cache does at every step: decode and resize the
image file, VAE-encode it, tokenize and text-encode the caption, load and downsample its masks.

The ratio only means something when encoding costs what it costs in practice relative to the UNet, so the
default model is the toyworld architecture (SD-like VAE/UNet proportions); the script prints the FLOP shares
of VAE encode and text encode against one UNet forward for the benchmark model and for SD 1.5 at 512 px
(counted on the meta device, no weights needed), so the reader can judge how representative the run is.

Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_step.py [--model toyworld|tiny] [--steps 20]
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
from tuitune.train.step import batch_loss  # noqa: E402


def build_toyworld(folder: Path) -> Path:
    """The toyworld architecture with random weights, saved as a diffusers folder (64 px images)."""
    from diffusers import StableDiffusionPipeline

    from tuitune.toyworld import architecture as arch

    torch.manual_seed(0)
    pipe = StableDiffusionPipeline(vae=arch.build_vae(), text_encoder=arch.build_text_encoder(),
                                   tokenizer=arch.build_tokenizer(), unet=arch.build_unet(),
                                   scheduler=arch.build_scheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def flop_shares(unet, vae, text_encoder, resolution: int, tokens: int) -> tuple[float, float]:
    """(VAE encode, text encode) FLOPs as fractions of one UNet forward, counted without running kernels."""
    from torch.utils.flop_counter import FlopCounterMode

    def count(fn) -> int:
        mode = FlopCounterMode(display=False)
        with mode, torch.no_grad():
            fn()
        return mode.get_total_flops()

    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    dev = next(unet.parameters()).device
    image = torch.zeros(1, 3, resolution, resolution, device=dev)
    latent = torch.zeros(1, 4, resolution // scale, resolution // scale, device=dev)
    context = torch.zeros(1, tokens, unet.config.cross_attention_dim, device=dev)
    ids = torch.zeros(1, tokens, dtype=torch.long, device=dev)
    u = count(lambda: unet(latent, torch.tensor([10], device=dev), encoder_hidden_states=context))
    return count(lambda: vae.encode(image)) / u, count(lambda: text_encoder(ids)) / u


def sd15_shares() -> tuple[float, float]:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
        vae = AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                            block_out_channels=(128, 256, 512, 512), layers_per_block=2, sample_size=512)
        text = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                            num_attention_heads=12, max_position_embeddings=77))
    return flop_shares(unet, vae, text, 512, 77)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["toyworld", "tiny"], default="toyworld")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--source-scale", type=float, default=1.0,
                        help="image files are this many times the training resolution (photos are often 2x)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from peft import LoraConfig

    resolution = 64 if args.model == "toyworld" else 32
    root = Path(tempfile.mkdtemp(prefix="tuitune-bench-"))
    (build_toyworld if args.model == "toyworld" else build_sd1)(root / "model")
    images = make_dataset(root / "images", count=8, size=round(resolution * args.source_scale), with_masks=True)
    config = TrainConfig.from_dict(config_dict(root / "model", images, data={"resolution": resolution},
                                               train={"batch_size": args.batch},
                                               loss={"concepts": {"watermark": {"weight": 0.0, "preserve": 1.0}},
                                                     "background_preserve": 0.0}), base_dir=root)
    base = load_base(config.base_model)
    tokens = base.tokenizers[0].model_max_length
    ours = flop_shares(base.unet, base.vae, base.text_encoders[0], resolution, tokens)
    theirs = sd15_shares()
    for m in (base.unet, base.vae, *base.text_encoders):
        m.requires_grad_(False)
    torch.manual_seed(0)
    base.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian",
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    params = [p for p in base.unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    scan = scan_folder(images)
    maker = BatchMaker(config, base, scan.records, torch.device("cpu"), torch.float32, cache_text=True)
    maker.latent_cache.folder = maker.text_cache.folder = None  # memory only: disk reads are not measured
    order = BatchOrder(maker.buckets, [1] * len(scan.records), args.batch, 0)
    maker.use_preserve = True  # build P maps too, for the preservation variant
    batches = [maker.make(order.batch(i)[1], 0, i) for i in range(order.per_epoch)]  # also fills the cache

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

    saved = (dict(maker.latent_cache.memory), dict(maker.text_cache.memory), dict(maker._maps))

    def epoch(cached: bool, train: bool = True) -> float:
        """One pass over the data; uncached forgets every latent, embedding and map before each batch."""
        maker.latent_cache.memory, maker.text_cache.memory, maker._maps = (dict(s) for s in saved)
        tick = time.perf_counter()
        for i in range(order.per_epoch):
            if not cached:
                maker.latent_cache.memory.clear()
                maker.text_cache.memory.clear()
                maker._maps.clear()
            batch = maker.make(order.batch(i)[1], 0, i)
            if train:
                region_step(batch, 0.0)
        return time.perf_counter() - tick

    times: dict[str, list[float]] = {k: [] for k in ("plain", "masked", "preserve", "cached", "uncached",
                                                     "data_cached", "data_uncached")}
    for _ in range(3):  # warm-up
        plain_step(batches[0]), region_step(batches[0], 0.0), region_step(batches[0], 1.0)
    for i in range(args.steps):
        # Interleaved so load from other processes hits every variant alike.
        b = batches[i % len(batches)]
        times["plain"].append(plain_step(b))
        times["masked"].append(region_step(b, 0.0))
        times["preserve"].append(region_step(b, 1.0))
    for _ in range(max(3, args.steps // 4)):
        times["cached"].append(epoch(True))
        times["uncached"].append(epoch(False))
        times["data_cached"].append(epoch(True, train=False))
        times["data_uncached"].append(epoch(False, train=False))
    med = {k: statistics.median(v) for k, v in times.items()}
    source = round(resolution * args.source_scale)
    print(f"{args.model} model, batch {args.batch}, {resolution}px training, {source}px image files, "
          f"{args.steps} interleaved steps, medians:")
    print(f"  FLOPs per UNet forward: VAE encode {ours[0]:.2f}x, text encode {ours[1]:.3f}x "
          f"(SD 1.5 at 512px: {theirs[0]:.2f}x, {theirs[1]:.3f}x)")
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
