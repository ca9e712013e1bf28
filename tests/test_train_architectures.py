"""The real-size architectures (arch:sd15, arch:sd21, arch:sdxl): public parameter counts, the users' loader,
seeded random weights, and one training step of SD 1.5 through the real loop."""

from __future__ import annotations

import copy

import pytest
import torch
from tiny_pipelines import config_dict, make_dataset

from tuitune.jobs.rundir import RunDir
from tuitune.train.architectures import NAMES, name_of, spec
from tuitune.train.architectures.random_weights import build_pipeline, parameter_counts
from tuitune.train.base_model import load_base
from tuitune.train.config import TrainConfig
from tuitune.train.errors import TrainError
from tuitune.train.loop import train

# Published sizes: SD 1.5's UNet 859.5 M, SD 2.1's 865.9 M, SDXL's 2.57 B; CLIP ViT-L/14's text tower 123 M,
# OpenCLIP ViT-H's (23 of 24 layers) 340 M, OpenCLIP ViT-bigG's with its projection 695 M; the VAE 83.7 M.
PUBLISHED = {
    "sd15": {"unet": 859.5e6, "vae": 83.65e6, "text_encoder": 123.06e6},
    "sd21": {"unet": 865.9e6, "vae": 83.65e6, "text_encoder": 340.39e6},
    "sdxl": {"unet": 2.567e9, "vae": 83.65e6, "text_encoder": 123.06e6, "text_encoder_2": 694.66e6},
}


@pytest.mark.parametrize("name", NAMES)
def test_each_architecture_has_its_published_parameter_counts(name):
    counts = parameter_counts(spec(name))
    assert counts.keys() == PUBLISHED[name].keys()
    for part, published in PUBLISHED[name].items():
        assert counts[part] == pytest.approx(published, rel=2e-3), part
    assert counts == spec(name)["public_parameters"]  # what the memory plan reads without building


@pytest.mark.parametrize(("name", "kind", "prediction", "encoders", "cross"), [
    ("sd15", "sd1", "epsilon", 1, 768), ("sd21", "sd2", "v_prediction", 1, 1024), ("sdxl", "sdxl", "epsilon", 2, 2048)])
def test_the_users_loader_builds_each_architecture_by_its_name(name, kind, prediction, encoders, cross):
    with torch.device("meta"):  # the whole architecture, no weights drawn
        base = load_base(f"arch:{name}")
    assert (base.kind, base.prediction_type, len(base.text_encoders)) == (kind, prediction, encoders)
    assert base.unet.config.cross_attention_dim == cross and base.source == f"arch:{name}"
    assert sum(p.numel() for p in base.unet.parameters()) == spec(name)["public_parameters"]["unet"]
    ids = base.tokenizers[-1]("a photo of zxq").input_ids
    assert ids[0] == 49406 and ids[-1] == 49407 and len(base.tokenizers[-1]) == 49408
    if name == "sdxl":
        assert base.vae.config.scaling_factor == 0.13025
        assert base.unet.config.addition_embed_type == "text_time"


def _tiny(name: str) -> dict:
    """The architecture's spec at toy widths: the same builder, in a fraction of a second."""
    small = copy.deepcopy(spec(name))
    unet = small["unet"]
    unet["block_out_channels"] = [32] * len(unet["block_out_channels"])
    unet["norm_num_groups"] = 8
    if name != "sd15":
        unet["attention_head_dim"] = [8] * len(unet["block_out_channels"])
    small["vae"].update(block_out_channels=[8] * 4, norm_num_groups=4)
    for part in ("text_encoder", "text_encoder_2"):
        if part in small:
            small[part].update(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                               projection_dim=16)
    if name == "sdxl":
        unet.update(cross_attention_dim=32, transformer_layers_per_block=[1, 1, 1], addition_time_embed_dim=8,
                    projection_class_embeddings_input_dim=16 + 6 * 8)
    return small


def _weights(pipe) -> torch.Tensor:
    return torch.cat([p.flatten() for p in pipe.unet.parameters()])


def test_a_seed_makes_the_random_weights_repeatable_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = build_pipeline(_tiny("sd15"), seed=0)
    assert torch.equal(torch.rand(3), expected_next)  # building drew nothing from the caller's generator
    assert torch.equal(_weights(first), _weights(build_pipeline(_tiny("sd15"), seed=0)))
    assert not torch.equal(_weights(first), _weights(build_pipeline(_tiny("sd15"), seed=1)))


def test_an_architecture_name_takes_a_seed_after_an_at_sign_and_a_bad_one_is_one_sentence():
    assert name_of("arch:sd15@7") == "sd15" and name_of("ARCH:SDXL") == "sdxl" and name_of("toyworld") is None
    with pytest.raises(TrainError, match=r"the seed after @ must be a whole number, e.g. arch:sd15@0\.$"):
        load_base("arch:sd15@seven")


def test_bf16_weights_are_built_in_bf16():
    pipe = build_pipeline(_tiny("sdxl"), dtype=torch.bfloat16)
    assert {p.dtype for p in pipe.unet.parameters()} == {torch.bfloat16}
    assert torch.get_default_dtype() == torch.float32


@pytest.mark.slow
def test_one_sd15_training_step_at_64px_runs_through_the_training_loop(tmp_path):
    torch.set_num_threads(2)
    images = make_dataset(tmp_path / "images", count=1, size=64)
    data = config_dict(tmp_path / "unused", images, data={"resolution": 64, "buckets": False},
                       train={"steps": 1, "batch_size": 1}, lora={"rank": 4, "alpha": 4})
    data["model"]["base"] = "arch:sd15"
    config = TrainConfig.from_dict(data, base_dir=tmp_path)
    outcome = train(config, tmp_path / "run")
    assert outcome.state == "finished" and outcome.lora_path.is_file()
    row = RunDir(tmp_path / "run").read_metrics()[-1]
    assert row["step"] == 1 and torch.isfinite(torch.tensor(row["loss"]))
    assert RunDir(tmp_path / "run").read_status()["state"] == "finished"
