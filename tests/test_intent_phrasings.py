"""The rules parser on the phrasing set (tests/data/intent_phrasings.jsonl): >= 90% of (concept, operation) pairs
right on the dev half it was tuned on, on the held-out half it was not, and on the set written after the tuning
(intent_phrasings_late.jsonl). benchmarks/intent_rules.py prints the figures per class."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("intent_rules_benchmark", ROOT / "benchmarks" / "intent_rules.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench  # its dataclasses look their module up there
_spec.loader.exec_module(bench)

CASES = bench.load()
LATE = bench.load(ROOT / "tests" / "data" / "intent_phrasings_late.jsonl")
OPERATIONS = {"keep", "modify", "delete", "dont-care"}


def test_the_set_is_large_varied_and_split_in_halves():
    assert len(CASES) >= 80
    assert len({c["text"] for c in CASES}) == len(CASES)
    splits = Counter(c["split"] for c in CASES)
    assert set(splits) == {"dev", "held-out"} and abs(splits["dev"] - splits["held-out"]) <= len(CASES) // 10
    for name in ("negation", "exclusion", "value", "clause"):
        assert {c["split"] for c in CASES if name in c["classes"]} == {"dev", "held-out"}, name
    ops = Counter(e["op"] for c in CASES for e in c["expect"])
    assert set(ops) == OPERATIONS and min(ops.values()) >= 10


@pytest.mark.parametrize("split", ["dev", "held-out", "late"])
def test_at_least_nine_in_ten_pairs_are_right(split):
    cases = [c for c in CASES + LATE if c["split"] == split]
    table = bench.evaluate(cases)
    overall = table[("overall", split)]
    wrong = [f"{c['text']!r}: {'; '.join(c['_score'].problems)}" for c in cases
             if c["_score"].pairs_right < c["_score"].pairs]
    assert overall.accuracy >= 0.9, f"{overall.pairs_right}/{overall.pairs} right:\n" + "\n".join(wrong)


def test_a_refusal_or_an_invented_concept_costs_pairs():
    refused = bench.score_case({"text": "hello there", "expect": [{"concept": "face", "op": "keep"}]})
    assert (refused.pairs_right, refused.pairs) == (0, 1)
    invented = bench.score_case({"text": "keep the face and the hat", "expect": [{"concept": "face", "op": "keep"}]})
    assert (invented.pairs_right, invented.pairs) == (1, 2)
