"""A fix run's results as files: the newest fix of a prompt, its before/after pictures of a seed, mask and report.

Read only from what the run wrote (``eval/frozen/NNN.png`` with ``NNN_mask.png``, ``eval/tuned/NNN.png``,
``fix_report.json``), so the app shows them without torch. Picture NNN is the NNN-th (prompt, seed) pair of the
evaluation prompts (the training prompts when none are given) times the evaluation seeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.jobs.queue import run_dirs
from tuitune.jobs.rundir import RunDir

REPORT = "fix_report.json"


def read_report(run_path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(run_path) / REPORT).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def fix_settings(run: RunDir) -> dict[str, Any] | None:
    """The ``[fix]`` table of a fix run; None for any other run or an unreadable run.toml."""
    try:
        config = run.config()
    except UserError:
        return None
    table = config.get("fix")
    return table if config.get("job", {}).get("kind") == "fix" and isinstance(table, dict) else None


def newest_fix(runs_root: Path, prompt: str) -> RunDir | None:
    """The newest fix run whose prompts include ``prompt``."""
    for run in reversed(run_dirs(runs_root)):
        table = fix_settings(run)
        if table is not None and prompt in table.get("prompts", []) + table.get("eval_prompts", []):
            return run
    return None


@dataclass(frozen=True)
class FixComparison:
    """Before (the frozen model) and after (with the fix's LoRA) for one prompt and seed, and the run's figures."""

    run: RunDir
    seed: int
    before: Path
    after: Path
    mask: Path | None
    report: dict[str, Any]

    @property
    def drift_outside(self) -> float | None:
        value = self.report.get("drift_outside")
        return float(value) if isinstance(value, int | float) else None

    def summary(self) -> str:
        """The report in one line: drift outside and inside the region, reward and defect rate before → after."""
        parts = [f"drift outside the region {_figure(self.drift_outside)}",
                 f"inside {_figure(self.report.get('drift_inside'))}"]
        base, tuned = self.report.get("base", {}), self.report.get("tuned", {})
        parts.append(f"reward {_figure(base.get('reward'))} → {_figure(tuned.get('reward'))}")
        if base.get("defect_rate") is not None or tuned.get("defect_rate") is not None:
            parts.append(f"defects {_share(base.get('defect_rate'))} → {_share(tuned.get('defect_rate'))}")
        return f"{self.run.name}: " + " · ".join(parts)


def comparison(run: RunDir, prompt: str, seed: int) -> FixComparison | None:
    """``prompt`` at ``seed`` before and after (the first evaluation seed when ``seed`` is not one of them); None
    while the run has no report or pictures yet."""
    table, report = fix_settings(run), read_report(run.path)
    if table is None or report is None:
        return None
    prompts = table.get("eval_prompts") or table.get("prompts", [])
    seeds = table.get("eval_seeds", [])
    if prompt not in prompts or not seeds:
        return None
    shown = seed if seed in seeds else seeds[0]
    name = f"{prompts.index(prompt) * len(seeds) + seeds.index(shown):03d}"
    before, after = run.path / "eval" / "frozen" / f"{name}.png", run.path / "eval" / "tuned" / f"{name}.png"
    if not (before.is_file() and after.is_file()):
        return None
    mask = before.with_name(f"{name}_mask.png")
    return FixComparison(run, shown, before, after, mask if mask.is_file() else None, report)


def _figure(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "missing"


def _share(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "missing"
