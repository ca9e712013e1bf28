"""Building, laying out and drawing a mode's screen before its first visit, through Textual internals.

Textual has no public way to build a mode's screen without showing it, so this is the one place that reaches
into it. Checked against Textual 8.2.8: ``App._get_screen``, ``App._screen_stacks``, ``App._load_screen_css``,
``App._css_update_count``, ``Screen._css_update_count``, ``Screen._refresh_layout``, ``Screen._compositor`` and
``Screen._update_auto_focus``.
``available`` says whether they are all there; the app builds nothing ahead without them (Textual then builds
each screen on its first visit, as it does by itself).
"""

from __future__ import annotations

from textual.app import App
from textual.screen import Screen

APP_INTERNALS = ("_get_screen", "_screen_stacks", "_load_screen_css", "_css_update_count", "_modes")
SCREEN_INTERNALS = ("_refresh_layout", "_compositor", "_css_update_count", "_update_auto_focus")


def available(app: App) -> bool:
    """Whether this Textual has every internal used here."""
    return all(hasattr(app, name) for name in APP_INTERNALS) and all(
        hasattr(app.screen, name) for name in SCREEN_INTERNALS
    )


def mark_styled(app: App) -> None:
    """Mark screens styled at mount with the current stylesheet as up to date.

    A mode's first screen is mounted while the previous one is still current, so Textual never records
    that it carries the current styles; the next switch back to it then re-parses and re-applies every
    stylesheet of the app (a tenth of a second on a quiet machine). A style change made since (a theme
    switch) raises the app's count, and Textual restyles the current screen itself, so a screen still
    at -1 was styled with the stylesheet as it is.
    """
    for stack in app._screen_stacks.values():
        for screen in stack:
            if screen._css_update_count == -1 and screen.is_mounted:
                screen._css_update_count = app._css_update_count


async def build(app: App, mode: str, screen: Screen) -> None:
    """Mount ``screen`` as the screen of ``mode`` and lay it out at the terminal's size, without showing it."""
    screen, mounted = app._get_screen(screen)
    app._load_screen_css(screen)
    # Its widgets are styled as they mount with the current stylesheet; without this the first switch
    # re-parses and re-applies every stylesheet of the app (a quarter of a second).
    screen._css_update_count = app._css_update_count
    app._screen_stacks[mode] = [screen]
    await mounted
    await lay_out(app, screen)
    # Focused now, as Textual would on the first visit: focusing restyles the widget and redraws every line of
    # a table (its cursor shows only with focus), a third of that first switch.
    screen._update_auto_focus()
    screen.styled = True  # type: ignore[attr-defined]  # ProjectScreen skips the restyle of its first resume


async def lay_out(app: App, screen: Screen) -> None:
    """Arrange ``screen``'s widgets at the terminal's size (nothing is drawn: it is not the current screen)."""
    if screen.is_attached and screen is not app.screen:
        screen._refresh_layout(app.size)


async def draw(app: App, screen: Screen) -> None:
    """Render ``screen`` once off screen, which fills its widgets' line caches for the first visit."""
    if screen.is_attached and screen is not app.screen:
        screen._compositor.render_update(full=True)
