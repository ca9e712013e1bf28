"""Base models from single checkpoint files and hub ids, offline: what loads, and what is refused in one sentence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tiny_pipelines import build_sd1, pipeline_to_ldm

from tuitune.train.base_model import load_base
from tuitune.train.errors import TrainError


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    from diffusers import StableDiffusionPipeline

    root = tmp_path_factory.mktemp("model_files")
    folder = build_sd1(root / "sd1")
    state = pipeline_to_ldm(StableDiffusionPipeline.from_pretrained(str(folder)))
    save_file(state, str(root / "model.safetensors"))
    torch.save({"state_dict": state, "global_step": 100}, root / "model.ckpt")
    return {"root": root, "folder": folder, "safetensors": root / "model.safetensors", "ckpt": root / "model.ckpt"}


def _unet_output(base) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 16, 16, generator=gen)
    with torch.no_grad():
        embeds = base.encode_prompts(["a photo of sks square"])
        return base.unet(latents, torch.tensor([500]), **base.unet_kwargs(embeds, None)).sample


@pytest.mark.parametrize("name", ["safetensors", "ckpt"])
def test_single_file_checkpoint_with_a_local_config_matches_the_folder(files, name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    original = load_base(files["folder"])
    single = load_base(files[name], config=files["folder"])
    assert single.kind == "sd1"
    for part in ("unet", "vae"):
        ours, theirs = getattr(single, part).state_dict(), getattr(original, part).state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k].reshape(theirs[k].shape), theirs[k]) for k in ours), part
    # Same weights; kernels may pick a different summation order, hence the tolerance.
    assert torch.allclose(_unet_output(single), _unet_output(original), atol=1e-5)


def test_single_file_without_config_offline_says_to_set_model_config(files, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TrainError, match=r"set \[model\] config to a local diffusers folder") as info:
        load_base(files["safetensors"])
    assert "offline" in str(info.value) and "\n" not in str(info.value)


def test_a_pickle_that_runs_code_is_refused_without_running_it(files, tmp_path):
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "callback": Payload()}, evil)
    with pytest.raises(TrainError, match="would run code when loaded") as info:
        load_base(evil, config=files["folder"])
    assert not marker.exists()
    assert str(evil) in str(info.value) and ".safetensors" in str(info.value)


def test_a_truncated_checkpoint_is_named_not_a_traceback(files, tmp_path):
    broken = tmp_path / "half.safetensors"
    broken.write_bytes(files["safetensors"].read_bytes()[:1000])
    with pytest.raises(TrainError, match="half.safetensors"):
        load_base(broken, config=files["folder"])


def test_an_unknown_hub_id_offline_is_one_sentence(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", os.devnull + "-nothing-cached")
    with pytest.raises(TrainError) as info:
        load_base("nobody-here/made-up-diffusion-model")
    message = str(info.value)
    assert message.startswith("'nobody-here/made-up-diffusion-model' is not a local folder or file and the hub is offline")
    assert "point [model] base at a local copy" in message and "\n" not in message


def test_a_model_a_package_registers_by_name_loads_by_that_name_unless_a_folder_has_it(files, tmp_path, monkeypatch):
    from tuitune.toyworld import model_path
    from tuitune.train import named_models

    assert named_models.folder_of("toyworld") == model_path()  # the toyworld registers its model on import
    monkeypatch.setattr(named_models, "_FOLDERS", dict(named_models._FOLDERS))
    named_models.register("Tiny-SD1", lambda: files["folder"])
    named = load_base(" tiny-sd1 ")
    assert named.kind == "sd1" and named.source == str(files["folder"])
    assert torch.equal(_unet_output(named), _unet_output(load_base(files["folder"])))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny-sd1").mkdir()
    with pytest.raises(TrainError, match="is a folder but not a diffusers model"):
        load_base("tiny-sd1")
