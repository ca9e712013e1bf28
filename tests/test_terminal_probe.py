"""The picture protocol is what the terminal draws: a kitty too old for placeholders gets half cells."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tuitune.ui.terminal_probe import TerminalId, choose, parse_xtversion

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("reply", "expected"), [
    ("\x1bP>|kitty(0.26.5)\x1b\\", TerminalId("kitty", (0, 26, 5))),
    ("\x1bP>|kitty(0.35.2)\x1b\\", TerminalId("kitty", (0, 35, 2))),
    ("\x1bP>|XTerm(379)\x1b\\", TerminalId("xterm", (379,))),
    ("\x1bP>|WezTerm 20240203-110809-5046fc22\x1b\\", TerminalId("wezterm", (20240203,))),
    ("\x1bP>|ghostty 1.1.3\x1b\\", TerminalId("ghostty", (1, 1, 3))),
    ("noise\x1bP>|tmux 3.3a\x1b\\", TerminalId("tmux", (3, 3))),
    ("", None),
    ("\x1b[?62;22c", None),
    ("\x1bP>|\x1b\\", None),
])
def test_xtversion_replies_name_the_terminal(reply: str, expected: TerminalId | None) -> None:
    assert parse_xtversion(reply) == expected


@pytest.mark.parametrize(("detected", "terminal", "protocol", "fallback"), [
    ("kitty", TerminalId("kitty", (0, 26, 5)), "halfcell", True),  # Debian 12's kitty: boxes otherwise
    ("kitty", TerminalId("kitty", (0, 28, 0)), "kitty", False),
    ("kitty", TerminalId("kitty", (0, 39, 1)), "kitty", False),
    ("kitty", TerminalId("wezterm", (20240203,)), "halfcell", True),  # answers TGP, draws no placeholders
    ("kitty", None, "halfcell", True),  # did not say what it is
    ("sixel", TerminalId("xterm", (379,)), "sixel", False),
    ("halfcell", None, "halfcell", False),
    ("unicode", None, "unicode", False),
])
def test_tgp_is_kept_only_for_terminals_that_draw_placeholders(detected, terminal, protocol, fallback) -> None:
    choice = choose(detected, terminal)
    assert (choice.protocol, choice.fallback) == (protocol, fallback)
    if fallback:
        assert "half cells" in choice.reason


def run_in_fake_terminal(answers: dict[str, str], timeout: float = 60.0) -> str:
    """Run the start-up detection in a pseudo-terminal whose other end answers each query in ``answers``
    (query prefix -> reply) as a terminal would; returns what the detection printed."""
    master, slave = os.openpty()
    # 80x24 cells of 10x20 pixels, so the cell size comes from the ioctl as in a real terminal
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 800, 480))
    code = ("from tuitune.ui.terminal_probe import detect\n"
            "c = detect()\n"
            "print('CHOICE', c.protocol, c.fallback, flush=True)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave, env=env,
                             start_new_session=True)
    os.close(slave)
    seen, out, deadline = "", "", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 4096).decode("utf-8", "replace")
                except OSError:  # the child closed its end
                    break
                seen += chunk
                out += chunk
                for query, reply in answers.items():
                    while query in seen:
                        seen = seen.replace(query, "", 1)
                        os.write(master, reply.encode())
            elif child.poll() is not None:
                break
    finally:
        child.kill()
        child.wait()
        os.close(master)
    return out


KITTY_TGP = {"\x1b[c": "\x1b[?62;22c", "\x1b_G": "\x1b_Gi=1;OK\x1b\\"}


@pytest.mark.parametrize(("version", "expected"), [
    ("kitty(0.26.5)", "CHOICE halfcell True"),
    ("kitty(0.32.2)", "CHOICE kitty False"),
])
def test_a_terminal_that_answers_the_kitty_query_is_asked_its_version(version: str, expected: str) -> None:
    out = run_in_fake_terminal({**KITTY_TGP, "\x1b[>0q": f"\x1bP>|{version}\x1b\\"})
    assert expected in out, out


def test_a_sixel_terminal_is_not_asked_its_version() -> None:
    out = run_in_fake_terminal({"\x1b[c": "\x1b[?62;4;22c", "\x1b[>0q": "\x1bP>|XTerm(379)\x1b\\"})
    assert "CHOICE sixel False" in out, out
    assert "\x1b[>0q" not in out
