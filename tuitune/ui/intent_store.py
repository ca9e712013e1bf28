"""Where the project's intent dialogue (turns, regions, every spec version) is kept: ``intent.json``."""

from __future__ import annotations

from pathlib import Path

from tuitune import atomic
from tuitune.intent.dialogue import Dialogue
from tuitune.intent.errors import IntentError

DIALOGUE_FILE = "intent.json"


def dialogue_path(project_root: Path) -> Path:
    return Path(project_root) / DIALOGUE_FILE


def load_dialogue(project_root: Path) -> Dialogue | None:
    """The saved dialogue, None when there is none yet; an unreadable file raises IntentError."""
    path = dialogue_path(project_root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IntentError(f"Cannot read {path} ({exc}); check its permissions.") from exc
    return Dialogue.from_json(text)


def save_dialogue(project_root: Path, dialogue: Dialogue) -> None:
    atomic.write_text(dialogue_path(project_root), dialogue.to_json())
