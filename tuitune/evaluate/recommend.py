"""Pick the checkpoint to use from evaluation rows, and say why in one line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Recommendation:
    checkpoint: str
    score: float
    reason: str


def _score(row: dict[str, Any]) -> float | None:
    for metric in row.get("metrics", []):
        if metric.get("name") == "intent score":
            return metric.get("value")
    return None


def latest_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest row per checkpoint (re-evaluations replace older results), in checkpoint order."""
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        newest[str(row.get("checkpoint"))] = row
    return sorted(newest.values(), key=lambda r: (r.get("step") is None, r.get("step") or 0))


def recommend(rows: Sequence[dict[str, Any]]) -> Recommendation | None:
    """Highest intent score among checkpoints that evaluated; ties go to the earlier (less trained) one."""
    scored = [(r, _score(r)) for r in latest_rows(rows) if r.get("status") == "ok"]
    scored = [(r, s) for r, s in scored if s is not None]
    if not scored:
        return None
    best_row, best = max(scored, key=lambda rs: (round(rs[1], 6), -(rs[0].get("step") or 0)))
    parts = next(m for m in best_row["metrics"] if m["name"] == "intent score").get("reason", "")
    others = sorted((s, str(r["checkpoint"])) for r, s in scored if r is not best_row)
    runner_up = f"; next best {others[-1][1]} at {others[-1][0]:.3f}" if others else ""
    reason = f"{best_row['checkpoint']} has the highest intent score {best:.3f} ({parts}){runner_up}"
    return Recommendation(str(best_row["checkpoint"]), float(best), reason)
