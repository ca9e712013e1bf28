"""The app in real terminals under a virtual X display: the Dataset preview shows the picture's pixels.

xterm draws Sixel; Debian 12's kitty (0.26.5) answers the kitty graphics query but cannot draw the Unicode
placeholders textual-image uses, so the app must fall back to half cells there instead of showing boxes. The
terminals come from Debian's packages: the test installs them when it runs as root on a machine with apt-get
(as CI does), and is skipped, saying why, anywhere else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.slow

TUITUNE = Path(sys.executable).with_name("tuitune")
TOOLS = {"Xvfb": "xvfb", "xterm": "xterm", "kitty": "kitty", "import": "imagemagick", "xdotool": "xdotool"}
EXTRA_PACKAGES = ["libgl1-mesa-dri", "fonts-dejavu-core"]  # kitty draws with OpenGL (software under Xvfb)


def _missing() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@pytest.fixture(scope="module")
def x_tools() -> None:
    if not _missing():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip(f"{', '.join(_missing())} not installed and no root apt-get to install them from Debian")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    packages = sorted({TOOLS[t] for t in _missing()} | set(EXTRA_PACKAGES))
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *packages]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.skip(f"{' '.join(command[:2])} took over 5 minutes (no package mirror reachable?)")
        if done.returncode != 0:
            pytest.skip(f"{' '.join(command[:2])} failed, so the terminals cannot be installed: "
                        f"{done.stderr.strip()[-300:]}")
    assert not _missing(), f"installed {packages} but {_missing()} still missing"


@pytest.fixture
def display(x_tools: None, tmp_path: Path):
    for number in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    name = f":{number}"
    server = subprocess.Popen(["Xvfb", name, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Ready once a client can connect (its socket file alone came too early once: kitty then found no display).
    deadline = time.monotonic() + 30
    env = {**os.environ, "DISPLAY": name}
    while subprocess.run(["xdotool", "getdisplaygeometry"], env=env, capture_output=True).returncode != 0:
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise AssertionError(f"Xvfb did not start on {name}")
        time.sleep(0.2)
    try:
        yield name
    finally:
        server.terminate()  # lets Xvfb remove its socket and lock
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _terminal_command(terminal: str) -> list[str]:
    if terminal == "xterm":
        return ["xterm", "-ti", "vt340", "-xrm", "XTerm*decTerminalID: vt340", "-xrm",
                "XTerm*numColorRegisters: 256", "-geometry", "120x36", "-fa", "Monospace", "-fs", "9",
                "-e", str(TUITUNE)]
    return ["kitty", "--config", "NONE", "-o", "font_size=9", "-o", "remember_window_size=no",
            "-o", "initial_window_width=120c", "-o", "initial_window_height=36c", str(TUITUNE)]


def _window(pid: int, env: dict[str, str], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--pid", str(pid)], env=env, capture_output=True, text=True)
        ids = found.stdout.split()
        if ids:
            return ids[-1]
        time.sleep(0.3)
    raise AssertionError(f"no X window for the terminal (pid {pid})")


def _shot(window: str, env: dict[str, str], path: Path) -> Image.Image:
    subprocess.run(["import", "-window", window, str(path)], env=env, check=True, capture_output=True)
    with Image.open(path) as im:
        return im.convert("RGB")


def _colours(picture: Image.Image) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The picture's background colour (the commonest) and its subject's (the commonest far from it)."""
    counts = sorted(picture.getcolors(1 << 16), reverse=True)
    background = counts[0][1]
    subject = next(c for _, c in counts if _distance(c, background) > 120)
    return background, subject


def _distance(a, b) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5


def _share_near(image: Image.Image, colour, within: float = 60.0) -> float:
    pixels = list(image.getdata())
    return sum(_distance(p, colour) <= within for p in pixels) / len(pixels)


@pytest.mark.parametrize("terminal", ["xterm", "kitty"])
def test_dataset_preview_shows_the_pictures_pixels(terminal: str, display: str, tmp_path: Path) -> None:
    from tuitune.cli.sample import make_sample

    project = tmp_path / "toyworld-watermark"
    make_sample(project).close()
    first = sorted((project / "images").glob("*.png"))[0]
    with Image.open(first) as im:
        background, subject = _colours(im.convert("RGB"))
    env = {**os.environ, "DISPLAY": display, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("TUITUNE_IMAGE_PROTOCOL", None)
    log = (tmp_path / f"{terminal}.log").open("w")
    process = subprocess.Popen(_terminal_command(terminal), cwd=project, env=env, stdout=log, stderr=log)
    try:
        window = _window(process.pid, env)
        time.sleep(8)  # the app starts (imports, terminal queries, first paint)
        # Keys go through XTEST to the window under the pointer (xterm ignores synthetic events sent to it).
        subprocess.run(["xdotool", "mousemove", "--window", window, "20", "20"], env=env, check=True)
        subprocess.run(["xdotool", "key", "3"], env=env, check=True, capture_output=True)
        deadline, shares = time.monotonic() + 40, (0.0, 0.0)
        while time.monotonic() < deadline:
            time.sleep(2)
            shot = _shot(window, env, tmp_path / f"{terminal}.png")
            width, height = shot.size
            preview = shot.crop((width // 2, 0, width, int(height * 0.6)))  # the preview pane, not the thumbnails
            shares = (_share_near(preview, background), _share_near(preview, subject))
            if shares[0] >= 0.05 and shares[1] >= 0.005:
                break
        assert shares[0] >= 0.05 and shares[1] >= 0.005, (
            f"{terminal}: the preview pane shows {shares[0]:.1%} of the picture's background colour {background} "
            f"and {shares[1]:.1%} of its subject's {subject}; screenshot {tmp_path / f'{terminal}.png'}")
    finally:
        process.kill()
        process.wait()
        log.close()
