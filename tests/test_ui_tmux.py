"""The real ``tuitune`` in a tmux session: open a project, visit all five screens by key, quit cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_ui import make_project

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_projects" / "toyworld-watermark"
TUITUNE = Path(sys.executable).with_name("tuitune")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def _wait_for(session: str, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the pane shows:\n{screen}")


def test_tmux_session_visits_every_screen_and_quits(tmp_path: Path) -> None:
    if (SAMPLE / "project.toml").is_file():
        project = tmp_path / "toyworld"
        shutil.copytree(SAMPLE, project)
    else:
        project = make_project(tmp_path / "proj")
    session = f"tuitune-test-{os.getpid()}"
    env = {"TERM": "xterm-256color", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    # LINES and COLUMNS in the test runner's environment (the tmux server inherits them) would pin the app to
    # that size instead of the 120x36 pane's.
    command = f"cd {project} && unset LINES COLUMNS; {exports} {TUITUNE}; echo EXITED:$?; sleep 30"
    _tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", command)
    try:
        _wait_for(session, "parser: rules")  # the Intent screen (the key bar folds the screens into 1-5 at 120)
        checks = [("2", "Versions"), ("3", "items"), ("4", "Runs"), ("5", "History"), ("1", "parser: rules")]
        for key, text in checks:
            _tmux("send-keys", "-t", session, key)
            _wait_for(session, text)
        _tmux("send-keys", "-t", session, "F1")
        _wait_for(session, "Switch the parser")
        _tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.5)  # a lone Escape followed at once by a key reads as alt+key
        _tmux("send-keys", "-t", session, "C-q")
        _wait_for(session, "EXITED:0")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
