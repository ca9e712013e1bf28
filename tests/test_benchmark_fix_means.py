"""benchmarks/fix.py over many seeds: each arm's figure is its mean over the seeds, with its bootstrap spread."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("fix_benchmark", ROOT / "benchmarks" / "fix.py")
fix_benchmark = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fix_benchmark)


def _arm(defect: float, drift: float | None) -> dict:
    return {"defect_rate": defect, "reward": -defect, "drift_outside": drift, "drift_inside": 0.3,
            "watermark_rate": defect, "subject_kept": 1 - defect}


def test_the_means_and_spreads_are_over_seeds_and_a_missing_figure_is_left_out_not_taken_as_zero():
    per_seed = {0: {"focus_n_fix": _arm(0.5, 0.1)}, 1: {"focus_n_fix": _arm(0.0, None)},
                2: {"focus_n_fix": _arm(0.25, 0.3)}}
    means = fix_benchmark.mean_arms(per_seed)["focus_n_fix"]
    assert means["defect_rate"] == 0.25 and means["subject_kept"] == 0.75
    assert means["drift_outside"] == 0.2  # two seeds measured it; the third is not a zero
    found = fix_benchmark.spread(per_seed, "focus_n_fix", "defect_rate")
    assert found["n"] == 3 and found["low"] <= 0.25 <= found["high"] and found["low"] >= 0.0
    assert fix_benchmark.spread({0: {"a": {"drift_outside": None}}}, "a", "drift_outside") is None
