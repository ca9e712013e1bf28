"""The app's once-a-second poll of runs for notifications: ended runs whose files did not change are not read,
and a worker that dies without writing anything is still announced."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project

from tuitune.jobs.rundir import JsonlTail, RunDir, RunState

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    return make_project(tmp_path / "proj")  # train-a finished, train-b crashed


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the runs whose status.json or events.jsonl the app read."""
    seen: list[str] = []
    read_status, read_new = RunDir.read_status, JsonlTail.read_new
    monkeypatch.setattr(RunDir, "read_status", lambda self: seen.append(self.name) or read_status(self))
    monkeypatch.setattr(JsonlTail, "read_new", lambda self: seen.append(self.path.parent.name) or read_new(self))
    return seen


async def test_ended_runs_are_read_again_only_when_their_files_change(project: Path, reads: list[str]) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        reads.clear()
        assert app._read_run_news() == []
        assert reads == []  # both runs ended and nothing was written since
        RunDir(project / "runs" / "train-a").write_status(state=RunState.QUEUED)  # e.g. resumed from the CLI
        app._read_run_news()
        assert "train-a" in reads and "train-b" not in reads


async def test_a_worker_that_dies_without_a_word_is_announced(project: Path) -> None:
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = RunDir(project / "runs" / "train-c").create()
        live.write_status(state=RunState.RUNNING, pid=worker.pid, step=1, total_steps=10, created=9.0)
        app = app_for(project)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app._read_run_news() == []
            worker.kill()
            worker.wait()
            # Neither status.json nor events.jsonl changed: only the pid says the worker is gone.
            notes = app._read_run_news()
    finally:
        worker.kill()
        worker.wait()
    assert any("train-c: the worker died" in message for message, _, _ in notes)
