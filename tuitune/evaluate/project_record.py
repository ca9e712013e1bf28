"""Record a run's evaluation rows and recommended checkpoint in its project's database."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.evaluate.recommend import Recommendation
from tuitune.jobs.rundir import RunDir

log = logging.getLogger(__name__)


def record_in_project(
    project_root: Path, run: RunDir, rows: Sequence[dict[str, Any]], pick: Recommendation | None
) -> str | None:
    """Store the rows under the run's name; returns why they were not stored, or None when they were.

    eval.jsonl in the run stays the full record, so a project that cannot be written loses nothing.
    """
    from tuitune.project.project import open_for_update

    try:
        # Evaluation rows are appended in one transaction, so writing beside the app that holds the lock is safe.
        project = open_for_update(project_root, delegate=True)
    except UserError as exc:
        log.warning("evaluation not recorded in %s: %s", project_root, exc)
        return str(exc)
    if project is None:
        return f"{project_root} could not be opened for writing"
    try:
        project.db.record_evals(run.name, rows, pick.checkpoint if pick else None)
    except UserError as exc:
        log.warning("evaluation not recorded in %s: %s", project_root, exc)
        return str(exc)
    finally:
        project.close()
    return None
