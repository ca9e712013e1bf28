"""Errors the intent area raises for things the user can fix; each reads as one sentence."""

from __future__ import annotations

from tuitune.errors import UserError


class IntentError(UserError):
    """The message, a region or a backend cannot be used; the current spec is left unchanged."""


class IntentQuestion(IntentError):
    """The message is ambiguous (e.g. keep and delete the same concept): ask the user instead of guessing."""

    def __init__(self, question: str, concept: str = "", options: tuple[str, ...] = ()) -> None:
        super().__init__(question)
        self.question = question
        self.concept = concept
        self.options = options


class BackendUnavailable(IntentError):
    """The chosen parser backend cannot run here (no server, no model, no weights)."""
