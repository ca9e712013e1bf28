"""The one-JSON-line protocol of tuitune's short helper processes (``python -m tuitune.fix.heat``,
``python -m tuitune.train.plan_file``), which the app runs because it never imports torch itself.

The process prints one JSON object on its last stdout line: the report, or ``{"error": sentence}`` with exit
code 1 when the user's input is refused; a wrong command line is usage on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from tuitune.errors import UserError


def print_report(make: Callable[[], dict[str, Any]]) -> int:
    """Print ``make()``'s report as one JSON line (exit code 0), or its refusal as ``{"error": ...}`` (1)."""
    try:
        report = make()
    except (UserError, ValueError) as exc:  # UserError's sentence; a ValueError's first line (bad JSON, a value)
        print(json.dumps({"error": str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}))
        return 1
    print(json.dumps(report))
    return 0


def usage(text: str) -> int:
    print(f"usage: {text}", file=sys.stderr)
    return 2
