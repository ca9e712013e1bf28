"""Which key a terminal's ^H byte stands for: ctrl+h, unless the terminal's Backspace key sends it.

Most terminals (and tmux) send DEL for Backspace and ^H for ctrl+h, but Textual reads both as "backspace";
the byte it keeps in ``event.character`` tells them apart. The tty's erase character (``stty erase``) says
what Backspace sends, so a terminal whose Backspace sends ^H keeps its Backspace.
"""

from __future__ import annotations

import functools
import sys

from textual import events

CTRL_H = "\x08"


@functools.cache
def backspace_sends_ctrl_h() -> bool:
    try:
        import termios
    except ImportError:  # not a POSIX tty: Windows terminals send DEL for Backspace
        return False
    try:
        erase = termios.tcgetattr(sys.__stdin__.fileno())[6][termios.VERASE]
    except (AttributeError, OSError, ValueError, IndexError, termios.error):  # stdin is not a terminal
        return False
    return erase in (CTRL_H, CTRL_H.encode())


def is_ctrl_h(event: events.Key) -> bool:
    """The key is ctrl+h, also where the terminal sent it as the ^H byte Textual reads as backspace."""
    if event.key == "ctrl+h":
        return True
    return event.key == "backspace" and event.character == CTRL_H and not backspace_sends_ctrl_h()
