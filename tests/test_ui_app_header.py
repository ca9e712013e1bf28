"""The app's header shows the title and keeps the app alive when a title change reaches it as its screen goes."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.css.query import NoMatches
from textual.widgets import Header
from textual.widgets._header import HeaderTitle

from tuitune.ui.widgets.app_header import AppHeader

pytestmark = pytest.mark.anyio


def _app(header_type: type[Header]) -> App:
    class One(App):
        def compose(self):
            yield header_type(show_clock=False)

    return One()


async def test_the_header_shows_the_apps_sub_title_as_it_changes() -> None:
    app = _app(AppHeader)
    async with app.run_test() as pilot:
        app.title, app.sub_title = "tuitune", "proj"
        await pilot.pause()
        assert "proj" in str(app.query_one(HeaderTitle).render())


@pytest.mark.parametrize("header_type", [AppHeader, Header])
async def test_a_title_change_reaching_a_header_whose_title_is_gone_does_not_end_the_app(header_type) -> None:
    """What happens to a screen's header while a reopened project drops the screen, or the app quits."""
    app = _app(header_type)

    async def change_after_the_title_left() -> None:
        async with app.run_test() as pilot:
            await app.query_one(HeaderTitle).remove()
            app.sub_title = "another project"
            await pilot.pause()

    if header_type is Header:  # Textual's own: the reason AppHeader exists
        with pytest.raises(NoMatches):
            await change_after_the_title_left()
    else:
        await change_after_the_title_left()
