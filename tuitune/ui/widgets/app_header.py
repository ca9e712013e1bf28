"""Textual's Header, safe while its screen is taken down.

Header watches the app's and its screen's title and sub-title and looks its title widget up on each change,
catching only NoScreen; a screen built ahead and dropped (a project reopened, the app quitting) while such a
call was still queued had already lost that widget, and NoMatches ended the app. This one watches the same four
values and lets a title change find nothing when its widgets are gone.
"""

from __future__ import annotations

from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.events import Mount
from textual.widget import Widget
from textual.widgets import Header
from textual.widgets._header import HeaderTitle


class AppHeader(Header):
    def _on_mount(self, event: Mount) -> None:
        event.prevent_default()  # Header's own handler would add the watcher that raises
        Widget._on_mount(self, event)  # what the handlers below Header's do (scrollbars)

        async def set_title() -> None:
            try:
                self.query_one(HeaderTitle).update(self.format_title())
            except (NoScreen, NoMatches):
                pass  # this header is leaving with its screen

        self.watch(self.app, "title", set_title)
        self.watch(self.app, "sub_title", set_title)
        self.watch(self.screen, "title", set_title)
        self.watch(self.screen, "sub_title", set_title)
