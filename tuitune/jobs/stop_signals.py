"""SIGINT and SIGTERM ask a running job to checkpoint and stop, in the job worker and in a process that trains."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from tuitune.jobs.context import JobContext

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_signals(ctx: JobContext) -> Iterator[JobContext]:
    """While the block runs, SIGINT and SIGTERM set ``ctx.stop_signalled``: the job checkpoints at its next poll,
    then stops. Ctrl-C pressed again only asks again (the checkpoint being written is not lost). A second SIGTERM
    is someone insisting: in a single process it does what SIGTERM did before the block (stops it at once); with
    several, the launcher (accelerate, torchrun) passes the first one on, so a second is only that.
    Outside the main thread signals cannot be caught and are left alone."""
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGTERM and ctx.stop_signalled and ctx.world_size == 1:
            signal.signal(signum, previous[signum] or signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        ctx.stop_signalled = True

    for sig in SIGNALS:
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread
            pass
    try:
        yield ctx
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
