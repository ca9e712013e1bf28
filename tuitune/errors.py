"""The one error type for problems a user caused and can fix: one sentence saying what to do, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """An error the user caused and can fix: printed as one sentence, exit code 2, no traceback."""
