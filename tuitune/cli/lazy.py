"""A command handler that imports its ``module:function`` only when the command runs (keeps ``--help`` fast)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable


def lazy(target: str) -> Callable[[argparse.Namespace], int | None]:
    """A handler that imports ``module:function`` only when the command runs."""

    def run(args: argparse.Namespace) -> int | None:
        module_name, _, func_name = target.partition(":")
        return getattr(importlib.import_module(module_name), func_name)(args)

    return run
