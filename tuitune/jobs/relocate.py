"""Rebase a run's frozen paths after its project folder moved: the old project prefix becomes the new one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from tuitune import atomic
from tuitune.jobs.rundir import RunDir

# run.toml [job] key holding the run folder's absolute path when the run was made.
RECORDED_KEY = "run_dir"


def rebase_paths(value: Any, old_root: Path, new_root: Path) -> Any:
    """``value`` with every absolute path string under ``old_root`` moved under ``new_root``."""
    if isinstance(value, dict):
        return {k: rebase_paths(v, old_root, new_root) for k, v in value.items()}
    if isinstance(value, list):
        return [rebase_paths(v, old_root, new_root) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        path = Path(value)
        if path == old_root or path.is_relative_to(old_root):
            return str(new_root / path.relative_to(old_root))
    return value


def rebase_moved_run(run: RunDir, config: dict[str, Any]) -> str | None:
    """When the run folder is no longer where run.toml says it was made, rewrite run.toml so paths into the
    old project (the run folder's grandparent) point into the new one; returns a sentence, or None."""
    recorded = config.get("job", {}).get(RECORDED_KEY)
    here = run.path.resolve()
    if not recorded or Path(recorded) == here:
        return None
    old_project, new_project = Path(recorded).parents[1], here.parents[1]
    moved = rebase_paths(config, old_project, new_project)
    moved["job"][RECORDED_KEY] = str(here)
    atomic.write_text(run.run_toml, tomli_w.dumps(moved))
    return f"The project moved from {old_project} to {new_project}; the run's paths were updated."
