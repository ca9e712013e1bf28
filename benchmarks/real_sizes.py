"""Step speed and memory on the real-size architectures (arch:sd15, arch:sdxl; random weights, public configs).

For each model, with and without gradient checkpointing, in each precision: a plain diffusers+peft step (MSE on
ε), tuitune's masked step (``batch_loss`` with a W map) and masked + preservation (λ = 1, one more no-grad UNet
forward); printed: seconds per step (median of the timed steps, the three kinds interleaved, after one warm-up round), images/s, FLOPs per step
(``torch.utils.flop_counter``, one extra step), on CUDA the peak allocated memory of each row against the memory
plan's prediction and the model FLOPs utilisation, and the ratios masked/plain (target <= 1.05) and
preservation/masked (target <= 1.35). On CPU the peak RSS is the process's high-water mark so far (a process's
peak cannot be reset; ``benchmarks/memory_plan.py`` measures one row per process).

Defaults: CPU: SD 1.5 at 128 px, fp32, 3 timed steps (a few minutes on 2 cores; SDXL in fp32 needs ~14 GB of
RAM for its weights, ask for it with --models sdxl); CUDA: SD 1.5 at 512 px and SDXL at 1024 px, bf16, 5 timed
steps (a few minutes on one modern GPU).

Run: HF_HUB_OFFLINE=1 nice .venv/bin/python benchmarks/real_sizes.py [--device cpu|cuda] [--models sd15,sdxl]
     [--resolution PX] [--precision fp32,bf16] [--steps N] [--out table.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuitune.train.base_model import load_base  # noqa: E402
from tuitune.train.step import batch_loss  # noqa: E402

# Dense bf16 tensor-core peaks (TFLOP/s) for the model FLOPs utilisation; --peak-tflops overrides.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "4090": 165.0}
DEFAULT_RES = {("cpu", "sd15"): 128, ("cpu", "sdxl"): 64, ("cuda", "sd15"): 512, ("cuda", "sdxl"): 1024}


class Batch:
    """What ``batch_loss`` reads: latents, noise, timesteps, W and P maps, SDXL time ids."""

    def __init__(self, base, batch: int, side: int, device: str, dtype: torch.dtype) -> None:
        gen = torch.Generator().manual_seed(0)
        latent = side // base.vae_scale
        self.latents = torch.randn(batch, 4, latent, latent, generator=gen).to(device)
        self.noise = torch.randn(batch, 4, latent, latent, generator=gen).to(device)
        self.timesteps = torch.randint(0, 1000, (batch,), generator=gen).to(device)
        mask = torch.zeros(batch, 1, latent, latent)
        mask[..., : latent // 4, : latent // 4] = 1.0  # a watermark corner: W 0 and P 1 there
        self.weight, self.preserve = (1.0 - mask).to(device), mask.to(device)
        self.time_ids = (base.time_ids((side, side), (0, 0), (side, side), batch, device, torch.float32)
                         if base.is_sdxl else None)
        with torch.no_grad():
            embeds = base.encode_prompts(["a photo of zxq"] * batch)
        embeds.hidden = embeds.hidden.to(dtype)
        embeds.pooled = embeds.pooled.to(dtype) if embeds.pooled is not None else None
        self.embeds = embeds


def measure(args: argparse.Namespace, model: str, precision: str) -> list[dict]:
    from peft import LoraConfig

    device = args.device
    # CUDA keeps the frozen weights in bf16; on CPU tuitune keeps them fp32 and autocasts (as the loop does).
    weights = torch.bfloat16 if precision == "bf16" and device == "cuda" else torch.float32
    side = args.resolution or DEFAULT_RES[(device, model)]
    tick = time.perf_counter()
    base = load_base(f"arch:{model}", dtype=weights)
    for module in (base.unet, base.vae, *base.text_encoders):
        module.requires_grad_(False).to(device)
    built = time.perf_counter() - tick
    torch.manual_seed(0)
    base.unet.add_adapter(LoraConfig(r=8, lora_alpha=8, init_lora_weights="gaussian",
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    params = [p for p in base.unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    batch = Batch(base, args.batch, side, device, weights)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16")
    kwargs = base.unet_kwargs(batch.embeds, batch.time_ids)

    def plain() -> None:
        noisy = base.noise_scheduler.add_noise(batch.latents, batch.noise, batch.timesteps)
        pred = base.unet(noisy.to(weights), batch.timesteps, **kwargs, return_dict=False)[0]
        F.mse_loss(pred.float(), batch.noise.float()).backward()

    def region(lam: float):
        def step() -> None:
            batch_loss(base, base.unet, base.unet, batch, batch.embeds, weights, lam, 0.0).total.backward()
        return step

    def run(step) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        tick = time.perf_counter()
        with autocast:
            step()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - tick

    rows = []
    for checkpointing in (False, True):
        if checkpointing:
            base.unet.enable_gradient_checkpointing()
        else:
            base.unet.disable_gradient_checkpointing()
        steps = {"plain": plain, "masked": region(0.0), "preserve": region(1.0)}
        times: dict[str, list[float]] = {name: [] for name in steps}
        peaks = dict.fromkeys(steps, 0)
        for round_ in range(args.steps + 1):  # interleaved, so load from other processes hits each alike
            for name, step in steps.items():
                if device == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                seconds = run(step)
                if round_:  # the first round warms up
                    times[name].append(seconds)
                peaks[name] = max(peaks[name], torch.cuda.max_memory_allocated() if device == "cuda"
                                  else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        from torch.utils.flop_counter import FlopCounterMode

        for name, step in steps.items():
            counter = FlopCounterMode(display=False)
            with counter:
                run(step)
            seconds = statistics.median(times[name])
            rows.append({"model": model, "px": side, "batch": args.batch, "precision": precision,
                         "checkpointing": checkpointing, "step": name, "s_per_step": seconds,
                         "images_per_s": args.batch / seconds, "peak_gib": peaks[name] / 2**30,
                         "flops_per_step": counter.get_total_flops(), "build_s": built})
    return rows


def predicted_peak(row: dict, device: str) -> float | None:
    from tuitune.train.config import TrainConfig
    from tuitune.train.memory_plan import plan

    config = TrainConfig.from_dict({"model": {"base": f"arch:{row['model']}"},
                                    "data": {"resolution": row["px"]},
                                    "train": {"batch_size": row["batch"], "grad_checkpointing": row["checkpointing"],
                                              "mixed_precision": "bf16" if row["precision"] == "bf16" else "no"}})
    return plan(config, device).peak / 2**30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default=None, help="comma-separated: sd15, sdxl (default: CPU sd15, CUDA both)")
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--precision", default=None, help="comma-separated: fp32, bf16 (default: CPU fp32, CUDA bf16)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per row (default: CPU 3, CUDA 5)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, for MFU")
    parser.add_argument("--out", type=Path, default=None, help="write the table as JSON here too")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    models = (args.models or ("sd15,sdxl" if cuda else "sd15")).split(",")
    precisions = (args.precision or ("bf16" if cuda else "fp32")).split(",")
    args.steps = args.steps or (5 if cuda else 3)
    peak_tflops = args.peak_tflops
    if cuda and peak_tflops is None:
        name = torch.cuda.get_device_name()
        peak_tflops = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    started = time.perf_counter()
    rows = []
    for model in models:
        for precision in precisions:
            rows += measure(args, model, precision)
            if cuda:
                torch.cuda.empty_cache()
    header = (f"{'model':<5} {'px':>5} {'prec':>4} {'ckpt':>4} {'step':<8} {'s/step':>8} {'img/s':>7} "
              f"{'GFLOP':>9} {'peak GiB':>9}" + (f" {'plan GiB':>8} {'MFU':>6}" if cuda else ""))
    print(header)
    for row in rows:
        line = (f"{row['model']:<5} {row['px']:>5} {row['precision']:>4} {'on' if row['checkpointing'] else 'off':>4} "
                f"{row['step']:<8} {row['s_per_step']:>8.3f} {row['images_per_s']:>7.2f} "
                f"{row['flops_per_step'] / 1e9:>9.1f} {row['peak_gib']:>9.2f}")
        if cuda:
            row["plan_gib"] = predicted_peak(row, "cuda")
            row["mfu"] = (row["flops_per_step"] / row["s_per_step"] / (peak_tflops * 1e12)) if peak_tflops else None
            line += f" {row['plan_gib']:>8.2f} " + (f"{row['mfu']:>6.1%}" if row["mfu"] is not None else "     -")
        print(line)
    print("ratios (tuitune / plain loop; targets: masked <= 1.05, preservation/masked <= 1.35):")
    for model in models:
        for precision in precisions:
            for checkpointing in (False, True):
                same = [r for r in rows if r["model"] == model and r["precision"] == precision and
                        r["checkpointing"] == checkpointing]
                pick = {r["step"]: r["s_per_step"] for r in same}
                flops = {r["step"]: r["flops_per_step"] for r in same}
                # The base pass is one forward without gradients; a LoRA step on frozen weights skips their
                # weight gradients, so its backward costs about one forward, not two: the FLOP ratio is the bound.
                bound = flops["preserve"] / flops["masked"]
                measured = pick["preserve"] / pick["masked"]
                print(f"  {model} {precision} checkpointing {'on ' if checkpointing else 'off'}: masked/plain "
                      f"{pick['masked'] / pick['plain']:.3f}, preservation/masked {measured:.3f} "
                      f"(FLOP ratio {bound:.3f}, time over FLOPs {measured / bound:.3f})")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
