"""The Train screen at 80×24: runs, settings, progress and plots all on the terminal (snapshot)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui import make_project
from test_ui_snapshots import _settle


@pytest.mark.slow
def test_train_snapshot_at_80_columns(snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitune.jobs.rundir import RunDir, RunState
    from tuitune.ui.app import TuituneApp

    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")
    # The longest things the narrow layout has to show whole: a dated run name and a long scheduler.
    RunDir(root / "runs" / "train-20250101-123456").create().write_status(
        state=RunState.FINISHED, pid=None, step=400, total_steps=400, created=0.5)
    (root / "train.toml").write_text('[train]\nscheduler = "constant_with_warmup"\n', encoding="utf-8")
    app = TuituneApp(root)
    assert snap_compare(app, press=["4"], terminal_size=(80, 24), run_before=_settle)
