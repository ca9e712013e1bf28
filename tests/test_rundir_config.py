"""A run's run.toml is read in one place: parsed once while unchanged, a copy per caller, damage in one sentence."""

from __future__ import annotations

import os
import tomllib

import pytest

from tuitune.errors import UserError
from tuitune.jobs.rundir import RunDir


def test_run_toml_is_parsed_once_while_unchanged_and_again_when_it_changes(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "run").create()
    run.run_toml.write_text('[job]\nkind = "train"\n[train]\nsteps = 10\n', encoding="utf-8")
    parsed = []
    real = tomllib.loads
    monkeypatch.setattr(tomllib, "loads", lambda text: parsed.append(1) or real(text))
    first = run.config()
    first["train"]["steps"] = 99  # the caller's copy
    first.pop("job")
    assert run.config() == {"job": {"kind": "train"}, "train": {"steps": 10}} and len(parsed) == 1
    run.run_toml.write_text('[job]\nkind = "fix"\n', encoding="utf-8")
    os.utime(run.run_toml, ns=(1, 1))  # a rewrite within the same clock tick still differs by size or time
    assert run.kind() == "fix" and len(parsed) == 2


@pytest.mark.parametrize(("content", "said"), [
    (None, "has no run.toml, so it is not a run folder; pick another run."),
    (b"[job\nkind = ", "'s run.toml cannot be read ("),
    (b"\xff\xfe not text", "'s run.toml cannot be read ("),
])
def test_a_missing_or_damaged_run_toml_is_one_sentence_and_has_no_kind(tmp_path, content, said):
    run = RunDir(tmp_path / "run").create()
    if content is not None:
        run.run_toml.write_bytes(content)
    with pytest.raises(UserError) as caught:
        run.config()
    assert said in str(caught.value) and "\n" not in str(caught.value)
    assert run.kind() == ""
