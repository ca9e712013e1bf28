"""Paths and stems read from project files stay inside the project: the one check every reader and writer uses.

A value read from ``dataset.json``, ``masks.json`` or ``tuitune.db`` is data, not an instruction: before it is
opened, written or removed it goes through ``inside`` (a path) or ``safe_stem`` (a file name), which raise the
project's user error, naming the file and the key, when it would lead outside. Paths the user types on the
command line are theirs to choose and are not checked here.
"""

from __future__ import annotations

import os
from pathlib import Path

from tuitune.errors import UserError


def inside(root: str | os.PathLike[str], value: str | os.PathLike[str], where: str | None = None, *,
           follow_links: bool = True) -> Path:
    """``value`` (relative to ``root``, or absolute) checked to lie strictly inside ``root``.

    Resolved with symlinks, so a link leading out counts as outside. ``where`` names the file and key the
    value was read from (``"dataset.json item 'p0' path"``); without it the value is a path tuitune made
    itself and only a link on the way can lead out. ``follow_links=True`` (reading) returns the resolved path;
    ``follow_links=False`` (writing, replacing or removing ``value`` itself) resolves only the folders above
    it, so a link there is removed as a link, and returns the path as given under ``root``.
    """
    base = Path(root).resolve()
    text = os.fspath(value) if isinstance(value, str | os.PathLike) else None  # JSON may hold any type
    if not isinstance(text, str) or not text or "\x00" in text:
        raise _outside(where, value, base, None)
    given = Path(text)
    path = given if given.is_absolute() else Path(root) / given
    if follow_links:
        resolved = path.resolve()
    elif path.name in ("", ".", ".."):
        raise _outside(where, value, base, None)
    else:
        resolved = path.parent.resolve() / path.name
    if resolved == base or not resolved.is_relative_to(base):
        raise _outside(where, value, base, resolved)
    return resolved if follow_links else path


def safe_stem(name: object, where: str) -> str:
    """``name`` when it is a plain file name (a stem: no ``/``, ``\\``, ``..`` or NUL, not empty), else a
    user error naming ``where`` it was read from (``"dataset.json item 3 stem"``)."""
    if (not isinstance(name, str) or not name.strip() or name in (".", "..")
            or any(c in name for c in ("/", "\\", "\x00"))):
        raise UserError(
            f"{where} {name!r} is not a plain name (a stem has no /, \\ or .. and is not empty); "
            "fix that entry and try again."
        )
    return name


def _outside(where: str | None, value: object, base: Path, resolved: Path | None) -> UserError:
    if where is None and resolved is not None:  # a path tuitune made: only a link on the way leads out
        return UserError(f"{os.fspath(value)} leads outside {base} (to {resolved}) through a link; "  # type: ignore[arg-type]
                         "replace the link with a real folder or file inside it and try again.")
    shown = repr(os.fspath(value)) if isinstance(value, str | os.PathLike) else repr(value)
    what = f"leads outside {base} (to {resolved})" if resolved is not None else f"is not a path inside {base}"
    return UserError(f"{where or 'The path'} {shown} {what}; fix that entry (its paths are relative to that "
                     "folder) and try again.")
