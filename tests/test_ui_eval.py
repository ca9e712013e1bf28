"""Intent metrics on the Train screen: eval.jsonl rows become a per-checkpoint table; e queues an evaluation."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from test_ui import app_for, make_project, wait_for

pytestmark = pytest.mark.anyio

NAMES = ("keep fidelity", "modify flexibility", "delete absence", "drift outside focus",
         "drift on neutral prompts", "intent score")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    monkeypatch.setattr("tuitune.jobs.queue.start_next", lambda runs_root: None)  # queued, never started
    root = make_project(tmp_path / "proj")
    from tuitune.project.project import Project

    with Project.open(root) as handle:  # the Train screen opens on train-a (finished, checkpoint at 40)
        handle.db.ui_set("app", {"screen": "intent", "selection": {"train": {"run": "train-a"}}})
    return root


def eval_row(checkpoint: str, step: int | None, values: dict[str, float | None], settings: str = "s1",
             failed: str = "") -> dict:
    """A row as evaluate_run appends it to RUN/eval.jsonl."""
    metrics = [{"name": name, "value": values.get(name),
                "reason": "" if values.get(name) is not None else f"no {name.split()[0]} concept in the intent",
                "details": {}} for name in NAMES]
    if values.get("intent score") is not None:
        metrics[-1]["reason"] = f"keep {values.get('keep fidelity')}"
    row = {"time": 1.0, "checkpoint": checkpoint, "step": step, "settings": settings, "spec_version": 2,
           "prompts": 6, "excluded_prompts": [], "notes": [], "backends_missing": {}, "spec_origin": "project",
           "references": {}, "seconds": 1.5}
    if failed:
        row.update(status="failed", reason=failed, metrics=[])
    else:
        row.update(status="ok", reason="", metrics=metrics)
    return row


def append(run: Path, *rows: dict) -> None:
    with open(run / "eval.jsonl", "a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def drawn(widget) -> str:
    """The text the widget paints on the terminal."""
    from textual.geometry import Region

    return "\n".join(s.text for s in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height)))


def eval_text(screen) -> str:
    panel = screen.query_one("#eval-table")
    if not panel.display:
        return ""
    return drawn(panel.query_one(".eval-grid")) + "\n" + drawn(panel.query_one(".eval-notes"))


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_eval_rows_fill_a_table_with_the_recommended_checkpoint_and_new_rows_arrive(
        project: Path, size: tuple[int, int]) -> None:
    run = project / "runs" / "train-a"
    good = {"keep fidelity": 0.81, "modify flexibility": None, "delete absence": 0.9,
            "drift outside focus": 0.12, "drift on neutral prompts": 0.2, "intent score": 0.7}
    append(run, eval_row("step_20", 20, {**good, "intent score": 0.55}), eval_row("step_40", 40, good),
           eval_row("step_30", 30, {}, failed="the LoRA file is missing"))
    app = app_for(project)
    async with app.run_test(size=size) as pilot:
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: "step_40" in eval_text(screen) or "★40" in eval_text(screen))
        text = eval_text(screen)
        lines = text.splitlines()
        words = " ".join(text.split())  # the notes wrap on a narrow terminal
        # Checkpoints in step order, the best intent score starred, the failed one saying why.
        best = next(line for line in lines if "★" in line)
        assert "40" in best and ("0.700" in best or "0.70" in best)
        assert [w for w in ("20", "30", "40") if any(line.lstrip(" ★✗").startswith(("step_" + w, w))
                                                     for line in lines)] == ["20", "30", "40"]
        assert next(line for line in lines if "30" in line).lstrip().startswith("✗")
        assert "n/a" in best
        # On a short terminal the notes are cut to two lines; their tooltip has them all.
        tall = size[1] >= 30
        notes = words if tall else " ".join(str(screen.query_one(".eval-notes").tooltip).split())
        assert "step_30 failed: the LoRA file is missing" in notes
        assert "modify: n/a because no modify concept in the intent" in notes
        assert "step_40 has the highest intent score 0.700" in words
        # Every column keeps its header whole at this width.
        for header in ("keep", "del", "drift", "score"):
            assert header in lines[0] + lines[1]
        assert max(len(line.rstrip()) for line in drawn(screen.query_one(".eval-grid")).splitlines()) \
            <= screen.query_one("#eval-table").size.width

        # An evaluation job appends a row for the final LoRA: the table takes it in at the next poll.
        append(run, eval_row("final", None, {**good, "intent score": 0.9}))
        await wait_for(pilot, lambda: "final has the highest intent score 0.900" in " ".join(
            eval_text(screen).split()))
        assert "★final" in eval_text(screen)

        # The user deletes eval.jsonl to evaluate afresh: the new file's rows replace the old ones.
        (run / "eval.jsonl").unlink()
        append(run, eval_row("step_40", 40, {**good, "intent score": 0.6}, settings="s2"))
        await wait_for(pilot, lambda: "step_40 has the highest intent score 0.600" in " ".join(
            eval_text(screen).split()))
        rows = [line for line in drawn(screen.query_one(".eval-grid")).splitlines()[2:] if line.strip()]
        assert len(rows) == 1 and "40" in rows[0]


async def open_train_on_train_a(pilot):
    """Switch to Train and wait until it shows the run the project selected (train-a)."""
    await pilot.press("4")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.summary is not None and screen.summary.name == "train-a")
    return screen


async def test_a_run_without_eval_rows_shows_no_table(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_train_on_train_a(pilot)
        assert not screen.query_one("#eval-table").display


async def test_e_queues_an_evaluate_job_for_the_selected_training_run(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_train_on_train_a(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: len(screen._shown_rows) == 3)
        jobs = [p for p in (project / "runs").iterdir() if p.name.startswith("train-a-eval-")]
        assert len(jobs) == 1
        config = tomllib.loads((jobs[0] / "run.toml").read_text(encoding="utf-8"))
        assert config["job"]["kind"] == "evaluate"
        assert Path(config["evaluate"]["run"]) == (project / "runs" / "train-a").resolve()
        assert config["evaluate"]["detector"] == "analytic"  # the project's vision backends
        said = " ".join(n.message for n in app._notifications)
        assert jobs[0].name in said and "train-a/eval.jsonl" in said

        # The evaluate job itself, and a run with no checkpoint, are refused in one sentence.
        for name, why in ((jobs[0].name, "not a training run"), ("train-b", "has no checkpoint yet")):
            screen.query_one("#runs-table").move_cursor(row=[r[0] for r in screen._shown_rows].index(name))
            await wait_for(pilot, lambda name=name: screen.summary is not None and screen.summary.name == name)
            app.clear_notifications()
            await pilot.press("e")
            await wait_for(pilot, lambda why=why: any(why in n.message for n in app._notifications))
        assert len([p for p in (project / "runs").iterdir() if "-eval-" in p.name]) == 1


def test_cli_detach_queues_the_same_job(project: Path, capsys) -> None:
    from tuitune import cli

    assert cli.main(["eval", str(project / "runs" / "train-a"), "--detach", "--detector", "toyworld"]) == 0
    jobs = [p for p in (project / "runs").iterdir() if p.name.startswith("train-a-eval-")]
    config = tomllib.loads((jobs[0] / "run.toml").read_text(encoding="utf-8"))
    assert config["job"]["kind"] == "evaluate"
    # The detector named on the command line; the others the project's, as the app's e key queues them.
    assert config["evaluate"] == {"run": str((project / "runs" / "train-a").resolve()), "detector": "toyworld",
                                  "segmenter": "analytic", "embedder": "analytic"}
    assert "queued" in capsys.readouterr().out
    # A second evaluation of the same run while the first is queued would append the same rows twice.
    assert cli.main(["eval", str(project / "runs" / "train-a"), "--detach"]) == 2
    assert f"{jobs[0].name} is already evaluating train-a" in capsys.readouterr().err
    assert cli.main(["eval", str(project / "runs" / "train-b"), "--detach"]) == 2
    assert "has no checkpoint yet" in capsys.readouterr().err


def test_eval_feed_reads_a_replaced_file_from_its_start_even_when_it_is_longer(tmp_path: Path) -> None:
    from tuitune.evaluate.eval_view import EvalFeed

    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps(eval_row("step_10", 10, {"intent score": 0.2})) + "\n", encoding="utf-8")
    feed = EvalFeed(path)
    assert [line.checkpoint for line in feed.read().lines] == ["step_10"]
    path.unlink()  # evaluated afresh: a new file, longer than the old one by the next read
    rows = [eval_row("step_20", 20, {"intent score": 0.4}), eval_row("step_30", 30, {"intent score": 0.5})]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert [line.checkpoint for line in feed.read().lines] == ["step_20", "step_30"]
