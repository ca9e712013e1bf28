"""Train screen: settings form, start/stop/pause/sample-now, progress with ETA, loss/lr plots, samples."""

from __future__ import annotations

import tomllib
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Static

from tuitune.jobs.rundir import JsonlTail, RunDir, RunState
from tuitune.ui.run_summary import RunSummary, latest_samples, summarize
from tuitune.ui.screens.base import ProjectScreen
from tuitune.ui.widgets.picture import Picture
from tuitune.ui.widgets.run_plot import RunPlot

# The settings a user changes most, as (section, key, label); the rest stay in the project's train.toml.
FORM_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("train", "steps", "steps"),
    ("train", "lr", "learning rate"),
    ("train", "batch_size", "batch size"),
    ("lora", "rank", "LoRA rank"),
    ("loss", "preservation", "preservation λ"),
    ("checkpoints", "every", "checkpoint every"),
    ("samples", "every", "sample every"),
)
TRAIN_CONFIG_FILE = "train.toml"


class TrainScreen(ProjectScreen):
    MODE = "train"
    AUTO_FOCUS = "#runs-table"
    BINDINGS = [
        Binding("s", "start", "Start", id="train.start", tooltip="Start a training run with these settings"),
        Binding("x", "stop", "Stop", id="train.stop", tooltip="Checkpoint, then stop the selected run"),
        Binding("p", "pause", "Pause/continue", id="train.pause", tooltip="Pause or continue the selected run"),
        Binding("n", "sample_now", "Sample now", id="train.sample", tooltip="Ask the run for samples now"),
        Binding("r", "resume", "Resume", id="train.resume",
                tooltip="Continue a stopped, failed or crashed run from its last checkpoint"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: str | None = None
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._tails: dict[str, JsonlTail] = {}
        self.summary: RunSummary | None = None
        self._sample_step: int | None = None

    def body(self) -> ComposeResult:
        with Horizontal(id="train-body"):
            with Vertical(id="train-runs"):
                yield Label("Runs", classes="pane-title")
                yield DataTable(id="runs-table", cursor_type="row")
            with Vertical(id="train-main"):
                yield Static("No run selected.", id="run-title")
                yield ProgressBar(id="run-progress", show_eta=False)
                yield Static("", id="run-line")
                yield Static("", id="run-alert")
                with Horizontal(id="train-plots"):
                    yield RunPlot("loss", id="loss-plot")
                    yield RunPlot("learning rate", id="lr-plot")
                yield Static("Samples", id="samples-title", classes="pane-title")
                yield Horizontal(id="train-samples")
                yield DataTable(id="eval-table", cursor_type="row")
            with VerticalScroll(id="train-form"):
                yield Label("Settings", classes="pane-title")
                for section, key, label in FORM_FIELDS:
                    yield Label(label)
                    yield Input(id=f"set-{section}-{key}", classes="setting")
                yield Button("Start (s)", id="train-start", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#runs-table", DataTable).add_columns("run", "state", "step")
        self._fill_form()
        self.selected = self.saved_selection().get("run")
        self.refresh_runs()
        self.set_interval(self.app.settings.poll_seconds, self.refresh_runs)  # type: ignore[attr-defined]

    def selection_state(self) -> dict:
        return {"run": self.selected} if self.selected else {}

    # --- settings ------------------------------------------------------------------------------------
    def _config_dict(self) -> dict[str, Any]:
        path = self.project.root / TRAIN_CONFIG_FILE
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return {}

    def _fill_form(self) -> None:
        from tuitune.train.config import TrainConfig

        config = self._config_dict()
        for section, key, _ in FORM_FIELDS:
            value = config.get(section, {}).get(key)
            if value is None:
                model = TrainConfig.model_fields[section].annotation
                field = model.model_fields[key]  # type: ignore[union-attr]
                value = field.default
            self.query_one(f"#set-{section}-{key}", Input).value = str(value)

    def form_config(self) -> dict[str, Any]:
        """The project's train.toml with the form's values laid over it, validated by TrainConfig."""
        from tuitune.train.config import TrainConfig

        config = self._config_dict()
        for section, key, label in FORM_FIELDS:
            raw = self.query_one(f"#set-{section}-{key}", Input).value.strip()
            try:
                value: Any = int(raw) if raw.lstrip("-").isdigit() else float(raw)
            except ValueError:
                raise ValueError(f"{label} must be a number, not {raw!r}.") from None
            config.setdefault(section, {})[key] = value
        config.setdefault("model", {}).setdefault("base", "")
        if not config["model"]["base"]:
            raise ValueError(f"Set [model] base in {TRAIN_CONFIG_FILE} to the base model folder before training.")
        TrainConfig.from_dict(config, base_dir=self.project.root)
        return config

    # --- runs ----------------------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        runs = self.project.runs()
        cursor_key = self.selected
        table.clear()
        for run in runs:
            status = run.read_status()
            step = f"{status.get('step', 0)}/{status.get('total_steps', '?')}"
            table.add_row(run.name, run.state().value, step, key=run.name)
        names = [r.name for r in runs]
        if cursor_key not in names:
            cursor_key = names[0] if names else None
        if cursor_key is not None:
            table.move_cursor(row=names.index(cursor_key), animate=False)
        self.selected = cursor_key
        self._show_selected()

    @on(DataTable.RowHighlighted, "#runs-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self._show_selected()

    def selected_run(self) -> RunDir | None:
        if not self.selected:
            return None
        run = RunDir(self.project.runs_dir / self.selected)
        return run if run.path.is_dir() else None

    def _show_selected(self) -> None:
        run = self.selected_run()
        if run is None:
            self.query_one("#run-title", Static).update("No runs yet: fill in the settings and press s.")
            return
        tail = self._tails.setdefault(run.name, run.metrics_tail())
        rows = self._rows.setdefault(run.name, [])
        rows.extend(tail.read_new())
        summary = summarize(run, rows)
        self.summary = summary
        self.query_one("#run-title", Static).update(f"Run {run.name}")
        bar = self.query_one("#run-progress", ProgressBar)
        bar.update(total=summary.total_steps or None, progress=summary.step)
        self.query_one("#run-line", Static).update(summary.progress_line())
        self.query_one("#run-alert", Static).update(self._alert(summary))
        self.query_one("#loss-plot", RunPlot).show(summary.steps, summary.losses)
        self.query_one("#lr-plot", RunPlot).show(summary.steps, summary.lrs)
        self._show_samples(run)
        self._show_eval(summary)

    @staticmethod
    def _alert(summary: RunSummary) -> str:
        if summary.state is RunState.CRASHED:
            return "✗ The worker died without saying why (see worker.log). Press r to resume from the last checkpoint."
        if summary.state is RunState.FAILED:
            return f"✗ Failed: {summary.message or 'see worker.log'}. Fix the cause, then press r to resume."
        if summary.state is RunState.STOPPED:
            return "Stopped. Press r to continue from the last checkpoint."
        return summary.message if summary.state is RunState.PAUSED else ""

    def _show_samples(self, run: RunDir) -> None:
        step, files = latest_samples(run)
        if step == self._sample_step and run.name == getattr(self, "_sample_run", None):
            return
        self._sample_step = step
        self._sample_run = run.name
        box = self.query_one("#train-samples", Horizontal)
        box.remove_children()
        self.query_one("#samples-title", Static).update(
            f"Samples at step {step}" if step is not None else "Samples: none yet"
        )
        protocol = self.app.settings.image_protocol  # type: ignore[attr-defined]
        for path in files[:3]:
            picture = Picture(protocol)
            box.mount(picture)
            picture.call_after_refresh(picture.show, path)

    def _show_eval(self, summary: RunSummary) -> None:
        table = self.query_one("#eval-table", DataTable)
        table.clear(columns=True)
        if not summary.eval_rows:
            return
        keys = [k for k in summary.eval_rows[0] if k not in {"kind", "time"}]
        table.add_columns(*keys)
        for row in summary.eval_rows:
            table.add_row(*[_fmt(row.get(k)) for k in keys])

    # --- actions -------------------------------------------------------------------------------------
    def _with_run(self, verb: str) -> RunDir | None:
        run = self.selected_run()
        if run is None:
            self.notify(f"Select a run to {verb}.", severity="warning")
        return run

    def action_stop(self) -> None:
        if run := self._with_run("stop"):
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

    @work(thread=True, group="train-control")
    def _control(self, run: RunDir, verb: str) -> None:
        """Calls the jobs API (it may wait for the worker), then reports in one line."""
        from tuitune.cli import UserError
        from tuitune.jobs import control

        try:
            if verb == "stop":
                result = f"{run.name}: {control.stop(run)}"
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

    @on(Button.Pressed, "#train-start")
    def action_start(self) -> None:
        if self.app.readonly_project:  # type: ignore[attr-defined]
            self.notify("The project is open read-only; reopen it without --readonly to train.", severity="warning")
            return
        from tuitune.cli import UserError

        try:
            config = self.form_config()
        except (ValueError, UserError) as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        self._submit(config)

    @work(thread=True, exclusive=True, group="train-submit")
    def _submit(self, config: dict[str, Any]) -> None:
        from tuitune.jobs.queue import submit

        run = submit(self.project.runs_dir, "train", config)
        self.app.call_from_thread(self._started, run.name)

    def _started(self, name: str) -> None:
        self.selected = name
        self.notify(f"Queued {name}; it starts as soon as the GPU is free.")
        self.refresh_runs()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)
