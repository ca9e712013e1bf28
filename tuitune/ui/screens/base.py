"""Shared shape of the five project screens: header, body, footer, and a saved selection."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.reactive import Reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from tuitune.ui.project_view import ProjectView
from tuitune.ui.widgets.app_header import AppHeader
from tuitune.ui.widgets.key_bar import KeyBar


class ProjectScreen(Screen):
    """A screen that shows part of the open project; subclasses compose ``body()``."""

    MODE = ""
    # Textual declares this with a repaint of the whole screen on every focus move; the two widgets involved
    # refresh themselves on focus and blur, and Textual restyles :focus-within ancestors, so a tab repaints
    # only them (the full repaint re-composed every line of the screen, a third of a tab).
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    shown_once = False  # set on the first visit; a screen built ahead of time has no selection to save yet
    styled = False  # its widgets carry the current styles (built ahead, or shown once)
    populated = False  # populate() has filled its widgets

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._texts: dict[str, str] = {}  # selector -> the text set_text last put there
        self._poll_timers: list[Timer] = []  # paused while another screen is shown

    @property
    def project(self) -> ProjectView:
        project = getattr(self.app, "project", None)
        assert project is not None, "project screens are only shown once a project is open"
        return project

    def compose(self) -> ComposeResult:
        yield AppHeader(show_clock=False, icon="◆")
        yield from self.body()
        yield KeyBar()

    def body(self) -> ComposeResult:
        raise NotImplementedError

    def on_mount(self) -> None:
        # A screen built ahead of time may still be composing when the user quits or opens another
        # project: Textual then skips mounting its widgets (or prunes them), so there is nothing to fill.
        # ``is_attached`` is False once the app is exiting.
        if self._torn_down:
            return
        try:
            self.populate()
        except NoMatches:
            # The app began shutting down while this screen's widgets were still being mounted.
            if self._torn_down:
                return
            raise
        self.populated = True

    @property
    def _torn_down(self) -> bool:
        app = self.app
        exiting = getattr(app, "_exit", False) or not getattr(app, "_running", True) or app._closing
        return bool(self._pruning or self._closing or not self.is_attached or exiting)

    @property
    def ready(self) -> bool:
        """Its widgets are mounted and filled, and it is not being torn down: safe to query and update."""
        return self.populated and not self._torn_down

    def populate(self) -> None:
        """Fill the mounted widgets from the project (subclasses)."""

    def from_thread(self, callback, *args, **kwargs):
        """From a worker thread, run ``callback`` on the app's thread, unless this screen was torn down
        meanwhile (the user quit or opened another project while the worker read the disk): then its widgets
        are gone and what the worker read belongs to a project no longer shown, so nothing is done."""

        def guarded():
            if self._torn_down:
                return None
            return callback(*args, **kwargs)

        return self.app.call_from_thread(guarded)

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual restyles every widget of a resumed screen; ours change style only through their own
        # class changes (which restyle them at once) and theme changes go through refresh_css, so after
        # the first visit (or once built ahead, which styles every widget as it mounts) that full pass,
        # a third of a screen switch, is skipped.
        if self.styled:
            event.refresh_styles = False
        self.styled = self.shown_once = True
        for timer in self._poll_timers:
            # From the start of an interval: a tick due at once would read the disk in a thread while the
            # screen is painted (each screen catches up after its first paint).
            timer.reset()
        check = getattr(self.app, "check_size", None)
        if check is not None:
            check()

    def _on_screen_suspend(self) -> None:
        for timer in self._poll_timers:
            timer.pause()

    def poll_every(self, seconds: float, callback) -> Timer:
        """Call ``callback`` every ``seconds`` while this screen is on the terminal.

        Screens are built ahead and kept, so five screens' timers would wake the app all the time; a screen
        catches up in ``on_screen_resume`` instead.
        """
        timer = self.set_interval(seconds, callback)
        self._poll_timers.append(timer)
        if not self.is_current:
            timer.pause()
        return timer

    def on_screen_resume(self) -> None:
        """Subclasses catch up here on what changed while another screen was shown."""

    def set_text(self, selector: str, text: str, layout: bool = True) -> None:
        """Update a Static only when its text changes: an update re-lays-out the whole screen.

        ``layout=False`` for a Static whose size the stylesheet fixes (e.g. ``height: 1``), which then
        only repaints.
        """
        if self._texts.get(selector) != text:
            self._texts[selector] = text
            self.query_one(selector, Static).update(text, layout=layout)

    def shown_text(self, selector: str) -> str | None:
        """The text ``set_text`` last put in ``selector`` (None before the first)."""
        return self._texts.get(selector)

    @property
    def on_terminal(self) -> bool:
        """True while this screen is the one on the terminal: timers skip their work otherwise.

        Not named ``visible``: that is Textual's CSS visibility, which every widget inherits from its screen;
        overriding it made the widgets of a screen built ahead unfocusable.
        """
        return self.is_current

    def selection_state(self) -> dict:
        """What to restore when the project is opened again (row, filter...)."""
        return {}

    def saved_selection(self) -> dict:
        getter = getattr(self.app, "saved_selection", None)
        return getter(self.MODE) if getter else {}
