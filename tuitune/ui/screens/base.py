"""Shared shape of the five project screens: header, body, footer, and a saved selection."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header

from tuitune.ui.project_view import ProjectView


class ProjectScreen(Screen):
    """A screen that shows part of the open project; subclasses compose ``body()``."""

    MODE = ""

    @property
    def project(self) -> ProjectView:
        project = getattr(self.app, "project", None)
        assert project is not None, "project screens are only shown once a project is open"
        return project

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        check = getattr(self.app, "check_size", None)
        if check is not None:
            check()

    def selection_state(self) -> dict:
        """What to restore when the project is opened again (row, filter...)."""
        return {}

    def saved_selection(self) -> dict:
        getter = getattr(self.app, "saved_selection", None)
        return getter(self.MODE) if getter else {}
