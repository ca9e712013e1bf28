"""The one error type the training engine raises for problems a user can fix."""

from __future__ import annotations

from tuitune.errors import UserError


class TrainError(UserError):
    """A training problem the user caused and can fix; its message is one sentence saying what to do."""
