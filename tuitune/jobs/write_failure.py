"""Recognise a failed file write behind whatever a library raised: an OSError, or torch's and safetensors' own."""

from __future__ import annotations

import errno
import os
import re

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


def reason_and_fix(exc: OSError) -> tuple[str, str]:
    """What went wrong and what to do, as two short clauses for a sentence."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full", "free some space"
    if exc.errno == errno.EFBIG:
        return "a file grew past the file-size limit (ulimit -f)", "raise that limit"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission was denied", "make the run folder writable"
    if exc.errno is None:
        return (
            "a file write failed (disk full? file-size limit, ulimit -f?)",
            "free some space or raise the file-size limit",
        )
    return str(exc.strerror or exc), "fix that"
