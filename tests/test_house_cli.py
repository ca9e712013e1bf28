"""Only ``tuitune/cli/`` knows argparse: the engine takes typed arguments, the command line is one package.

Every import counts, those inside functions and under ``TYPE_CHECKING`` too. The few modules still allowed are
listed with the reason; each must still import argparse, so the list shrinks as they move.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tuitune

PACKAGE = Path(tuitune.__file__).resolve().parent
CLI = PACKAGE / "cli"

STILL_ALLOWED = {
    # ``python -m tuitune.jobs.worker RUN_DIR [--resume]`` is what the job runner, accelerate (on every process and
    # machine), ``tuitune train CONFIG --accelerate-config`` and the README's other-machine commands start: ``-m``
    # runs that very module, so it reads its own argv, and it cannot hand the parse to tuitune/cli/ because the
    # layers contract puts cli above jobs.
    "jobs/worker.py": "the one worker entry point (python -m tuitune.jobs.worker), below cli in the layers",
}


def imports_argparse(source: str) -> bool:
    """Whether the module imports argparse anywhere (top level, in a function, under TYPE_CHECKING)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "argparse" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "argparse":
            return True
    return False


def modules_importing_argparse() -> set[str]:
    return {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if imports_argparse(path.read_text(encoding="utf-8"))
    }


def test_no_module_outside_the_cli_package_imports_argparse() -> None:
    outside = {m for m in modules_importing_argparse() if not (PACKAGE / m).is_relative_to(CLI)}
    unexpected = sorted(outside - STILL_ALLOWED.keys())
    assert unexpected == [], (
        "argparse belongs in tuitune/cli/<group>.py; these modules import it: " + ", ".join(unexpected)
        + ". Put the options in the command group's cli module and call a function with typed arguments."
    )


@pytest.mark.parametrize("module", sorted(STILL_ALLOWED))
def test_each_module_still_allowed_argparse_still_needs_it(module: str) -> None:
    path = PACKAGE / module
    assert path.is_file(), f"tuitune/{module} is gone; drop it from STILL_ALLOWED"
    assert imports_argparse(path.read_text(encoding="utf-8")), (
        f"tuitune/{module} no longer imports argparse; drop it from STILL_ALLOWED"
    )


def test_the_command_groups_live_in_the_cli_package() -> None:
    from tuitune.cli import AREAS

    assert all(area.startswith("tuitune.cli.") for area in AREAS), AREAS
    assert not sorted(PACKAGE.glob("*/commands.py")), "a command group's argparse wiring lives in tuitune/cli/"


@pytest.mark.parametrize(("source", "found"), [
    ("import argparse\n", True),
    ("import os, argparse as ap\n", True),
    ("from argparse import Namespace\n", True),
    ("def f():\n    import argparse\n", True),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from argparse import Namespace\n", True),
    ("from . import argparse_like\nimport argparsex\n", False),
    ("text = 'import argparse'\n", False),
])
def test_an_argparse_import_is_found_wherever_it_is(source: str, found: bool) -> None:
    assert imports_argparse(source) is found
