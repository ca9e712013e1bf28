"""The newcomer path in the real terminal, with the keys README.md lists and no others: intent, detection, one
instance rejected, a short run, its evaluation, and base vs the recommended LoRA, in at most 18 keys."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tuitune.toyworld import model_path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_projects" / "toyworld-watermark"
MOST_KEYS = 18  # issue 18: the whole path in at most this many keys besides the intent text
STATIONS = ["intent", "concepts", "dataset", "train", "score", "generate"]
NAMED_KEYS = {"enter": "Enter", "esc": "Escape", "tab": "Tab", "ctrl+d": "C-d", "ctrl+g": "C-g"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.skipif(not (model_path() / "model_index.json").exists(),
                       reason="the toyworld model has not been pretrained into tuitune/toyworld/model yet"),
]


def readme_keys() -> dict[str, list[str]]:
    """Station -> its keys, from the table under ``<!-- newcomer-keys -->`` in README.md (one `key` per
    backtick; a token that is no key name and longer than one character is text, one key per character)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- newcomer-keys -->", 1)[1].strip().split("\n\n", 1)[0]
    stations: dict[str, list[str]] = {}
    for line in table.splitlines()[2:]:  # below the header and its rule
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        stations[cells[0]] = re.findall(r"`([^`]+)`", cells[1])
    return stations


def key_presses(tokens: list[str]) -> list[str]:
    """tmux key names, one per key the user presses: `20` is two presses."""
    presses: list[str] = []
    for token in tokens:
        presses += [NAMED_KEYS[token]] if token in NAMED_KEYS else list(token)
    return presses


def test_the_readme_lists_every_station_within_the_key_budget() -> None:
    stations = readme_keys()
    assert list(stations) == STATIONS
    count = sum(len(key_presses(keys)) for keys in stations.values())
    assert count <= MOST_KEYS
    heading = re.search(r"^## The newcomer path in (\d+) keys$", (REPO / "README.md").read_text(), re.M)
    assert heading is not None and int(heading.group(1)) == count


class Terminal:
    """A tmux session of its own server (so other tmux users on the machine are left alone), 120x36."""

    def __init__(self, name: str, captures: Path) -> None:
        self.socket = name
        self.captures = captures
        self.sent: list[str] = []

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              check=True).stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "36", command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app")

    def press(self, key: str) -> None:
        self.sent.append(key)
        self.tmux("send-keys", "-t", "app", key)
        # A lone Escape followed at once by a key reads as alt+key; other keys get a moment to be handled.
        time.sleep(0.6 if key == "Escape" else 0.3)

    def type_text(self, text: str) -> None:
        """In one burst, as a paste or a fast typist sends it (every letter queued before the first is handled)."""
        self.tmux("send-keys", "-t", "app", "-l", text)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.25)
        raise AssertionError(f"{text!r} never appeared; the pane shows:\n{screen}")

    def wait_for_pattern(self, pattern: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if re.search(pattern, screen):
                return screen
            time.sleep(0.25)
        raise AssertionError(f"{pattern!r} never matched; the pane shows:\n{screen}")

    def capture(self, station: str) -> str:
        screen = self.screen()
        (self.captures / f"{station}.txt").write_text(screen, encoding="utf-8")
        return screen

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def wait_until(check, what: str, timeout: float = 300.0, terminal: Terminal | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    shown = f"; the pane shows:\n{terminal.screen()}" if terminal is not None else ""
    raise AssertionError(f"{what} did not happen in {timeout:.0f} s{shown}")


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def masks_of(root: Path) -> dict:
    """masks.json as the app reads it: picture -> concept -> its instances and mask."""
    from tuitune.data.dataset import Dataset

    try:
        return Dataset(root).masks_index()
    except (OSError, ValueError):
        return {}


def runs_of_kind(root: Path, kind: str) -> list[Path]:
    found = []
    for folder in sorted((root / "runs").glob("*")):
        try:
            config = tomllib.loads((folder / "run.toml").read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if config.get("job", {}).get("kind", "train") == kind:
            found.append(folder)
    return found


def finished(run: Path) -> bool:
    return read_json(run / "status.json").get("state") == "finished"


def test_the_newcomer_path_in_the_listed_keys(tmp_path: Path) -> None:
    stations = readme_keys()
    presses = {name: key_presses(keys) for name, keys in stations.items()}
    root = tmp_path / "toyworld-watermark"
    env = {"TERM": "xterm-256color", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TUITUNE_IMAGE_PROTOCOL": "halfcell", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    exports = " ".join(f"{k}='{v}'" for k, v in env.items())
    # What `bash scripts/demo --copy-to DIR` runs: the committed sample stays as it is, the copy is made fresh.
    # LINES and COLUMNS (set in some test runners' environment, which the tmux server inherits) would pin the
    # app to that size instead of the pane's.
    command = (f"cd {tmp_path} && unset LINES COLUMNS; {exports} {sys.executable} -m tuitune open {SAMPLE} --copy-to {root}; "
               "echo EXITED:$?; sleep 60")
    captures = tmp_path / "captures"
    captures.mkdir()
    term = Terminal(f"tuitune-newcomer-{os.getpid()}", captures)
    term.start(command)
    try:
        term.wait_for("parser: rules", timeout=90)  # the Intent screen of the new copy

        # Intent: the statement typed (not counted), then its keys; the rules parser answers with a new spec.
        intent = (SAMPLE / "intent.txt").read_text(encoding="utf-8").strip()
        term.type_text(intent)
        # The message field (its end shows) holds all of it: the log above already shows the first statement.
        term.wait_for_pattern(r"▊.*doesn't matter\.\s*▎")
        for key in presses["intent"][:1]:
            term.press(key)
        term.wait_for("Spec v2")
        for key in presses["intent"][1:]:
            term.press(key)
        screen = term.capture("intent")
        assert "ring shape" in screen and "watermark" in screen  # the spec's concepts beside the chat
        from tuitune.project.project import Project
        from tuitune.ui.intent_history import latest_spec

        with Project.open(root, readonly=True) as project:
            spec = latest_spec(project)
        assert spec is not None and spec.version == 2 and "zxq" in spec.trigger_words
        operations = {c.name: c.operation.value for c in spec.concepts}
        assert operations.get("watermark") == "delete" and operations.get("ring shape") == "keep", operations

        # Concepts: detection runs as a job; every picture gets its masks.
        for key in presses["concepts"]:
            term.press(key)
        term.wait_for("Versions")
        detect = wait_until(lambda: [r for r in runs_of_kind(root, "detect") if finished(r)], "detection", 300,
                            term)[0]
        masks = masks_of(root)
        assert len(masks) == 32 and all("ring shape" in entry for entry in masks.values()), len(masks)
        term.wait_for_pattern(r"ring shape\s+attribute\s+keep\s+32\b", timeout=30)  # found in all 32 pictures
        assert "Spec v2" in term.capture("concepts")

        # Dataset: i goes to the instances of the highlighted picture, i again rejects the first one.
        stem = sorted(masks)[0]  # the picture the grid highlights first
        show, *decide = presses["dataset"]
        term.press(show)
        term.wait_for(f"{stem}.png · masks:")
        assert "yes" in term.capture("dataset-before")  # its instances, all accepted by detection
        for key in decide:
            term.press(key)
        rejected = wait_until(
            lambda: [(concept, n) for concept, entry in masks_of(root).get(stem, {}).items()
                     for n, inst in enumerate(entry.get("instances", [])) if inst.get("accepted") is False],
            "the rejection on disk", 30, term)
        assert len(rejected) == 1, rejected
        (concept, index), = rejected
        instance = masks_of(root)[stem][concept]["instances"][index]
        assert instance.get("decided") == "user"
        # The instances table says so once the notices over it have gone.
        term.wait_for_pattern(rf"{re.escape(concept)}\s+{index + 1}\s+\S+\s+no\b", timeout=20)
        term.capture("dataset")

        # Train: the steps field, a short run, started; the run folder says when it has finished.
        show, *form = presses["train"]
        term.press(show)
        term.wait_for("Settings (esc")
        for key in form:
            term.press(key)
        train = wait_until(lambda: runs_of_kind(root, "train"), "a training run", 60, term)[0]
        wait_until(lambda: finished(train), "the training run", 900, term)
        config = tomllib.loads((train / "run.toml").read_text(encoding="utf-8"))
        assert config["train"]["steps"] == 20
        assert read_json(train / "status.json").get("step") == 20
        assert (train / "lora.safetensors").is_file()
        term.wait_for("finished", timeout=30)
        term.capture("train")

        # Score: the run's checkpoints evaluated against the intent; one is recommended (★).
        for key in presses["score"]:
            term.press(key)
        evaluation = wait_until(lambda: runs_of_kind(root, "evaluate"), "an evaluation job", 60, term)[0]
        wait_until(lambda: finished(evaluation), "the evaluation", 600, term)
        rows = [json.loads(line) for line in (train / "eval.jsonl").read_text(encoding="utf-8").splitlines()
                if line.strip()]
        assert rows and rows[-1]["checkpoint"] == "step_20"
        screen = term.wait_for("★", timeout=30)
        term.capture("score")

        # Generate: the picker follows the recommended checkpoint; one key draws base and LoRA.
        *move, draw = presses["generate"]
        for key in move:
            term.press(key)
        term.wait_for("★", timeout=30)  # the LoRA picker shows the recommended checkpoint
        term.press(draw)
        records = wait_until(lambda: sorted((root / "generations").glob("*.json")), "a generation", 300, term)
        record = read_json(records[0])
        assert record["lora"] is not None and train.name in record["lora"] and "step_20" in record["lora"]
        assert {"base", "lora"} <= set(record["images"])
        assert all((root / "generations" / name).is_file() for name in record["images"].values())
        term.wait_for("LoRA · seed", timeout=30)
        screen = term.capture("generate")
        assert "base · seed" in screen

        assert detect.is_dir()
        counted = sum(len(keys) for keys in presses.values())
        assert term.sent == [key for name in STATIONS for key in presses[name]]
        assert len(term.sent) == counted <= MOST_KEYS, term.sent
        term.tmux("send-keys", "-t", "app", "C-q")
        term.wait_for("EXITED:0", timeout=30)
    finally:
        term.close()
