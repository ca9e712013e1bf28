"""A failed file write: recognised behind whatever a library raised (an OSError, torch's or safetensors' own) and
said in one sentence."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from tuitune.jobs.rundir import RunDir

# torch.save reports a short write from its C++ zip writer, without the errno.
_TORCH_WRITE = ("inline_container.cc", "PytorchStreamWriter failed", "file write failed", "basic_ios::clear")


def write_failure(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc``; errno is None when the library did not say which (torch's zip writer)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    match = re.search(r"os error (\d+)", text)  # safetensors: "I/O error: File too large (os error 27)"
    if match:
        number = int(match[1])
        return OSError(number, os.strerror(number))
    if isinstance(exc, RuntimeError) and any(mark in text for mark in _TORCH_WRITE):
        return OSError(None, "a file write failed")
    return None


def explain(exc: OSError, run: RunDir, checkpoint_step: int | None = None, resume: str | None = None) -> str:
    """One sentence for a failed write in ``run``: what went wrong, where (``checkpoint_step``, the file), what to
    do, and where ``resume`` (default: `tuitune resume NAME`) then continues."""
    parts = []
    if checkpoint_step is not None:
        parts.append(f"checkpoint step {checkpoint_step}")
    if exc.filename:
        parts.append(Path(exc.filename).name)
    where = f" while writing {' '.join(parts)}" if parts else ""
    resume = resume or f"`tuitune resume {run.name}`"
    steps = [step for step in run.checkpoint_steps() if step != checkpoint_step]
    then = (
        f"then {resume} continues from step {steps[-1]} (the last intact checkpoint)"
        if steps
        else f"then {resume} starts it again"
    )
    if exc.errno == errno.ENOSPC:
        return f"The disk is full{where}; free some space, {then}."
    if exc.errno == errno.EFBIG:
        return f"A file grew past the allowed size{where}; raise the file-size limit (ulimit -f), {then}."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Permission denied{where}; make the run folder writable, {then}."
    if exc.errno is None:  # torch's zip writer does not say why
        return f"A file write failed{where} (disk full? file-size limit?); free space or raise ulimit -f, {then}."
    return f"{exc.strerror or exc}{where}; fix that, {then}."
