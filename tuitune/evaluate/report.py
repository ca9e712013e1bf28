"""Plain-text table of evaluation rows (one line per checkpoint) and the recommendation under it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tuitune.evaluate.recommend import Recommendation

COLUMNS = (
    ("keep fidelity", "keep"),
    ("modify flexibility", "modify"),
    ("delete absence", "delete"),
    ("drift outside focus", "drift-focus"),
    ("drift on neutral prompts", "drift-neutral"),
    ("intent score", "score"),
)


def _cell(metrics: dict[str, dict[str, Any]], name: str) -> str:
    value = metrics.get(name, {}).get("value")
    return f"{value:.3f}" if isinstance(value, int | float) else "n/a"


def format_rows(rows: Sequence[dict[str, Any]], recommendation: Recommendation | None = None) -> str:
    header = ["checkpoint", *[short for _, short in COLUMNS]]
    lines = [header]
    reasons: dict[str, str] = {}
    for row in rows:
        if row.get("status") != "ok":
            lines.append([str(row.get("checkpoint")), f"FAILED: {row.get('reason', '')}"])
            continue
        metrics = {m["name"]: m for m in row.get("metrics", [])}
        lines.append([str(row.get("checkpoint")), *[_cell(metrics, name) for name, _ in COLUMNS]])
        for name, _ in COLUMNS:
            m = metrics.get(name, {})
            if m.get("value") is None and m.get("reason"):
                reasons.setdefault(name, m["reason"])
    widths = [max(len(line[i]) for line in lines if i < len(line) and len(line) > 2) for i in range(len(header))]
    out = []
    for line in lines:
        if len(line) == 2:
            out.append(f"{line[0].ljust(widths[0])}  {line[1]}")
        else:
            out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    for name, reason in reasons.items():
        out.append(f"{name}: n/a because {reason}")
    first = next((r for r in rows if r.get("status") == "ok"), None)
    if first is not None and first.get("spec_origin"):
        out.append(f"intent: {first['spec_origin']}")
    if first is not None and first.get("references"):
        refs = ", ".join(f"{name} {ref.get('count', 0)} from {ref.get('source', '?')}"
                         for name, ref in first["references"].items())
        out.append(f"keep references: {refs}")
    if recommendation is not None:
        out.append(f"Recommended: {recommendation.reason}.")
    elif rows:
        out.append("No checkpoint could be recommended: none has an intent score.")
    return "\n".join(out)
