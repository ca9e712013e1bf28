import os
import time

from tuitune.jobs.rundir import ControlRequest, JsonlTail, RunDir, RunState


def test_truncated_last_metrics_line_is_left_for_later(tmp_path):
    run = RunDir(tmp_path / "r").create()
    run.append_metric({"step": 1, "loss": 0.5})
    with open(run.metrics_jsonl, "a") as fh:
        fh.write('{"step": 2, "lo')
    tail = JsonlTail(run.metrics_jsonl)
    assert [r["step"] for r in tail.read_new()] == [1]
    with open(run.metrics_jsonl, "a") as fh:
        fh.write('ss": 0.4}\n')
    assert [r["step"] for r in tail.read_new()] == [2]


def test_dead_worker_with_stale_heartbeat_reads_as_crashed(tmp_path):
    run = RunDir(tmp_path / "r").create()
    run.write_status(state=RunState.RUNNING, pid=os.getpid(), step=3)
    assert run.state() is RunState.RUNNING
    run.write_status(pid=999_999_999)
    assert run.state(now=time.time() + 3600) is RunState.CRASHED
    run.write_status(state=RunState.FINISHED)
    assert run.state() is RunState.FINISHED


def test_control_request_is_taken_once(tmp_path):
    run = RunDir(tmp_path / "r").create()
    run.request(ControlRequest.STOP)
    assert run.take_request() is ControlRequest.STOP
    assert run.take_request() is None
