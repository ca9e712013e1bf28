"""The app's side of the helper processes: a report, the helper's own refusal, or why there was none."""

from __future__ import annotations

import json

from tuitune.ui.report_process import run_report


def test_a_report_a_refusal_and_a_helper_that_crashed_or_hung(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    refused = run_report("tuitune.fix.heat", [str(broken), str(tmp_path / "out"), "toyworld-critic"], needs="box",
                         what="The heatmap", timeout=120)
    assert set(refused) == {"error"} and "cannot be read" in refused["error"]  # the helper's own sentence
    missing = run_report("tuitune.no_such_helper", [], needs="box", what="The heatmap", timeout=60)
    assert missing["error"].startswith("The heatmap process failed (") and "No module named" in missing["error"]
    hung = run_report("http.server", ["0", "--bind", "127.0.0.1"], needs="box", what="The heatmap", timeout=1)
    assert hung == {"error": "The heatmap took too long or could not start (TimeoutExpired)"}
    plan = run_report("json.tool", ["--compact"], needs="sentence", what="The memory plan", timeout=60,
                      stdin=json.dumps({"sentence": "fits"}))
    assert plan == {"sentence": "fits"}  # the last stdout line, read as the report
