"""A generation's record names the run (and checkpoint) whose LoRA drew it, however the LoRA was given."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tuitune.generate.batch import GenerateRequest, generate_batch
from tuitune.jobs.rundir import RunDir


@dataclass
class FakeGenerator:
    """Draws flat pictures; enough for what generate_batch records."""

    model_name: str = "toy"

    def load_lora(self, path: Path, name: str) -> str:
        return name

    def draw(self, params, adapter) -> Image.Image:
        return Image.new("RGB", (8, 8), (200, 0, 0) if adapter else (0, 0, 200))


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "runs" / "train-a").create()
    run.run_toml.write_text('[job]\nkind = "train"\n', encoding="utf-8")
    run.lora_path.write_bytes(b"x")
    run.checkpoint_dir(40).mkdir(parents=True)
    (run.checkpoint_dir(40) / "lora.safetensors").write_bytes(b"x")
    return run


@pytest.mark.parametrize(("which", "label"), [
    ("final file", "train-a"), ("run folder", "train-a"), ("checkpoint", "train-a step_40"),
    ("checkpoint file", "train-a step_40")])
def test_the_record_names_the_run_and_checkpoint(run: RunDir, tmp_path: Path, which: str, label: str) -> None:
    lora = {"final file": run.lora_path, "run folder": run.path, "checkpoint": run.checkpoint_dir(40),
            "checkpoint file": run.checkpoint_dir(40) / "lora.safetensors"}[which]
    out = tmp_path / "generations"
    request = GenerateRequest(model="toy", lora=str(lora), prompts=["zxq"], output=str(out))
    (record,) = generate_batch(request, generator=FakeGenerator())  # type: ignore[arg-type]
    assert record.lora == label
    assert json.loads((out / f"{record.id}.json").read_text(encoding="utf-8"))["lora"] == label
