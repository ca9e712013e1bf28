"""Base models load in the requested dtype without diffusers' ``torch_dtype`` deprecation warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import diffusers
import pytest
import torch
from tiny_pipelines import build_sd1

from tuitune.train.base_model import dtype_argument, load_base


@pytest.mark.slow  # imports diffusers and loads a pipeline
def test_a_base_model_loads_in_half_precision_without_a_deprecation_warning(tmp_path: Path) -> None:
    folder = build_sd1(tmp_path / "sd1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        base = load_base(folder, dtype=torch.float16)
    # float16 is not the saved dtype: the keyword was read, not ignored.
    assert {base.unet.dtype, base.vae.dtype, base.text_encoders[0].dtype} == {torch.float16}


@pytest.mark.parametrize(
    ("version", "keyword"),
    [("0.30.0", "torch_dtype"), ("0.39.0", "torch_dtype"), ("0.40.0", "dtype"), ("0.42.1", "dtype"),
     ("0.40.0.dev0", "dtype"), ("1.0.0", "dtype")],
)
def test_older_diffusers_get_the_keyword_they_read(monkeypatch, version: str, keyword: str) -> None:
    # Before 0.40 diffusers ignores ``dtype``: the model would silently load in float32.
    monkeypatch.setattr(diffusers, "__version__", version)
    assert dtype_argument(torch.float16) == {keyword: torch.float16}
