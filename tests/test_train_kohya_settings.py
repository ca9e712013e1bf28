"""What a kohya user expects of a run: a clean model load, the export precision, LoRA target presets, and
old checkpoints that keep only their LoRA while resume continues from the newest full one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from tiny_pipelines import build_sd1, config_dict, make_dataset

from tuitune.jobs.checkpoints import keep_only
from tuitune.jobs.rundir import LORA_ONLY, RunDir
from tuitune.train.checkpoints import LORA_FILES
from tuitune.train.config import TrainConfig
from tuitune.train.errors import TrainError
from tuitune.train.loop import train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kohya")
    return {"sd1": build_sd1(root / "sd1"), "images": make_dataset(root / "images", count=2)}


def _train(world, tmp: Path, name: str = "run", steps: int = 3, **sections) -> RunDir:
    sections.setdefault("train", {})
    sections["train"] = {"steps": steps, **sections["train"]}
    config = TrainConfig.from_dict(config_dict(world["sd1"], world["images"], **sections), base_dir=tmp)
    assert train(config, tmp / name).state == "finished"
    return RunDir(tmp / name)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_run_loads_its_model_without_diffusers_float32_warning(world, tmp_path):
    records = _Records()
    library = logging.getLogger("diffusers")  # diffusers' loggers do not propagate to the root logger
    library.addHandler(records)
    try:
        logging.getLogger("diffusers.models.modeling_utils").warning("probe")  # where the warning comes from
        _train(world, tmp_path, steps=1)
    finally:
        library.removeHandler(records)
    assert records.messages[0] == "probe"  # the handler hears that module ...
    assert not [m for m in records.messages if "should be kept in float32" in m]  # ... but not this warning


@pytest.mark.parametrize(("precision", "dtype"), [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_save_precision_writes_both_exports_in_that_dtype_with_the_fp32_runs_values(world, tmp_path, precision,
                                                                                   dtype):
    full = _train(world, tmp_path, "full")
    half = _train(world, tmp_path, "half", lora={"save_precision": precision})
    for name in ("lora.safetensors", "lora_kohya.safetensors"):
        a, b = load_file(str(full.path / name)), load_file(str(half.path / name))
        assert a.keys() == b.keys() and len(b) > 0
        assert {v.dtype for v in b.values()} == {dtype}
        assert all(torch.equal(a[k].to(dtype), b[k]) for k in a)  # the same training, cast once at save
        assert sum(v.nbytes for v in b.values()) * 2 == sum(v.nbytes for v in a.values())  # half the bytes
    step = half.checkpoint_steps()[-1]
    assert {v.dtype for v in load_file(str(half.checkpoint_dir(step) / "lora.safetensors")).values()} == {dtype}

    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(world["sd1"]))
    pipe.load_lora_weights(str(half.lora_path))  # a half-precision export loads back


def _module_names(path: Path) -> set[str]:
    with safe_open(str(path), "pt") as fh:
        return {k.split(".lora_")[0].rsplit(".", 1)[-1] if "." in k else k for k in fh.keys()}


def test_the_kohya_target_preset_adds_the_projections_and_feed_forward_to_attention(world, tmp_path):
    attention = _train(world, tmp_path, "attention", steps=1)
    kohya = _train(world, tmp_path, "kohya", steps=1, lora={"targets": "kohya"})
    ours = load_file(str(kohya.lora_path))
    for module in ("proj_in", "proj_out", "ff.net.0.proj", "ff.net.2", "attn1.to_q", "attn2.to_out.0"):
        assert any(f".{module}.lora_A." in k for k in ours), module
    kohya_keys = load_file(str(kohya.path / "lora_kohya.safetensors"))
    assert "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight" in kohya_keys
    assert "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_2.lora_up.weight" in kohya_keys
    plain = load_file(str(attention.lora_path))
    assert not any(".proj_in." in k or ".ff.net." in k for k in plain)
    assert set(plain) < set(ours)


def test_an_unknown_target_preset_is_one_sentence_with_the_nearest_name(world, tmp_path):
    with pytest.raises(TrainError, match=r"lora\.targets.*unknown target preset 'kohy' \(did you mean 'kohya'\?\)"):
        TrainConfig.from_dict(config_dict(world["sd1"], world["images"], lora={"targets": "kohy"}))
    # The lists of old run.toml files keep working.
    old = TrainConfig.from_dict(config_dict(world["sd1"], world["images"], lora={"targets": ["to_q", "to_v"]}))
    assert old.lora.unet_target_modules == ["to_q", "to_v"]


def test_old_checkpoints_keep_only_their_lora_and_resume_continues_from_the_newest_full_one(world, tmp_path):
    rd = _train(world, tmp_path, steps=6, checkpoints={"every": 2, "keep": 3, "keep_state": 2})
    assert rd.checkpoint_steps() == [2, 4, 6]  # all listed (evaluations compare every one) ...
    assert rd.resumable_checkpoint_steps() == [4, 6]  # ... the newest two can be resumed from
    lora_only = rd.checkpoint_dir(2)
    assert sorted(p.name for p in lora_only.iterdir()) == ["COMPLETE", LORA_ONLY, "checksums.json", "lora.safetensors"]
    assert rd.checkpoint_problem(2) is None  # intact by its new checksums
    full = sum(p.stat().st_size for p in rd.checkpoint_dir(4).iterdir())
    assert sum(p.stat().st_size for p in lora_only.iterdir()) < full / 2

    # Step 6 loses its state too (as if keep_state were 1 when it was pruned): a resume skips it, untouched.
    keep_only(rd, 6, set(LORA_FILES))
    assert rd.resumable_checkpoint_steps()[-1] == 4 and rd.newest_intact_checkpoint() == (4, [])
    config = TrainConfig.from_toml(rd.run_toml)
    assert train(config, rd, resume=True, steps=8).state == "finished"
    assert [e["step"] for e in rd.read_events() if e.get("kind", e.get("event")) == "resume"] == [4]
    assert rd.checkpoint_dir(6).is_dir()
