"""Pick the checkpoint to use from evaluation rows, and say why in one line.

The order: a checkpoint that kept every keep concept beats one whose keep could not be measured, which beats
one that lost a kept concept (drew it in fewer than half its trigger samples), whatever their intent scores;
then a fully measured score beats one with parts missing; then the higher intent score; ties go to the
earlier (less trained) checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# A keep concept found in fewer trigger samples than this share counts as lost.
KEPT_SHARE = 0.5
KEPT, UNKNOWN, LOST = 2, 1, 0


@dataclass
class Recommendation:
    checkpoint: str
    score: float
    reason: str
    confidence: float = 1.0


def _metric(row: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((m for m in row.get("metrics", []) if m.get("name") == name), None)


def _score(row: dict[str, Any]) -> float | None:
    metric = _metric(row, "intent score")
    return metric.get("value") if metric else None


def keep_status(row: dict[str, Any]) -> tuple[int, str]:
    """(KEPT | UNKNOWN | LOST, the concepts lost or unmeasured) of one evaluation row."""
    keep = _metric(row, "keep fidelity")
    if keep is None:
        return UNKNOWN, "keep fidelity was not evaluated"
    if keep.get("value") is None and "no keep concepts" in str(keep.get("reason", "")):
        return KEPT, ""
    concepts = (keep.get("details") or {}).get("concepts") or {}
    if keep.get("value") is None and not concepts:
        return UNKNOWN, str(keep.get("reason", "keep fidelity n/a"))
    lost, unknown = [], []
    for name, info in concepts.items():
        samples = int(info.get("samples") or 0)
        if info.get("value") is None or samples == 0:
            unknown.append(name)
        elif 1.0 - int(info.get("missed") or 0) / samples < KEPT_SHARE:
            lost.append(f"{name!r} in {samples - int(info.get('missed') or 0)}/{samples} trigger samples")
    if lost:
        return LOST, "drew " + ", ".join(lost)
    if unknown:
        return UNKNOWN, "could not measure " + ", ".join(repr(n) for n in unknown)
    return KEPT, ""


def _confidence(row: dict[str, Any]) -> float:
    metric = _metric(row, "intent score") or {}
    return float((metric.get("details") or {}).get("confidence", 1.0))


def latest_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest row per checkpoint (re-evaluations replace older results), in checkpoint order."""
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        newest[str(row.get("checkpoint"))] = row
    return sorted(newest.values(), key=lambda r: (r.get("step") is None, r.get("step") or 0))


def recommend(rows: Sequence[dict[str, Any]]) -> Recommendation | None:
    """The checkpoint to use among those that evaluated (see the module docstring for the order)."""
    scored = [(r, _score(r)) for r in latest_rows(rows) if r.get("status") == "ok"]
    scored = [(r, s) for r, s in scored if s is not None]
    if not scored:
        return None

    def rank(item: tuple[dict[str, Any], float]) -> tuple[int, bool, float, int]:
        row, score = item
        return keep_status(row)[0], _confidence(row) >= 1.0, round(score, 6), -(row.get("step") or 0)

    best_row, best = max(scored, key=rank)
    status, why = keep_status(best_row)
    parts = (_metric(best_row, "intent score") or {}).get("reason", "")
    beaten = [(s, r) for r, s in scored if r is not best_row and s > best]
    which = "intent score" if beaten else "the highest intent score"
    reason = f"{best_row['checkpoint']} has {which} {best:.3f} ({parts})"
    if beaten:
        s, r = max(beaten, key=lambda sr: sr[0])
        reason += f"; {r['checkpoint']} scores {s:.3f} but {keep_status(r)[1] or 'has parts of its score missing'}"
    else:
        others = sorted((s, str(r["checkpoint"])) for r, s in scored if r is not best_row)
        if others:
            reason += f"; next best {others[-1][1]} at {others[-1][0]:.3f}"
    if status == LOST:
        reason += f"; every checkpoint lost a kept concept ({why})"
    elif status == UNKNOWN:
        reason += f"; whether it kept what you asked is unknown ({why})"
    return Recommendation(str(best_row["checkpoint"]), float(best), reason, _confidence(best_row))
