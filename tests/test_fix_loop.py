"""The fix loop on the toyworld model (32x32, 3 DDIM steps): where its gradient goes, and what β keeps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from tuitune.fix.config import FixConfig
from tuitune.fix.networks import DefectCritic, save_network
from tuitune.jobs.context import JobContext
from tuitune.jobs.rundir import RunDir

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PROMPT = "an orange circle on a white background, with a watermark"


@pytest.fixture(scope="module")
def critic(tmp_path_factory) -> Path:
    """An untrained critic: a reward with a gradient everywhere, cheap and independent of the shipped weights."""
    torch.manual_seed(3)
    return save_network(DefectCritic(), tmp_path_factory.mktemp("critic") / "critic.safetensors")


def tiny(critic: Path, **overrides) -> FixConfig:
    table = dict(prompts=[PROMPT], seeds=[0], eval_seeds=[0], reward=f"critic:{critic}", critic=f"critic:{critic}",
                 resolution=32, sampler_steps=3, k=1, guidance=1.0, steps=4, batch_size=1, checkpoint_every=0,
                 lr=1e-2, device="cpu")
    return FixConfig.from_table({**table, **overrides})


def test_the_draft_gradient_reaches_only_the_lora_parameters(critic):
    from tuitune.fix.loop import Fixer

    fixer = Fixer(tiny(critic, beta=1.0))
    frozen = fixer.frozen([PROMPT], [0])
    masks, _ = fixer.masks(frozen, [PROMPT])
    parts = fixer.step_loss([PROMPT], [0], frozen, masks)
    parts.total.backward()
    modules = {"unet": fixer.unet, "vae": fixer.base.vae, "text_encoder": fixer.base.text_encoders[0],
               "critic": fixer.reward.net}
    with_grad = [f"{where}.{name}" for where, module in modules.items()
                 for name, p in module.named_parameters() if p.grad is not None]
    assert with_grad and all(".lora_" in name and name.startswith("unet.") for name in with_grad), with_grad
    # LoRA's B starts at zero, so the first gradient shows on B (A's gradient is B-weighted).
    assert any(".lora_B." in n and float(p.grad.abs().sum()) > 0 for n, p in fixer.unet.named_parameters()
               if p.grad is not None)


def test_with_a_large_beta_and_an_empty_mask_the_tuned_pictures_stay_the_frozen_ones(critic, tmp_path):
    from tuitune.fix.loop import run_fix

    Image.new("L", (32, 32), 0).save(tmp_path / "empty.png")  # no problem region: every pixel is kept
    drifts = {}
    for beta in (0.0, 1e5):
        run = RunDir(tmp_path / f"beta-{beta:g}").create()
        config = tiny(critic, beta=beta, mask=f"file:{tmp_path / 'empty.png'}", steps=6, lr=1e-3)
        report = run_fix(config, JobContext(run=run))
        assert report is not None and report["mask_share"] == 0.0 and report["drift_inside"] is None
        drifts[beta] = report["drift_outside"]
    assert drifts[0.0] > 0.02, drifts  # unregularised, the reward visibly changes the picture
    # Adam's first step follows the reward alone (the regulariser's gradient is 0 at the start); then β pulls back
    # (measured on the stage-3 toyworld model: 0.0047 against 0.0295 unregularised, 0.16 of it).
    assert drifts[1e5] < 0.01 and drifts[1e5] < 0.2 * drifts[0.0], drifts
