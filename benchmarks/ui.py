"""UI speed: `tuitune --help` time, first paint, UI process RSS, key-to-paint p95 while a job runs.

Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ui.py   (needs tmux for first paint and RSS)
Prints each figure and its ratio to the target (<= 1.0 meets it).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
TUITUNE = Path(sys.executable).with_name("tuitune")
TARGETS = {"help_s": 0.4, "first_paint_s": 1.5, "rss_mb": 200.0, "key_p95_ms": 50.0}


def help_time() -> float:
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([str(TUITUNE), "--help"], capture_output=True, check=True)
        runs.append(time.perf_counter() - start)
    return min(runs)


def first_paint_and_rss(project: Path) -> tuple[float | None, float | None]:
    """Launch the real app in tmux; time until the Intent screen shows; RSS of its process then."""
    if shutil.which("tmux") is None:
        return None, None
    import psutil

    session = f"tuitune-bench-{os.getpid()}"
    start = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "36",
                    f"cd {project} && TERM=xterm-256color {TUITUNE}"], check=True)
    try:
        paint = None
        while time.perf_counter() - start < 20:
            pane = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True)
            if "parser: rules" in pane.stdout:
                paint = time.perf_counter() - start
                break
            time.sleep(0.02)
        pid = int(subprocess.run(["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"],
                                 capture_output=True, text=True).stdout.split()[0])
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        rss = max(p.memory_info().rss for p in procs) / 2**20
        return paint, rss
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def key_latency(project: Path) -> list[float]:
    """In tmux, switch screens by key while a count job writes metrics; press -> new screen on the pane.

    Each sample includes a tmux capture-pane round trip (a few ms), so it slightly overstates the latency.
    """
    from tuitune.jobs import control
    from tuitune.jobs.queue import submit

    run = submit(project / "runs", "count", {"count": {"steps": 100000, "step_seconds": 0.02}}, gpu=False)
    session = f"tuitune-keys-{os.getpid()}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "36",
                    f"cd {project} && TERM=xterm-256color {TUITUNE}"], check=True)
    samples = []
    try:
        def pane() -> str:
            return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True).stdout

        deadline = time.perf_counter() + 20
        while "parser: rules" not in pane() and time.perf_counter() < deadline:
            time.sleep(0.05)
        for key, text in [("4", "Runs"), ("3", "of 6 items"), ("2", "Versions"), ("1", "parser: rules")] * 8:
            start = time.perf_counter()
            subprocess.run(["tmux", "send-keys", "-t", session, key], check=True)
            while text not in pane():
                if time.perf_counter() - start > 5:
                    break
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        control.stop(run, grace=2.0)
    return samples


def main() -> None:
    os.environ.setdefault("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    from test_ui import make_project

    project = make_project(Path(tempfile.mkdtemp()) / "proj")
    figures = {"help_s": help_time()}
    figures["first_paint_s"], figures["rss_mb"] = first_paint_and_rss(project)
    samples = key_latency(project)
    figures["key_p95_ms"] = statistics.quantiles(samples, n=20)[-1]
    print(f"key-to-paint samples (ms): median {statistics.median(samples):.0f}, "
          f"first visits {[round(x) for x in samples[:4]]}, max {max(samples):.0f}")
    for name, value in figures.items():
        if value is None:
            print(f"{name:14s} not measured (tmux missing)")
        else:
            print(f"{name:14s} {value:8.3f}   target {TARGETS[name]:6.2f}   ratio {value / TARGETS[name]:.2f}")


if __name__ == "__main__":
    main()
