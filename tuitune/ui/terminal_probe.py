"""Which picture protocol the terminal really draws, decided before Textual takes the terminal over.

textual-image's own detection asks for Sixel, then for the kitty graphics protocol (TGP). A terminal that
answers the TGP query is not enough: textual-image draws TGP through Unicode placeholders, which kitty has only
since 0.28 (Debian 12 ships 0.26.5, which shows boxes of placeholder glyphs instead of every picture), and
Konsole and WezTerm answer the query but do not draw placeholders either. So when TGP is what textual-image
picked, the terminal's name and version are asked (XTVERSION, ``CSI > 0 q``) and TGP is kept only for a
terminal known to draw placeholders; any other gets half cells, which every colour terminal draws.
"""

from __future__ import annotations

import os
import re
import select
import sys
from dataclasses import dataclass

XTVERSION_QUERY = "\x1b[>0q"
_XTVERSION_REPLY = re.compile(r"\x1bP>\|(?P<text>[^\x1b]*)\x1b\\")
_NAME_VERSION = re.compile(r"^\s*(?P<name>[A-Za-z][\w.-]*?)[\s(]+v?(?P<version>\d+(?:\.\d+)*)")
# Terminals that draw TGP Unicode placeholders, and the first version that does.
PLACEHOLDER_TERMINALS = {"kitty": (0, 28, 0), "ghostty": (1, 0, 0)}


@dataclass(frozen=True)
class TerminalId:
    name: str
    version: tuple[int, ...]

    def render(self) -> str:
        return f"{self.name} {'.'.join(map(str, self.version))}"


@dataclass(frozen=True)
class Choice:
    protocol: str  # one of the UI settings' concrete protocols: kitty, sixel, halfcell, unicode
    reason: str  # why, in a few words (logged; said to the user when it is a fallback)
    fallback: bool = False  # the terminal answered for a protocol it cannot draw


def parse_xtversion(reply: str) -> TerminalId | None:
    """The terminal named in an XTVERSION reply (``ESC P > | kitty(0.26.5) ESC \\``), None if it names none."""
    match = _XTVERSION_REPLY.search(reply)
    if match is None:
        return None
    named = _NAME_VERSION.match(match.group("text"))
    if named is None:
        return None
    return TerminalId(named.group("name").lower(), tuple(int(p) for p in named.group("version").split(".")))


def draws_placeholders(terminal: TerminalId | None) -> bool:
    if terminal is None or terminal.name not in PLACEHOLDER_TERMINALS:
        return False
    return terminal.version >= PLACEHOLDER_TERMINALS[terminal.name]


def choose(detected: str, terminal: TerminalId | None) -> Choice:
    """The protocol to use when textual-image's detection picked ``detected`` and the terminal said
    ``terminal`` (None: it did not answer XTVERSION)."""
    if detected != "kitty":
        return Choice(detected, f"the terminal answered for {detected}")
    if draws_placeholders(terminal):
        assert terminal is not None
        return Choice("kitty", f"{terminal.render()} draws kitty-protocol placeholders")
    who = terminal.render() if terminal is not None else "a terminal that did not say its version"
    return Choice("halfcell", f"{who} answers the kitty graphics query but does not draw its placeholders "
                              "(kitty needs 0.28 or newer), so pictures are drawn in half cells", fallback=True)


def read_reply(fd: int, end: str, timeout: float) -> str:
    """What the terminal sends on ``fd`` until ``end`` arrives or ``timeout`` seconds pass without a byte."""
    reply = b""
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return reply.decode("utf-8", "replace")
        chunk = os.read(fd, 256)
        if not chunk:
            return reply.decode("utf-8", "replace")
        reply += chunk
        if reply.decode("utf-8", "replace").endswith(end):
            return reply.decode("utf-8", "replace")


def query_terminal(timeout: float = 0.3) -> TerminalId | None:
    """Ask the controlling terminal for its name and version (XTVERSION); None when it does not answer."""
    if os.name != "posix" or not (sys.__stdin__ and sys.__stdin__.isatty() and sys.__stdout__
                                  and sys.__stdout__.isatty()):
        return None
    import termios
    import tty

    fd = sys.__stdin__.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        sys.__stdout__.write(XTVERSION_QUERY)
        sys.__stdout__.flush()
        reply = read_reply(fd, "\x1b\\", timeout)
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
    return parse_xtversion(reply)


def detect() -> Choice:
    """Run textual-image's detection (importing its widgets does) and check a TGP answer against the
    terminal's version. Must run before Textual starts: afterwards Textual reads the terminal's replies."""
    from textual_image import renderable

    names = {renderable.SixelImage: "sixel", renderable.TGPImage: "kitty"}
    import textual_image.widget  # noqa: F401  (fills textual-image's cell-size cache while the terminal is ours)

    detected = names.get(renderable.Image, "halfcell" if sys.__stdout__ and sys.__stdout__.isatty() else "unicode")
    return choose(detected, query_terminal() if detected == "kitty" else None)
