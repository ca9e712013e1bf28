"""Accuracy of the offline rules parser on the phrasing set, per class and overall, dev and held-out apart.

    nice .venv/bin/python benchmarks/intent_rules.py [--data tests/data/intent_phrasings.jsonl] [--show dev|held-out]
    nice .venv/bin/python benchmarks/intent_rules.py --data tests/data/intent_phrasings_late.jsonl

Each line of the data file is one message (after an optional earlier one, ``before``) with the concepts a
person would expect: ``{"concept": name or [accepted names], "op": keep|modify|delete|dont-care}`` and, where
the message states them, ``value`` (accepted values), ``alternatives`` and ``excluded`` (exact sets).

Scored per (concept, operation) pair: a pair is right when the spec has a concept under one of the accepted
names with that operation. A concept the spec gained that no expectation names (and that the earlier message
did not already hold unchanged) counts as one wrong pair, so inventing concepts costs accuracy too. A message
the parser refuses or asks a question about gets every pair wrong. "details" scores the stated values,
alternatives and exclusions of the pairs that carry them. The dev half is what the parser was tuned on; the
held-out half was written at the same time and is only measured. ``intent_phrasings_late.jsonl`` ("late") was
written after the tuning and measured once before the two fixes it led to (96.2% of pairs then).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuitune.intent.rules import RuleParser  # noqa: E402
from tuitune.intent.spec import Concept, IntentSpec, is_dont_care  # noqa: E402

DATA = ROOT / "tests" / "data" / "intent_phrasings.jsonl"


@dataclass
class Score:
    """Right and total (concept, operation) pairs, and right and total stated details."""

    pairs: int = 0
    pairs_right: int = 0
    details: int = 0
    details_right: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        self.pairs += other.pairs
        self.pairs_right += other.pairs_right
        self.details += other.details
        self.details_right += other.details_right

    @property
    def accuracy(self) -> float:
        return self.pairs_right / self.pairs if self.pairs else 1.0


def load(path: Path = DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _key(name: str) -> str:
    return " ".join(name.casefold().replace("color", "colour").split())


def _operation(concept: Concept) -> str:
    return "dont-care" if is_dont_care(concept) else concept.operation.value


def _fold(values: list[str]) -> set[str]:
    return {_key(v) for v in values}


def score_case(case: dict) -> Score:
    """The pairs and details of one message, with a line per thing that is wrong."""
    expect = case["expect"]
    score = Score(pairs=len(expect), details=sum(1 for e in expect if {"value", "alternatives", "excluded"} & set(e)))
    parser = RuleParser()
    try:
        before = parser.parse(case["before"], None, []) if case.get("before") else None
        spec: IntentSpec = parser.parse(case["text"], before, [])
    except Exception as exc:  # a refusal or a question is a wrong answer to every pair
        score.problems.append(f"{type(exc).__name__}: {exc}")
        return score
    matched: set[str] = set()
    for item in expect:
        names = item["concept"] if isinstance(item["concept"], list) else [item["concept"]]
        concept = next((c for c in spec.concepts if _key(c.name) in {_key(n) for n in names}), None)
        if concept is None:
            score.problems.append(f"missing {names[0]!r} ({item['op']})")
            continue
        matched.add(concept.key)
        if _operation(concept) != item["op"]:
            score.problems.append(f"{concept.name!r}: {_operation(concept)}, want {item['op']}")
            continue
        score.pairs_right += 1
        wrong = []
        if "value" in item and _key(concept.value or "") not in _fold(item["value"]):
            wrong.append(f"value {concept.value!r}, want {item['value'][0]!r}")
        if "alternatives" in item and _fold(concept.alternatives) != _fold(item["alternatives"]):
            wrong.append(f"alternatives {concept.alternatives}, want {item['alternatives']}")
        excluded = getattr(concept, "excluded", [])
        if "excluded" in item and _fold(excluded) != _fold(item["excluded"]):
            wrong.append(f"excluded {excluded}, want {item['excluded']}")
        if {"value", "alternatives", "excluded"} & set(item):
            if wrong:
                score.problems.append(f"{concept.name!r}: " + "; ".join(wrong))
            else:
                score.details_right += 1
    old = {c.key: c for c in before.concepts} if before else {}
    for concept in spec.concepts:
        if concept.key not in matched and (concept.key not in old or old[concept.key] != concept):
            score.pairs += 1
            score.problems.append(f"unexpected {concept.name!r} ({_operation(concept)})")
    return score


def evaluate(cases: list[dict]) -> dict[tuple[str, str], Score]:
    """Scores by (class or "overall", split), each case counted once per class it is tagged with."""
    table: dict[tuple[str, str], Score] = {}
    for case in cases:
        score = score_case(case)
        case["_score"] = score
        for name in [*case["classes"], "overall"]:
            table.setdefault((name, case["split"]), Score()).add(score)
    return table


def _cell(score: Score | None) -> str:
    if score is None or not score.pairs:
        return "-"
    details = f"{score.details_right}/{score.details}" if score.details else "-"
    return f"{score.accuracy:6.1%} ({score.pairs_right}/{score.pairs}), details {details}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--show", metavar="SPLIT", help="print the wrong messages of this half (dev, held-out)")
    args = parser.parse_args(argv)
    cases = load(args.data)
    table = evaluate(cases)
    splits = list(dict.fromkeys(c["split"] for c in cases))
    classes = sorted({name for name, _ in table} - {"overall"}) + ["overall"]
    counts = ", ".join(f"{sum(c['split'] == s for c in cases)} {s}" for s in splits)
    print(f"{len(cases)} messages ({counts})")
    print(f"{'class':<10} " + "  ".join(f"{s:<36}" for s in splits))
    for name in classes:
        print(f"{name:<10} " + "  ".join(f"{_cell(table.get((name, s))):<36}" for s in splits))
    if args.show:
        for case in cases:
            if case["split"] == args.show and case["_score"].problems:
                print(f"- {case['text']!r}: " + "; ".join(case["_score"].problems))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
