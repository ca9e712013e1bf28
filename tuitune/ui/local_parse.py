"""Run the local-model intent parser out of process (``python -m tuitune intent``), streaming its tokens.

The local parser imports torch and transformers, which the app's process never does; the CLI twin prints
streamed tokens on stderr and writes the spec with ``--out``, so the app reads both and stores the result.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from tuitune.intent.errors import IntentError
from tuitune.intent.regions import Region
from tuitune.intent.spec import IntentSpec

TIMEOUT_SECONDS = 600.0


def command(text: str, current_file: Path | None, regions: Sequence[Region], model: str | None,
            out_file: Path) -> list[str]:
    """The CLI call that parses ``text`` with the local backend; regions keep their numbers by order."""
    argv = [sys.executable, "-m", "tuitune", "intent", text, "--backend", "local", "--out", str(out_file)]
    if model:
        argv += ["--model", model]
    if current_file is not None:
        argv += ["--spec", str(current_file)]
    for region in sorted(regions, key=lambda r: r.number):
        argv += ["--ref", f"{region.image}:" + ",".join(f"{v:g}" for v in region.box)]
    return argv


def parse_in_subprocess(
    text: str,
    current: IntentSpec | None,
    regions: Sequence[Region],
    model: str | None,
    scratch: Path,
    on_token: Callable[[str], None] | None = None,
    argv_for: Callable[..., list[str]] = command,
) -> IntentSpec:
    """The next spec from the local model; a failure raises IntentError with the child's last sentence."""
    numbers = sorted(r.number for r in regions)
    if numbers != list(range(1, len(numbers) + 1)):
        raise IntentError("The local parser needs regions numbered 1, 2, 3...; use `tuitune intent` in a shell.")
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="intent-") as folder:
        current_file = None
        if current is not None:
            current_file = Path(folder) / "current.json"
            current_file.write_text(current.to_json(), encoding="utf-8")
        out_file = Path(folder) / "spec.json"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(argv_for(text, current_file, regions, model, out_file), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
        said: list[str] = []
        assert proc.stderr is not None
        while True:
            chunk = proc.stderr.read1(512)  # type: ignore[attr-defined]
            if not chunk:
                break
            piece = chunk.decode("utf-8", errors="replace")
            said.append(piece)
            if on_token is not None:
                on_token(piece)
        try:
            code = proc.wait(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise IntentError("The local model took too long; try a smaller model or the rules parser.") from None
        if code != 0 or not out_file.is_file():
            lines = [line for line in "".join(said).splitlines() if line.strip()]
            last = lines[-1].removeprefix("tuitune: ") if lines else f"exit code {code}"
            raise IntentError(f"The local parser failed: {last}")
        try:
            return IntentSpec.from_json(out_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise IntentError(f"The local parser wrote an invalid spec ({exc}).") from None
