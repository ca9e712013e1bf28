"""The first screen when no project is open: type a folder, open it or create a new project there."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Static

from tuitune.ui.widgets.app_header import AppHeader
from tuitune.ui.widgets.key_bar import KeyBar
from tuitune.ui.widgets.path_suggester import PathSuggester


class OpenProjectScreen(Screen):
    BINDINGS = [
        Binding("ctrl+n", "new_project", "New", id="open.new", tooltip="Create a project in the typed folder"),
    ]

    def compose(self) -> ComposeResult:
        yield AppHeader(show_clock=False, icon="◆")
        with Vertical(id="open-box"):
            yield Static("Open a tuitune project, or create one.", id="open-title")
            yield Input(
                value=str(Path.cwd()) + "/",
                placeholder="project folder",
                suggester=PathSuggester(folders_only=True),
                id="open-path",
            )
            with Horizontal(id="open-buttons"):
                yield Button("Open", id="open-open", variant="primary")
                yield Button("New", id="open-new")
            yield Static("", id="open-message")
        yield KeyBar()

    def _path(self) -> Path:
        return Path(self.query_one("#open-path", Input).value.strip()).expanduser()

    def _say(self, text: str) -> None:
        self.query_one("#open-message", Static).update(text)

    @on(Input.Submitted, "#open-path")
    @on(Button.Pressed, "#open-open")
    def action_open(self) -> None:
        path = self._path()
        if not (path / "project.toml").is_file():
            self._say(f"{path} has no project.toml; press ctrl+n to create a project there.")
            return
        self.app.open_project(path)  # type: ignore[attr-defined]

    @on(Button.Pressed, "#open-new")
    def action_new_project(self) -> None:
        path = self._path()
        from tuitune.errors import UserError

        try:
            from tuitune.project.project import Project
        except ImportError:
            self._say("This tuitune cannot create projects here; run `tuitune new PATH` in a shell.")
            return
        try:
            Project.create(path).close()
        except UserError as exc:
            self._say(str(exc))
            return
        self.app.open_project(path)  # type: ignore[attr-defined]
