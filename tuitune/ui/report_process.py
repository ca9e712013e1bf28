"""Run one of tuitune's short helper processes (``python -m MODULE ...``, see tuitune/json_report.py) from a
worker thread and read its one-line JSON report; the app never imports torch, the helper does."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def run_report(module: str, args: list[str], *, needs: str, what: str, timeout: float,
               stdin: str | None = None) -> dict[str, Any]:
    """The report of ``python -m module args`` (a dict holding ``needs``), or ``{"error": ...}``: the helper's
    own sentence, or why it gave none, starting with ``what`` ("The heatmap")."""
    command = [sys.executable, "-m", module, *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"{what} took too long or could not start ({exc.__class__.__name__})"}
    lines = done.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if not isinstance(report, dict) or (needs not in report and "error" not in report):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"{what} process failed ({tail[:160]})"}
    return report
