"""Train screen: settings form, start/stop/pause/sample-now, progress with ETA, loss/lr plots, samples."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from tuitune.evaluate.eval_view import EvalFeed, EvalView
from tuitune.evaluate.queue_job import EVAL_FILE
from tuitune.jobs.listing import RunSummary, latest_samples, live_training_run, summarize
from tuitune.jobs.progress import MetricsHistory
from tuitune.jobs.rundir import JsonlTail, RunDir, RunState
from tuitune.ui.screens.base import ProjectScreen
from tuitune.ui.train_settings import SETTINGS, TRAIN_CONFIG_FILE, Setting
from tuitune.ui.widgets.eval_table import EvalTable
from tuitune.ui.widgets.picture import Picture
from tuitune.ui.widgets.run_plot import RunPlot
from tuitune.ui.widgets.run_progress import RunProgress
from tuitune.ui.widgets.runs_table import RunsTable


@dataclass
class RunsSnapshot:
    """What one poll read from disk (in a thread): every run's row, and the selected run's news."""

    rows: list[tuple[str, RunState, str]] = field(default_factory=list)  # name, state, "step/total"
    selected: str | None = None
    summary: RunSummary | None = None
    evaluation: EvalView | None = None  # intent metrics per checkpoint, once an evaluation wrote rows
    samples: tuple[int | None, list[Path]] = (None, [])

    def shown_key(self) -> tuple[RunsSnapshot, int]:
        """What showing this snapshot puts on the screen: the plots' series grow in place (they are the run's
        history), so their length as of now is part of it."""
        return self, len(self.summary.steps) if self.summary is not None else -1


SELECT_SETTLE_SECONDS = 0.12  # the cursor rests this long on a run before it is read
NARROW_BELOW = 120  # columns; the runs table and HORIZONTAL_BREAKPOINTS below change shape there
SHORT_BELOW = 30  # rows
CHOICE_LABELS = {"constant_with_warmup": "constant+warmup", "cosine_with_restarts": "cosine+restarts"}


class TrainScreen(ProjectScreen):
    MODE = "train"
    AUTO_FOCUS = "#runs-table"
    # Below 120 columns the runs pane and the form give up width so the progress and plots keep some.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_BELOW, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (SHORT_BELOW, "-tall")]  # the intent metrics shrink when short
    BINDINGS = [
        Binding("s", "start", "Start", id="train.start", tooltip="Start a training run with these settings"),
        Binding("x", "stop", "Stop", id="train.stop", tooltip="Checkpoint, then stop the selected run"),
        # Short descriptions: at 80 columns the key bar holds all six keys, Help and the palette.
        Binding("p", "pause", "Pause", id="train.pause", tooltip="Pause or continue the selected run"),
        Binding("n", "sample_now", "Sample now", id="train.sample", tooltip="Ask the run for samples now"),
        Binding("r", "resume", "Resume", id="train.resume",
                tooltip="Continue a stopped, failed or crashed run from its last checkpoint"),
        Binding("e", "evaluate", "Eval", id="train.evaluate",
                tooltip="Evaluate the run's checkpoints against the intent (queues a job)"),
        # Steps is the setting a short first run changes (kohya's max_train_steps): one key from the runs, last
        # in the bar so at 80 columns it is the one left out (F1 lists it).
        Binding("t", "focus_steps", "Steps", id="train.steps",
                tooltip="Go to the steps field and type the number (esc: back to the runs)"),
        Binding("m", "memory_plan", "Plan", id="train.plan",
                tooltip="Predict the peak memory of a run with these settings against what is free now"),
        # Letters typed in a settings field go into the field; escape brings the run keys back.
        Binding("escape", "focus_runs", "Runs", id="train.runs", show=False,
                tooltip="Leave the settings form for the runs table (s, x, p, n, r, e act there)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: str | None = None
        self._tails: dict[str, JsonlTail] = {}
        self._histories: dict[str, MetricsHistory] = {}
        self._evals: dict[str, EvalFeed] = {}
        self._read_lock = threading.Lock()  # a timer poll and a direct refresh must not share a tail at once
        self._shown_rows: list[tuple[str, RunState, str]] = []
        self._select_timer: Timer | None = None
        self.summary: RunSummary | None = None
        self._sample_key: tuple[str, int | None] | None = None
        self._applied: tuple[RunsSnapshot, int] | None = None  # shown_key() of the last snapshot shown

    def body(self) -> ComposeResult:
        # Runs above settings on the left, so the run's progress and plots keep most of the width: at 80
        # columns three panes side by side left the plots a dozen columns.
        with Horizontal(id="train-body"):
            with Vertical(id="train-side"):
                with Vertical(id="train-runs"):
                    yield Label("Runs", classes="pane-title")
                    yield RunsTable(NARROW_BELOW, id="runs-table")
                # Not focusable itself: tab goes straight to the first field (focusing the form restyled its
                # seventy widgets, a tenth of a second), and the form scrolls to whichever field has focus.
                with VerticalScroll(id="train-form", can_focus=False):
                    yield Label("Settings (esc: back to runs)", classes="pane-title")
                    for setting in SETTINGS:
                        yield from self._field(setting)
                    yield Static("", id="train-plan", markup=False)  # the memory plan, once m asked for it
                # Under the form, not at its end: on a 24-row terminal the form scrolls and the button stays.
                yield Button("Start (s)", id="train-start", variant="primary")
            with Vertical(id="train-main"):
                yield Static("No run selected.", id="run-title")
                # Never indeterminate: its animation repaints many times a second, which costs CPU and an SSH
                # link's bandwidth while a run only waits in the queue.
                yield RunProgress(total=1, id="run-progress", show_eta=False)
                yield Static("", id="run-line")
                yield Static("", id="run-files")
                yield Static("", id="run-alert")
                with Horizontal(id="train-plots"):
                    yield RunPlot("loss", id="loss-plot")
                    yield RunPlot("learning rate", id="lr-plot")
                yield Static("Samples", id="samples-title", classes="pane-title")
                yield Horizontal(id="train-samples")
                yield EvalTable(NARROW_BELOW, SHORT_BELOW, id="eval-table")

    @staticmethod
    def _field(setting: Setting) -> ComposeResult:
        """One line per setting (label, then a borderless field), so every setting fits on one screen."""
        with Horizontal(classes="setting-row"):
            yield Label(setting.label, classes="setting-label")
            if setting.kind is bool:
                yield Checkbox("", id=setting.ident, classes="setting", compact=True)
            elif setting.choices:
                # Long choices are shown shortened (the field is 14 columns at 80); the tooltip names them all.
                yield Select([(CHOICE_LABELS.get(c, c), c) for c in setting.choices], id=setting.ident,
                             allow_blank=False, classes="setting", compact=True,
                             tooltip=f"{setting.label}: {', '.join(setting.choices)}")
            else:
                yield Input(id=setting.ident, classes="setting", compact=True, tooltip=setting.help or None,
                            placeholder=setting.blank)

    def populate(self) -> None:
        self._fill_form()
        # Reopened while a training run is at work (an SSH link dropped): that run, not the one left selected.
        live = live_training_run(self.project.runs())
        self.selected = live.name if live is not None else self.saved_selection().get("run")
        self.refresh_runs()
        self.poll_every(self.app.settings.poll_seconds, self._tick)  # type: ignore[attr-defined]

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.ready:
            # Catch up (the timer did nothing while another screen was shown), once the screen is painted.
            self.call_after_refresh(self._poll)

    def selection_state(self) -> dict:
        return {"run": self.selected} if self.selected else {}

    # --- settings ------------------------------------------------------------------------------------
    def _fill_form(self) -> None:
        from tuitune.ui.train_settings import base_config, form_values

        config, warning = base_config(self.project.root)
        if warning:
            self.notify(warning, severity="warning")
        for setting, value in form_values(config).items():
            widget = self.query_one(f"#{setting.ident}")
            if isinstance(widget, Checkbox):
                widget.value = bool(value)
            elif isinstance(widget, Select):
                if value in setting.choices:
                    widget.value = value
            else:
                widget.value = str(value)  # type: ignore[attr-defined]

    def raw_form(self) -> dict[Setting, Any]:
        return {s: self.query_one(f"#{s.ident}").value for s in SETTINGS}  # type: ignore[attr-defined]

    # --- runs ----------------------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.on_terminal:
            self._poll()

    @work(thread=True, exclusive=True, group="train-poll")
    def _poll(self) -> None:
        asked = self.selected
        snapshot = self._read(asked)
        self.from_thread(self._apply_poll, snapshot, asked)

    def _apply_poll(self, snapshot: RunsSnapshot, asked: str | None) -> None:
        # The user picked another run while this was read (on a busy machine that takes a while): showing
        # the stale read would move the cursor back to the run they left.
        # Likewise when the cursor has moved and its highlight message is still queued: moving the cursor
        # back to ``asked`` would turn that message stale and lose the key press.
        # A read that ends after the user left the screen is not shown: laying it out then made the next visit
        # redo the layout inside the key press; the visit reads again once it has painted.
        # Nothing new (a finished run, or one waiting in the queue): the widgets already show it.
        table = self._runs_table()
        if table is None or self.selected != asked or not self.on_terminal or snapshot.shown_key() == self._applied:
            return
        if table.row_count and table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value != asked:
            return
        self._apply(snapshot)

    def _runs_table(self) -> RunsTable | None:
        """The runs table, or None while the panes are recomposed or taken down.

        ``query_one`` is answered from Textual's cache; ``query`` walked all hundred widgets of the screen and
        matched each against the selector, on every poll.
        """
        try:
            return self.query_one("#runs-table", RunsTable)
        except NoMatches:
            return None

    def refresh_runs(self) -> None:
        """Read the runs now and show them (the timer does the same from a thread)."""
        self._apply(self._read(self.selected))

    def _read(self, selected: str | None) -> RunsSnapshot:
        with self._read_lock:
            snapshot = RunsSnapshot()
            runs = self.project.runs()
            for run in runs:
                status = run.read_status()
                step = f"{status.get('step', 0)}/{status.get('total_steps', '?')}"
                snapshot.rows.append((run.name, run.state(), step))
            names = [r.name for r in runs]
            if selected not in names:
                selected = names[0] if names else None
            snapshot.selected = selected
            if selected is not None:
                run = runs[names.index(selected)]
                tail = self._tails.setdefault(run.name, run.metrics_tail())
                history = self._histories.setdefault(run.name, MetricsHistory())
                history.add(tail.read_new())
                # Evaluation jobs append to the training run's eval.jsonl: only the rows new since the last poll.
                if run.name not in self._evals:
                    self._evals[run.name] = EvalFeed(run.path / EVAL_FILE)
                snapshot.summary = summarize(run, history)
                snapshot.evaluation = self._evals[run.name].read()
                snapshot.samples = latest_samples(run)
            return snapshot

    def _apply(self, snapshot: RunsSnapshot) -> None:
        # A poll started in a thread may finish after this screen was taken down (quit, another project);
        # teardown removes the widgets one by one, so any of them may already be gone.
        table = self._runs_table()
        if table is None:
            return
        try:
            self.selected = snapshot.selected
            table.show_runs(snapshot.rows, self.selected)
            self._shown_rows = snapshot.rows
            self._show_summary(snapshot)
            self._applied = snapshot.shown_key()
        except NoMatches:
            if self.is_attached and self.app.is_running and not self._closing():
                raise

    def _closing(self) -> bool:
        """This screen is being taken down: its panes are leaving the DOM."""
        return not self.query("#train-main") or not self.query("#loss-plot")

    @on(DataTable.RowHighlighted, "#runs-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Filling the table highlights its first row before the cursor moves to the selected run; that
        # message arrives after the move. Obeying it selected the first run, whose move queued another
        # stale message, and the selection flipped between two runs for ever (a disk read each time).
        if event.cursor_row != event.data_table.cursor_row:
            return
        name = event.row_key.value
        if name and name != self.selected:
            self.selected = name
            self.set_text("#run-title", f"Run {name}", layout=False)
            # Read in a thread once the cursor rests: a cursor key never waits for the disk, and keys pressed
            # in a row (a held arrow) do not each read a run and redraw its plots and samples meanwhile.
            if self._select_timer is not None:
                self._select_timer.stop()
            self._select_timer = self.set_timer(SELECT_SETTLE_SECONDS, self._poll)

    def selected_run(self) -> RunDir | None:
        if not self.selected:
            return None
        run = RunDir(self.project.runs_dir / self.selected)
        return run if run.path.is_dir() else None

    def _show_summary(self, snapshot: RunsSnapshot) -> None:
        summary = snapshot.summary
        self.summary = summary
        if summary is None:
            self.set_text("#run-title", "No runs yet: fill in the settings and press s.", layout=False)
            self.query_one("#eval-table", EvalTable).show(None)
            return
        self.set_text("#run-title", f"Run {summary.name}", layout=False)
        bar = self.query_one("#run-progress", RunProgress)
        total = summary.total_steps or max(summary.step, 1)
        if (bar.total, bar.progress) != (total, min(summary.step, total)):
            bar.update(total=total, progress=min(summary.step, total))
        self.set_text("#run-line", summary.progress_line(), layout=False)
        self.set_text("#run-files", summary.files_line(), layout=False)
        self.set_text("#run-alert", self._alert(summary))
        self.query_one("#loss-plot", RunPlot).show(summary.steps, summary.losses, summary.name)
        self.query_one("#lr-plot", RunPlot).show(summary.steps, summary.lrs, summary.name)
        self._show_samples(summary.name, *snapshot.samples)
        self.query_one("#eval-table", EvalTable).show(snapshot.evaluation)

    @staticmethod
    def _alert(summary: RunSummary) -> str:
        if summary.state is RunState.CRASHED:
            return "✗ The worker died without saying why (see worker.log). Press r to resume from the last checkpoint."
        if summary.state is RunState.FAILED:
            return f"✗ Failed: {summary.message or 'see worker.log'}. Fix the cause, then press r to resume."
        if summary.state is RunState.STOPPED:
            return "Stopped. Press r to continue from the last checkpoint."
        return summary.message if summary.state is RunState.PAUSED else ""

    def _show_samples(self, run_name: str, step: int | None, files: list[Path]) -> None:
        if (run_name, step) == self._sample_key:
            return
        self._sample_key = (run_name, step)
        box = self.query_one("#train-samples", Horizontal)
        box.remove_children()
        count = f" ({len(files)})" if len(files) > 1 else ""
        self.set_text("#samples-title", f"Samples at step {step}{count}" if step is not None else "Samples: none yet")
        protocol = self.app.settings.image_protocol  # type: ignore[attr-defined]
        pictures = [Picture(protocol) for _ in files]  # every sample written, side by side
        box.mount_all(pictures)
        for picture, path in zip(pictures, files, strict=False):
            picture.show(path)

    # --- actions -------------------------------------------------------------------------------------
    def action_focus_runs(self) -> None:
        self.query_one("#runs-table", DataTable).focus()

    def action_memory_plan(self) -> None:
        self.notify("Planning the memory of a run with these settings (a few seconds)…", timeout=4)
        raw = self.raw_form()
        self.run_worker(lambda: self._plan(raw), thread=True, exclusive=True, group="train-plan")

    def _plan(self, raw: dict[Setting, Any]) -> None:
        from tuitune.ui.train_settings import memory_plan

        self.from_thread(self._planned, memory_plan(self.project.root, raw))

    def _planned(self, report: dict[str, Any]) -> None:
        if "error" in report:
            self.notify(str(report["error"]), severity="error", timeout=10)
            return
        plan = self.query_one("#train-plan", Static)
        gib = 1024**3
        parts = ", ".join(f"{name} {value / gib:.2f}" for name, value in report.get("parts_bytes", {}).items())
        plan.update(f"Memory plan on {report.get('device')}: {parts} GiB per process.\n{report['sentence']}")
        plan.display = True
        plan.scroll_visible()
        self.notify(str(report["sentence"]), severity="information" if report.get("fits") else "warning",
                    timeout=12)

    def action_focus_steps(self) -> None:
        # The field selects its text on focus, so typed digits replace the number.
        self.query_one("#set-train-steps", Input).focus()

    def _with_run(self, verb: str) -> RunDir | None:
        run = self.selected_run()
        if run is None:
            self.notify(f"Select a run to {verb}.", severity="warning")
        return run

    def action_stop(self) -> None:
        if run := self._with_run("stop"):
            # The worker answers only between steps (seconds on a slow model), and the signal after a grace
            # period: say at once that the key was taken.
            self.notify(f"Stopping {run.name}: it saves a checkpoint first.")
            self._control(run, "stop")

    def action_pause(self) -> None:
        if run := self._with_run("pause"):
            self._control(run, "resume" if run.state() is RunState.PAUSED else "pause")

    def action_sample_now(self) -> None:
        if run := self._with_run("sample"):
            self._control(run, "sample_now")

    def action_resume(self) -> None:
        if run := self._with_run("resume"):
            self._control(run, "resume")

    def action_evaluate(self) -> None:
        if self.app.readonly_project:  # type: ignore[attr-defined]
            self.notify("The project is open read-only; evaluation writes to the run.", severity="warning")
            return
        if run := self._with_run("evaluate"):
            self._queue_evaluation(run)

    @work(thread=True, group="train-evaluate")
    def _queue_evaluation(self, run: RunDir) -> None:
        """The job ``tuitune eval RUN --detach`` queues: the project's vision backends, the run's own samples."""
        from tuitune.errors import UserError
        from tuitune.evaluate.queue_job import evaluation_settings, queue_evaluation

        try:
            job = queue_evaluation(run.path, evaluation_settings(run.path))
        except UserError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        except OSError as exc:
            self.app.call_from_thread(self.notify, f"The evaluation could not be queued ({exc}).", severity="error")
            return
        self.app.call_from_thread(
            self.notify, f"Queued {job.name}; its scores appear under {run.name}'s samples here (and in "
            f"{run.name}/{EVAL_FILE}).", timeout=8)
        self.from_thread(self._tick)

    @work(thread=True, group="train-control")
    def _control(self, run: RunDir, verb: str) -> None:
        """Calls the jobs API (it may wait for the worker), then reports in one line."""
        from tuitune.errors import UserError
        from tuitune.jobs import control

        try:
            if verb == "stop":
                result = _stop_result(run.name, control.stop(run))
            elif verb == "pause":
                control.pause(run)
                result = f"Asked {run.name} to pause; p continues it."
            elif verb == "sample_now":
                control.sample_now(run)
                result = f"Asked {run.name} for samples now."
            else:
                result = control.resume(run)
        except UserError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self.app.call_from_thread(self.notify, result)
        self.from_thread(self._tick)  # show the new state now, not at the next poll

    @on(Button.Pressed, "#train-start")
    def action_start(self) -> None:
        if self.app.readonly_project:  # type: ignore[attr-defined]
            self.notify("The project is open read-only; reopen it without --readonly to train.", severity="warning")
            return
        self._submit(self.raw_form())

    @work(thread=True, exclusive=True, group="train-submit")
    def _submit(self, raw: dict[Setting, Any]) -> None:
        """Build the run (project settings, the spec's loss plan, dataset.json: disk reads, so not in the key
        press) and queue it; a bad field or a damaged project file is one sentence and nothing is queued."""
        from tuitune.errors import UserError
        from tuitune.jobs.queue import submit
        from tuitune.ui.train_settings import run_config

        try:
            config = run_config(self.project.root, raw)
        except (ValueError, UserError) as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=10)
            return
        try:
            self._remember_form(raw)
            run = submit(self.project.runs_dir, "train", config)
        except OSError as exc:
            self.app.call_from_thread(self.notify, f"The run could not be created ({exc}).", severity="error")
            return
        from tuitune.jobs.queue import active_run

        ahead = active_run(self.project.runs_dir)
        self.from_thread(self._started, run.name, ahead.name if ahead and ahead.name != run.name else None)

    def _remember_form(self, raw: dict[Setting, Any]) -> None:
        """Keep the chosen settings in the project's train.toml, so the next run starts from them."""
        import tomllib

        import tomli_w

        from tuitune import atomic
        from tuitune.ui.train_settings import form_overrides

        path = self.project.root / TRAIN_CONFIG_FILE
        try:
            current = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            current = {}
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return  # a file the user broke by hand is theirs to fix; never overwrite it
        for section, table in form_overrides(raw).items():
            kept = current.setdefault(section, {})
            for key, value in table.items():
                if value is None:
                    kept.pop(key, None)
                else:
                    kept[key] = value
        atomic.write_text(path, tomli_w.dumps(current))

    def _started(self, name: str, ahead: str | None) -> None:
        self.selected = name
        if ahead is None:
            self.notify(f"Started {name}; its progress shows here.")
        else:
            from tuitune.jobs.machine import one_at_a_time

            self.notify(f"Queued {name}; it starts when {ahead} ends ({one_at_a_time()}).")
        self.refresh_runs()


def _stop_result(name: str, state: RunState) -> str:
    if state.is_final:
        return f"{name} is {state}."
    if state is RunState.STOPPING:
        return f"{name} is stopping: it saves a checkpoint, then exits."
    return f"{name} has not answered yet; it was signalled and stops after its current step."

