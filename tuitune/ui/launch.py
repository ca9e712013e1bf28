"""Start the Textual app: find the project folder, then run ``TuituneApp`` in this terminal."""

from __future__ import annotations

import logging
from pathlib import Path

PROJECT_FILE = "project.toml"


def find_project(start: Path) -> Path | None:
    """The project folder holding ``start`` (the folder itself or a parent), if any."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def run_app(project_path: Path | None, readonly: bool = False) -> int:
    """Open the app on ``project_path`` (or the open/new screen when None); returns the exit code."""
    from tuitune.errors import UserError

    if project_path is not None:
        project_path = Path(project_path).expanduser().resolve()
        if not (project_path / PROJECT_FILE).is_file():
            raise UserError(
                f"{project_path} is not a tuitune project (no {PROJECT_FILE}); "
                "run `tuitune new PATH` to make one or open the folder that holds project.toml."
            )
    from tuitune.ui.settings import load_settings

    settings, _ = load_settings(project_path)
    choice = None
    if settings.image_protocol == "auto":
        # Asking the terminal what it draws must happen before Textual takes it over.
        from tuitune.ui.terminal_probe import detect

        choice = detect()
        logging.getLogger("tuitune.ui").info("pictures: %s (%s)", choice.protocol, choice.reason)
    elif settings.image_protocol != "halfcell":
        import textual_image.widget  # noqa: F401  (fills its cell-size cache while the terminal is ours)

    from tuitune.ui.app import TuituneApp

    app = TuituneApp(project_path=project_path, readonly=readonly, pictures=choice)
    app.run()
    return int(app.return_code or 0)


def open_app(path: str | Path | None = None, readonly: bool = False) -> int:
    """Open the app on the project at ``path``, or when None on the project around the current folder (else the
    open/new screen)."""
    if path is None:
        return run_app(find_project(Path.cwd()), readonly=readonly)
    return run_app(Path(path), readonly=readonly)
