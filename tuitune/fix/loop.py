"""The Focus-N-Fix loop: frozen images and masks, DRaFT-K LoRA training with the regulariser, evaluation.

Per prompt c and seed (x_T shared by both models)::

    loss = -r(Î, c) + β · mean((1 − M(Î₀)) ⊙ (Î₀ − Î))²

Î₀ is the frozen model's image (LoRA off), Î the tuned one's, M the problem mask computed on Î₀. The
gradient flows through the last K sampler steps and the VAE decoder into the LoRA parameters only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch

from tuitune.fix.config import FixConfig
from tuitune.jobs.context import JobContext
from tuitune.jobs.rundir import ControlRequest


@dataclass
class LossParts:
    total: torch.Tensor
    reward: torch.Tensor
    regulariser: torch.Tensor


def fix_loss(tuned: torch.Tensor, frozen: torch.Tensor, masks: torch.Tensor, prompts: list[str], reward: Any,
             beta: float) -> LossParts:
    """The batch's loss from the tuned images (with their graph), the frozen images and the masks (B, H, W)."""
    scores = reward.score(tuned, prompts)
    outside = (1 - masks)[:, None]
    regulariser = ((outside * (frozen - tuned)) ** 2).mean(dim=(1, 2, 3))
    return LossParts(total=(-scores + beta * regulariser).mean(), reward=scores.mean().detach(),
                     regulariser=regulariser.mean().detach())


class Fixer:
    """The loaded pieces of one run: base model with its LoRA, reward, critic, drawer and frozen pictures."""

    def __init__(self, config: FixConfig, device: str | None = None) -> None:
        from tuitune.fix.rewards import load_reward
        from tuitune.fix.sampling import Drawer
        from tuitune.train.adapters import add_lora
        from tuitune.train.base_model import load_base
        from tuitune.train.config import LoraSection
        from tuitune.train.hardware import choose_device

        self.config = config
        self.device = torch.device(device or choose_device(config.device, None))
        self.base = load_base(config.model)
        for module in [self.base.unet, self.base.vae, *self.base.text_encoders]:
            module.to(self.device).eval()
        add_lora(self.base, LoraSection(rank=config.rank, alpha=config.alpha), config.seed)
        self.unet = self.base.unet
        self.reward = load_reward(config.reward, **config.reward_options).to(self.device)
        self.critic = self._critic()
        self.drawer = Drawer(self.base, config.sampler_steps, config.guidance, config.resolution)

    def _critic(self) -> Any:
        from tuitune.fix.rewards import CriticReward, load_reward

        if not self.config.critic:
            return None
        if self.config.critic == self.config.reward and isinstance(self.reward, CriticReward):
            return self.reward
        critic = load_reward(self.config.critic)
        if not isinstance(critic, CriticReward):
            from tuitune.errors import UserError

            raise UserError(f"critic {self.config.critic!r} is not a defect critic; name toyworld-critic or "
                            "critic:PATH, or set critic = \"\" to go without a defect rate.")
        return critic.to(self.device)

    def lora_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.unet.parameters() if p.requires_grad]

    def frozen(self, prompts: list[str], seeds: list[int]) -> torch.Tensor:
        """The frozen model's images (LoRA off, no graph)."""
        from tuitune.train.step import adapters_disabled

        with torch.no_grad(), adapters_disabled(self.unet):
            return self._batched(lambda p, s: self.drawer.draw(self.unet, p, s), prompts, seeds)

    def tuned(self, prompts: list[str], seeds: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return self._batched(lambda p, s: self.drawer.draw(self.unet, p, s), prompts, seeds)

    def _batched(self, draw: Any, prompts: list[str], seeds: list[int]) -> torch.Tensor:
        size = max(self.config.batch_size, 8)
        return torch.cat([draw(prompts[i : i + size], seeds[i : i + size]) for i in range(0, len(prompts), size)])

    def masks(self, images: torch.Tensor, prompts: list[str]) -> tuple[torch.Tensor, str]:
        """M for each frozen image, and in words where it came from."""
        from tuitune.fix.gradcam import gradcam
        from tuitune.fix.masks import box_mask, file_mask, parse_box, threshold_and_dilate

        cfg = self.config
        size = images.shape[-1]
        if cfg.mask.startswith("box:"):
            return box_mask(parse_box(cfg.mask[4:]), size).expand(len(images), -1, -1).to(images), cfg.mask
        if cfg.mask.startswith("file:"):
            return file_mask(cfg.mask[5:], size).expand(len(images), -1, -1).to(images), cfg.mask
        heat = self.reward.heatmap(images, prompts) if cfg.mask == "reward" else None
        source = f"the heatmap of {self.reward.name}"
        if heat is None:
            heat, source = gradcam(self.reward, images, prompts), f"Grad-CAM of {self.reward.name}"
        return threshold_and_dilate(heat, cfg.threshold, cfg.dilation), source

    def step_loss(self, prompts: list[str], seeds: list[int], frozen: torch.Tensor, masks: torch.Tensor) -> LossParts:
        """Draw the batch with the LoRA (graph through the last K steps and the decoder) and take its loss."""
        tuned = self.drawer.draw(self.unet, prompts, seeds, grad_steps=self.config.k,
                                 checkpointing=self.config.grad_checkpointing)
        return fix_loss(tuned, frozen, masks, prompts, self.reward, self.config.beta)


def batch_order(count: int, batch: int, step: int, seed: int) -> list[int]:
    """Which training pairs step ``step`` uses: epochs of a seeded shuffle, so a resume draws the same ones."""
    picked = []
    for n in range(step * batch, (step + 1) * batch):
        epoch, at = divmod(n, count)
        order = list(range(count))
        random.Random(seed * 100_003 + epoch).shuffle(order)
        picked.append(order[at])
    return picked


def run_fix(config: FixConfig, ctx: JobContext, device: str | None = None) -> dict[str, Any] | None:
    """Run ``config`` in ``ctx``'s run directory; the evaluation report, or None when it stopped on request."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    from tuitune.fix.record import save_pictures, write_report
    from tuitune.train.export import peft_state, save_lora

    torch.manual_seed(config.seed)
    ctx.write_status(message="loading the model and the reward")
    fixer = Fixer(config, device)
    pairs = [(p, s) for p in config.prompts for s in config.seeds]
    prompts, seeds = [p for p, _ in pairs], [s for _, s in pairs]
    ctx.write_status(message="drawing the frozen model's pictures")
    frozen = fixer.frozen(prompts, seeds)
    masks, source = fixer.masks(frozen, prompts)
    ctx.event("masks", message=f"masks from {source}: {float(masks.mean()):.1%} of the pixels")
    save_pictures(ctx.run.path / "fix" / "frozen", frozen, masks)

    params = fixer.lora_parameters()
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    step = 0
    found = ctx.resume_checkpoint()
    if found is not None:
        step, folder = found
        set_peft_model_state_dict(fixer.unet, load_file(str(folder / "adapter_unet.safetensors")))
        optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location=fixer.device, weights_only=True))
        ctx.event("resume", step=step)

    def export(path: Any, kohya: Any = None) -> None:
        save_lora(path, {"unet": fixer.unet}, config.alpha, config.rank, fixer.base.kind, kohya)

    def checkpoint(at: int) -> None:
        partial = ctx.partial_checkpoint_dir(at)
        save_file(peft_state(fixer.unet), str(partial / "adapter_unet.safetensors"))
        torch.save(optimizer.state_dict(), partial / "optimizer.pt")
        export(partial / "lora.safetensors")
        ctx.commit_checkpoint(at, keep=config.keep)

    ctx.started(total_steps=config.steps, step=step)
    while step < config.steps:
        if ctx.poll() is ControlRequest.STOP:
            checkpoint(step)
            return None
        picked = batch_order(len(pairs), config.batch_size, step, config.seed)
        parts = fixer.step_loss([prompts[i] for i in picked], [seeds[i] for i in picked], frozen[picked],
                                masks[picked])
        optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        step += 1
        ctx.log_metric({"step": step, "loss": parts.total.item(), "reward": parts.reward.item(),
                        "regulariser": parts.regulariser.item()})
        ctx.progress(step)
        if config.checkpoint_every and step % config.checkpoint_every == 0 and step < config.steps:
            checkpoint(step)

    export(ctx.run.lora_path, ctx.run.path / "lora_kohya.safetensors")
    ctx.event("lora", path=ctx.run.lora_path.name, step=step)
    ctx.write_status(message="evaluating on the held-out seeds")
    result = evaluate(fixer, config)
    write_report(ctx.run.path, result.pop("pictures_by_side"), result)
    ctx.event("evaluation", **{k: v for k, v in result.items() if not isinstance(v, dict)})
    return result


def evaluate(fixer: Fixer, config: FixConfig) -> dict[str, Any]:
    """Frozen and tuned pictures of the evaluation prompts and seeds, and the metrics of ``metrics.report``."""
    from tuitune.fix.metrics import report

    eval_prompts = config.eval_prompts or config.prompts
    pairs = [(p, s) for p in eval_prompts for s in config.eval_seeds]
    prompts, seeds = [p for p, _ in pairs], [s for _, s in pairs]
    frozen = fixer.frozen(prompts, seeds)
    tuned = fixer.tuned(prompts, seeds)
    masks, _ = fixer.masks(frozen, prompts)
    result = report(frozen, tuned, masks, prompts, fixer.reward, fixer.critic, config.threshold,
                    config.defect_pixels)
    result["pictures_by_side"] = {"frozen": frozen, "tuned": tuned, "masks": masks}
    return result
