"""The Train screen at 80×24: runs, settings, progress and plots all on the terminal (snapshot)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui import make_project
from test_ui_snapshots import _settle


@pytest.mark.slow
def test_train_snapshot_at_80_columns(snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitune.ui.app import TuituneApp

    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    app = TuituneApp(make_project(tmp_path / "proj"))
    assert snap_compare(app, press=["4"], terminal_size=(80, 24), run_before=_settle)
