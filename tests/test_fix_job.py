"""A fix job in the job runner: stopped by SIGTERM mid-run, resumed, it finishes with the uninterrupted LoRA."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from safetensors.torch import load_file

from tests.files import wait_for
from tuitune.fix.networks import DefectCritic, save_network
from tuitune.jobs import control
from tuitune.jobs.queue import submit
from tuitune.jobs.rundir import RunDir, RunState

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]



def test_a_fix_job_stopped_by_sigterm_resumes_and_finishes_as_if_never_stopped(tmp_path):
    torch.manual_seed(5)
    critic = save_network(DefectCritic(), tmp_path / "critic.safetensors")
    fix = dict(prompts=["a red circle on a white background, with a watermark"], seeds=[0, 1], eval_seeds=[7],
               reward=f"critic:{critic}", critic=f"critic:{critic}", resolution=32, sampler_steps=3, k=1,
               guidance=1.0, steps=30, batch_size=1, checkpoint_every=2, lr=1e-2, device="cpu")
    clean = submit(tmp_path / "a", "fix", {"fix": fix}, name="clean")
    # 30 steps: the SIGTERM at step 3 lands well before the end even on a fast machine.
    run = submit(tmp_path / "b", "fix", {"fix": fix}, name="stopped")
    wait_for(lambda: run.state() is RunState.RUNNING and run.read_status().get("step", 0) >= 3, 600, "step 3")
    os.killpg(int(run.read_status()["pgid"]), signal.SIGTERM)
    wait_for(lambda: run.state().is_final, 300, "the stop")
    assert run.state() is RunState.STOPPED, run.read_status()
    stopped_at = run.checkpoint_steps()[-1]
    assert 3 <= stopped_at < 30 and not run.lora_path.exists()
    control.resume(run)
    for r in (run, clean):
        wait_for(lambda r=r: r.state().is_final, 600, f"{r.name} to end")
        assert r.state() is RunState.FINISHED, r.read_status()
    ours, theirs = load_file(str(run.lora_path)), load_file(str(clean.lora_path))
    assert ours.keys() == theirs.keys() and ours
    assert all(torch.allclose(ours[k], theirs[k], atol=1e-6) for k in ours)
    kohya = load_file(str(run.path / "lora_kohya.safetensors"))
    assert kohya and all(k.startswith("lora_unet_") for k in kohya)
    assert {m["step"] for m in RunDir(run.path).read_metrics()} == set(range(1, 31))
    assert (run.path / "fix_report.json").is_file() and (run.path / "eval" / "tuned" / "000.png").is_file()
