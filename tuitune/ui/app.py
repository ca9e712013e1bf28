"""The tuitune Textual app: project open/new, five screens switched by key, palette, help, job notices."""

from __future__ import annotations

import asyncio
import gc
import time
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen

from tuitune.errors import UserError
from tuitune.jobs.rundir import JsonlTail, RunDir, RunState
from tuitune.ui import build_ahead
from tuitune.ui.palette import ActionsProvider
from tuitune.ui.paths import stylesheets
from tuitune.ui.project_view import ProjectView
from tuitune.ui.screens.concepts import ConceptsScreen
from tuitune.ui.screens.dataset import DatasetScreen
from tuitune.ui.screens.generate import GenerateScreen
from tuitune.ui.screens.help import HelpScreen
from tuitune.ui.screens.intent import IntentScreen
from tuitune.ui.screens.open_project import OpenProjectScreen
from tuitune.ui.screens.too_small import TooSmallScreen
from tuitune.ui.settings import UiSettings, load_settings
from tuitune.ui.stamps import file_stamp
from tuitune.ui.terminal_probe import Choice

SCREENS_IN_ORDER = ("intent", "concepts", "dataset", "train", "generate")
WARM_DELAY_SECONDS = 0.3  # after the first paint
WARM_STEP_SECONDS = 0.05  # between steps, so keys pressed meanwhile are handled in between
WARM_REDRAW_SECONDS = 1.5  # after every screen is built, before drawing them again with their content
KEYS_QUIET_SECONDS = 0.5  # the redraw of a built screen waits for a pause this long in the user's keys
# Event kinds a user wants to hear about while looking at another screen.
NOTIFY_KINDS = {"started", "checkpoint", "sample", "finished", "stopped", "paused", "error", "failed", "metrics"}


def _train_screen() -> Screen:
    from tuitune.ui.screens.train import TrainScreen

    return TrainScreen()


class TuituneApp(App[int]):
    """One app per terminal; it reads the project from disk and never holds the only copy of anything."""

    TITLE = "tuitune"
    CSS_PATH: ClassVar = stylesheets()
    # The app's actions, then Textual's system commands, from one provider (see palette.py).
    COMMANDS: ClassVar = {ActionsProvider}
    MODES: ClassVar = {
        "open": OpenProjectScreen,  # ctrl+o; at start without a project the same screen is the default
        "intent": IntentScreen,
        "concepts": ConceptsScreen,
        "dataset": DatasetScreen,
        "train": _train_screen,
        "generate": GenerateScreen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1,question_mark", "help", "Help", id="app.help", tooltip="List every key of this screen"),
        Binding("1,f2", "show_screen('intent')", "Intent", id="screen.intent",
                tooltip="Say what to keep, modify and delete"),
        Binding("2,f3", "show_screen('concepts')", "Concepts", id="screen.concepts",
                tooltip="Edit concepts, compare spec versions, run detection"),
        Binding("3,f4", "show_screen('dataset')", "Dataset", id="screen.dataset",
                tooltip="Images, masks and captions"),
        Binding("4,f5", "show_screen('train')", "Train", id="screen.train",
                tooltip="Settings, start/stop, loss and samples"),
        Binding("5,f6", "show_screen('generate')", "Generate", id="screen.generate",
                tooltip="Base and LoRA side by side with the same seed"),
        Binding("ctrl+o", "open_project", "Open project", id="app.open", show=False,
                tooltip="Open or create another project"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", tooltip="Quit (running jobs keep running)"),
    ]

    def __init__(self, project_path: Path | None = None, readonly: bool = False,
                 pictures: Choice | None = None) -> None:
        super().__init__()
        # What "auto" resolved to when the app started in a terminal (ui/terminal_probe.py); None: not asked.
        self._pictures = pictures
        self.project: ProjectView | None = None
        self.readonly = readonly
        self.settings: UiSettings = UiSettings()
        self._initial_path = project_path
        self._event_tails: dict[str, JsonlTail] = {}
        self._run_states: dict[str, RunState] = {}
        self._run_stamps: dict[str, tuple] = {}  # run -> (status.json, events.jsonl) (mtime, size) at the last poll
        self._too_small = False
        self._ui_dirty = False
        self._cover_switch = True
        self._warm_steps: list = []  # build-ahead steps still to run, each an async callable
        self._warm_redrawn = False
        self._warm_generation = 0
        self._project_timers: list = []
        self._last_key = float("-inf")  # time.monotonic() of the last key press

    # --- lifecycle -----------------------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_key = time.monotonic()
        await super().on_event(event)

    def get_default_screen(self) -> Screen:
        return OpenProjectScreen()

    def on_mount(self) -> None:
        if self._initial_path is not None:
            self.open_project(self._initial_path)
        # After the first screen is shown, so the notice sits on top of it.
        self.call_after_refresh(self.check_size)

    def on_unmount(self) -> None:
        gc.unfreeze()  # an app run inside a longer process (the tests) leaves its screens collectable

    def open_project(self, path: Path) -> None:
        """Show ``path`` in the app: restore the last screen and selection saved in the project."""
        from tuitune.errors import UserError
        from tuitune.ui.project_view import open_handle

        if self.project is not None and Path(path).resolve() == self.project.root.resolve():
            self.close_project()  # the same project again: its lock is let go first
            self._drop_project_screens()
        try:
            handle, notes = open_handle(Path(path), self.readonly)
        except UserError as exc:  # the project shown so far stays open
            self.notify(str(exc), severity="error", timeout=15)
            return
        readonly = self.readonly or bool(handle is not None and handle.readonly)
        # Before the old screens are dropped: a Header on a screen being taken down that hears of a new title
        # no longer finds its own title widget (Textual raises NoMatches from its watcher).
        self.sub_title = Path(path).name + (" (read-only)" if readonly else "")
        # One swap: a screen's worker thread reading ``app.project`` meanwhile sees the old project or the
        # new one, never none.
        old, self.project = self.project, ProjectView(Path(path), readonly=readonly, handle=handle)
        self._drop_project_screens()
        if old is not None and old.handle is not None:
            old.handle.close()
        for note in notes:
            self.notify(note, severity="warning", timeout=10)
        self.settings, warning = load_settings(self.project.root)
        if self.settings.image_protocol == "auto" and self._pictures is not None:
            self.settings = self.settings.model_copy(update={"image_protocol": self._pictures.protocol})
            if self._pictures.fallback:
                self.notify(self._pictures.reason + "; set image_protocol under [ui] in project.toml to force one.",
                            timeout=10)
                self._pictures = Choice(self._pictures.protocol, self._pictures.reason)  # said once
        if warning:
            self.notify(warning, severity="warning")
        self._import_legacy_intent()
        self._prime_event_tails()
        for timer in self._project_timers:  # the project shown before had its own
            timer.stop()
        self._project_timers = [
            self.set_interval(self.settings.poll_seconds, self._poll_in_thread, name="poll-runs"),
            self.set_interval(5.0, self._save_if_dirty, name="save-ui-state"),
        ]
        state = self.project.load_ui_state()
        screen = state.get("screen") if state.get("screen") in SCREENS_IN_ORDER else "intent"
        self.switch_mode(screen)
        # Build the other screens once the first one is on the terminal, so a key only switches.
        self._warm_steps.clear()
        self._warm_redrawn = False
        self._warm_generation += 1  # a build-ahead still going for the project shown before stops
        if old is not None:
            gc.unfreeze()  # the screens built for it can be collected now (see _freeze_built_screens)
        warm = partial(self._start_warming, self._warm_generation)
        self.screen.call_after_refresh(self.set_timer, WARM_DELAY_SECONDS, warm, name="warm-screens")

    def _drop_project_screens(self) -> None:
        """Screens built for the project shown before hold its data: they are built anew for this one."""
        if self.current_mode in SCREENS_IN_ORDER:
            self.switch_mode("open")  # the one shown too: Textual removes only modes not on the terminal
        for mode in SCREENS_IN_ORDER:
            if mode in self._screen_stacks:
                self.remove_mode(mode)
                self.add_mode(mode, type(self).MODES[mode])

    def _import_legacy_intent(self) -> None:
        from tuitune.ui.intent_history import import_legacy

        if self.project is None or self.project.handle is None:
            return
        try:
            note = import_legacy(self.project.handle)
        except Exception as exc:  # the DB reports a full or read-only disk as UserError; the old file stays
            note = f"intent.json could not be imported ({exc}); it was left as it is."
        if note:
            self.notify(note, timeout=10)

    def _start_warming(self, generation: int) -> None:
        if self.project is not None and self.is_running and generation == self._warm_generation:
            # A worker (a task of its own), not the timer's callback: a callback is awaited inside the app's
            # message loop, so a key pressed meanwhile waited for the whole step (a screen's mount, the
            # pause before the redraw), which made the first visit to Train wait most of a second.
            self.run_worker(self._warm_screens(generation), name="warm-screens", group="warm-screens",
                            exclusive=True)

    async def _warm_screens(self, generation: int) -> None:
        """Build the screens ahead one step at a time; keys are handled between steps and while one awaits.

        Textual builds a mode's screen on its first visit, which took most of a second; built here after
        the first paint, a later key press only swaps screens. Steps: build and lay out one screen, draw it
        (off screen) once its widgets have filled themselves in, and so on; once every screen is built, each
        is laid out and drawn again a moment later (pictures, plots and tables fill in after the first draw,
        which left the first visit to redraw them). Without the Textual internals this needs, nothing is
        built ahead and Textual builds each screen on its first visit as usual.
        """
        while self.project is not None and self.is_running and generation == self._warm_generation:
            step = self._warm_steps.pop(0) if self._warm_steps else None
            try:
                if step is None:
                    step = self._next_warm_step()
                if step is None:
                    _freeze_built_screens()
                    return
                if self._warm_redrawn:
                    # Redrawing is only polish on screens already built: it waits while the user types, so
                    # a key never queues behind it.
                    await self._keys_quiet()
                await step()
            except AttributeError as exc:  # a Textual version without the internals used here
                self._warm_steps.clear()
                self.log.warning(f"screens are built on first visit: {exc}")
                return
            await asyncio.sleep(WARM_STEP_SECONDS)

    async def _keys_quiet(self) -> None:
        while (wait := self._last_key + KEYS_QUIET_SECONDS - time.monotonic()) > 0:
            await asyncio.sleep(wait)

    def _next_warm_step(self):
        """The next build-ahead step (the screen's draw is queued behind it), or None when all are done."""
        if not build_ahead.available(self):
            return None
        build_ahead.mark_styled(self)
        for mode in SCREENS_IN_ORDER:
            if mode not in self._screen_stacks:
                factory = self._modes.get(mode)
                if factory is None:
                    return None  # the app is closing
                screen = factory() if callable(factory) else factory
                self._warm_steps.append(lambda screen=screen: build_ahead.draw(self, screen))
                return lambda mode=mode, screen=screen: build_ahead.build(self, mode, screen)
        if self._warm_redrawn:
            return None
        self._warm_redrawn = True
        _freeze_built_screens()  # every screen is built; frozen again after the redraw
        # Once more, after the widgets' own workers (plots, pictures, tables) have filled them in.
        screens = [self._screen_stacks[m][0] for m in SCREENS_IN_ORDER if self._screen_stacks.get(m)]
        for screen in screens:
            self._warm_steps.append(lambda screen=screen: build_ahead.lay_out(self, screen))
            self._warm_steps.append(lambda screen=screen: build_ahead.draw(self, screen))

        async def wait() -> None:
            await asyncio.sleep(WARM_REDRAW_SECONDS)

        return wait

    def ui_state(self) -> dict:
        """Last screen and each visited screen's selection, saved in the project on switch and quit."""
        state = self.project.load_ui_state() if self.project else {}
        state["screen"] = self.current_mode if self.current_mode in SCREENS_IN_ORDER else state.get("screen")
        selections = state.setdefault("selection", {})
        for mode, stack in self._screen_stacks.items():
            if mode in SCREENS_IN_ORDER and stack and getattr(stack[0], "shown_once", False):
                getter = getattr(stack[0], "selection_state", None)
                try:
                    if getter is not None:
                        selections[mode] = getter()
                except NoMatches:
                    pass  # the screen is still composing; keep what was saved before
        return state

    def save_ui_state(self) -> None:
        if self.project is not None:
            try:
                self.project.save_ui_state(self.ui_state())
            except (OSError, UserError) as exc:  # UserError: the project DB stayed busy (a job writing to it)
                self._ui_dirty = True  # tried again on the next save tick
                self.notify(f"Could not save the screen you were on: {exc}", severity="warning")

    def _save_if_dirty(self) -> None:
        if self._ui_dirty:
            self._ui_dirty = False
            self.save_ui_state()

    def saved_selection(self, mode: str) -> dict:
        if self.project is None:
            return {}
        value = self.project.load_ui_state().get("selection", {}).get(mode, {})
        return value if isinstance(value, dict) else {}

    def close_project(self) -> None:
        if self.project is not None and self.project.handle is not None:
            self.project.handle.close()
        self.project = None

    @property
    def readonly_project(self) -> bool:
        return self.project is None or self.project.readonly

    async def action_quit(self) -> None:
        self.save_ui_state()
        self.close_project()
        self.exit(0)

    def delay_update(self, delay: float = 0.05) -> None:
        if self._cover_switch:
            super().delay_update(delay)

    # --- actions -------------------------------------------------------------------------------------
    def action_show_screen(self, mode: str) -> None:
        if self.project is None:
            self.notify("Open or create a project first.", severity="warning")
            return
        if self._too_small or self.current_mode == mode:
            return
        # Textual holds the paint back 50 ms to hide a screen being built; a built one needs no cover (one
        # the build-ahead is still mounting does).
        stack = self._screen_stacks.get(mode)
        self._cover_switch = not (stack and getattr(stack[0], "populated", True))
        try:
            self.switch_mode(mode)
        finally:
            self._cover_switch = True
        # Saved by a timer, not here: a SQLite commit (fsync) on every key would make switching feel slow.
        self._ui_dirty = True

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_open_project(self) -> None:
        self.save_ui_state()
        self.switch_mode("open")

    # --- terminal size -------------------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self.check_size(event.size.width, event.size.height)

    def check_size(self, width: int | None = None, height: int | None = None) -> None:
        if width is None or height is None:
            width, height = self.size
        small = width < self.settings.min_width or height < self.settings.min_height
        if small and not isinstance(self.screen, TooSmallScreen):
            self._too_small = True
            self.push_screen(TooSmallScreen(self.settings.min_width, self.settings.min_height))
        elif not small:
            self._too_small = False
            for stack in self._screen_stacks.values():
                for screen in [s for s in stack if isinstance(s, TooSmallScreen)]:
                    screen.dismiss() if screen is self.screen else stack.remove(screen)

    # --- job notifications ---------------------------------------------------------------------------
    def _prime_event_tails(self) -> None:
        """Start tailing every run at its current end, so only new events become notifications."""
        self._event_tails.clear()
        self._run_states.clear()
        self._run_stamps.clear()
        if self.project is None:
            return
        for run in self._run_dirs():
            stamp = _run_stamp(run)
            tail = run.events_tail()
            tail.read_new()
            self._event_tails[run.name] = tail
            self._run_states[run.name] = run.state()
            self._run_stamps[run.name] = stamp

    def _run_dirs(self) -> list[RunDir]:
        """Every run folder, in no order (``ProjectView.runs`` reads each status.json to sort them)."""
        runs_dir = self.project.runs_dir if self.project is not None else None
        try:
            folders = list(runs_dir.iterdir()) if runs_dir is not None else []
        except OSError:
            return []
        return [RunDir(p) for p in folders if p.is_dir() and not p.name.startswith(".")]

    def _poll_in_thread(self) -> None:
        if self.project is not None:
            self._poll_worker()

    @work(thread=True, exclusive=True, group="app-poll-runs")
    def _poll_worker(self) -> None:
        notes = self._read_run_news()
        if notes:
            self.call_from_thread(self._announce, notes)

    def poll_runs(self) -> None:
        """Read new job events and state changes now and announce them (the timer does it in a thread)."""
        self._announce(self._read_run_news())

    def _read_run_news(self) -> list[tuple[str, str, int]]:
        """(message, severity, timeout) for each new event worth a notification and each worker that died."""
        project = self.project
        if project is None:
            return []
        notes: list[tuple[str, str, int]] = []
        for run in self._run_dirs():
            # Taken before reading, so a write in between is read again next time rather than missed.
            stamp = _run_stamp(run)
            seen = self._run_stamps.get(run.name)
            self._run_stamps[run.name] = stamp
            before = self._run_states.get(run.name)
            if seen == stamp and before is not None and before.is_final:
                continue  # nothing written since it ended: no news (a resume rewrites status.json)
            tail = self._event_tails.setdefault(run.name, run.events_tail())
            # One notice per run and kind per poll (the newest): a job checkpointing every few steps must
            # not bury the screen in toasts, each of which re-lays-out the screen.
            latest: dict[str, tuple[dict, int]] = {}
            events = tail.read_new() if seen is None or seen[1] != stamp[1] else []
            for event in events:
                kind = str(event.get("kind", ""))
                if kind in NOTIFY_KINDS and kind != "metrics":
                    latest[kind] = (event, latest.get(kind, ({}, 0))[1] + 1)
            for kind, (event, count) in latest.items():
                message = str(event.get("message") or event.get("step") or "")
                more = f" (+{count - 1} more)" if count > 1 else ""
                severity = "error" if kind in {"error", "failed"} else "information"
                notes.append((f"{run.name}: {kind} {message}".strip() + more, severity, 5))
            # Read even when status.json is unchanged: a worker that died leaves it as it was, and only the
            # pid check says the run crashed.
            state = run.state()
            self._run_states[run.name] = state
            if before is not None and before is not state and state is RunState.CRASHED:
                notes.append((
                    f"{run.name}: the worker died; open Train (4) and press r to resume from the last checkpoint.",
                    "error",
                    30,
                ))
        return notes

    def _announce(self, notes: list[tuple[str, str, int]]) -> None:
        for message, severity, timeout in notes:
            self.notify(message, severity=severity, timeout=timeout)  # type: ignore[arg-type]


def _freeze_built_screens() -> None:
    """Keep the objects alive now (the built screens, their styles, the modules) out of the garbage collector's
    full passes.

    Five built screens make some 190,000 objects, and every full pass walked all of them: 100 to 200 ms
    with the interpreter held, which landed on key presses at random. Frozen, a pass walks only what was made
    since. Objects freed after this are still freed (reference counting); only cycles among the frozen ones
    wait until ``gc.unfreeze`` (opening another project).
    """
    gc.freeze()


def _run_stamp(run: RunDir) -> tuple:
    """(status.json, events.jsonl) modification time and size: a poll reads a run again only when one moved."""
    return file_stamp(run.status_json), file_stamp(run.events_jsonl)
