"""SIGTERM and Ctrl-C ask a job to checkpoint and stop; with several processes, one signalled process stops them all."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from tuitune.jobs.context import JobContext
from tuitune.jobs.rundir import ControlRequest, RunDir, RunState
from tuitune.jobs.stop_signals import stop_signals


def test_sigterm_asks_for_a_stop_and_a_second_one_stops_at_once(tmp_path: Path) -> None:
    ctx = JobContext(run=RunDir(tmp_path / "run").create())
    before: list[int] = []
    old = signal.signal(signal.SIGTERM, lambda signum, frame: before.append(signum))
    try:
        with stop_signals(ctx):
            signal.raise_signal(signal.SIGTERM)
            assert ctx.stop_signalled and before == []  # asked: the job stops at its next poll
            assert ctx.poll() is ControlRequest.STOP and ctx.stopped
            assert ctx.run.read_status()["state"] == RunState.STOPPING
            signal.raise_signal(signal.SIGTERM)
            assert before == [signal.SIGTERM]  # asked again: what was there before (the default kills)
        signal.raise_signal(signal.SIGTERM)
        assert before == [signal.SIGTERM] * 2  # the block's handler is gone afterwards
    finally:
        signal.signal(signal.SIGTERM, old)


def test_ctrl_c_pressed_again_only_asks_again(tmp_path: Path) -> None:
    ctx = JobContext(run=RunDir(tmp_path / "run").create())
    with stop_signals(ctx):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)  # Python's own handler would raise KeyboardInterrupt here
    assert ctx.stop_signalled


def test_with_several_processes_a_second_sigterm_is_the_launcher_passing_the_first_on(tmp_path: Path) -> None:
    ctx = JobContext(run=RunDir(tmp_path / "run").create(), rank=1, world_size=2)
    before: list[int] = []
    old = signal.signal(signal.SIGTERM, lambda signum, frame: before.append(signum))
    try:
        with stop_signals(ctx):
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert ctx.stop_signalled and before == []


RANK = """
import os, sys
import torch.distributed as dist
from tuitune.jobs.context import JobContext
from tuitune.jobs.rundir import ControlRequest, RunDir

rank, run_dir = int(sys.argv[1]), sys.argv[2]
dist.init_process_group("gloo", rank=rank, world_size=2)
ctx = JobContext(run=RunDir(run_dir), rank=rank, world_size=2, resume=True)
print("resume", ctx.resume_checkpoint()[0])
for step in range(1, 50):
    ctx.progress(step)
    if rank == 1 and step == 3:
        ctx.stop_signalled = True  # the signal reached this process only (another machine's launcher)
    if rank == 0 and step == 2:
        ctx.run.request(ControlRequest.SAMPLE_NOW)
    request = ctx.poll()
    if request is not None:
        print(request, step)
    if request is ControlRequest.STOP:
        break
dist.destroy_process_group()
"""


@pytest.mark.timeout(120)
def test_every_process_gets_the_same_answer_at_the_same_step(tmp_path: Path) -> None:
    import subprocess

    run = RunDir(tmp_path / "run").create()
    for step in (2, 4):  # a finished checkpoint to resume from: the newest one, for every rank
        folder = run.checkpoint_dir(step)
        folder.mkdir()
        (folder / "state.bin").write_bytes(b"x")
        (folder / "COMPLETE").write_text(f"{step}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", RANK, str(rank), str(run.path)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for rank in (0, 1)]
    outs = [p.communicate(timeout=100) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    for out, _ in outs:
        assert out.split("\n")[:3] == ["resume 4", "sample_now 2", "stop 3"], out
    assert [e["step"] for e in run.read_events() if e["kind"] == "stop_requested"] == [3]  # said once, by rank 0
