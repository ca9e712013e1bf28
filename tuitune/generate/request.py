"""One generate request for a project, for the Generate screen (ctrl+g) and ``tuitune generate --project``.

The base model and its kind come from project.toml unless the user names a model; the pictures go to the
project's ``generations/``. Paths inside the project are written relative to the run folder, as a train run's
are, so a moved project's runs still find them; a path outside it stays absolute (the user named it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuitune.generate.batch import GenerateRequest
from tuitune.train.project_run import from_run

GENERATIONS = "generations"


def generate_request(project_root: str | Path, prompts: list[str], *, model: str | None = None,
                     lora: str | None = None, **options: Any) -> GenerateRequest:
    """The request for drawing ``prompts`` in the project; ``options`` are GenerateRequest fields the user chose
    (None: its default). A damaged project.toml raises UserError; a bad value pydantic's ValidationError."""
    from tuitune.project.settings import SETTINGS_FILE, load_settings

    root = Path(project_root).expanduser().resolve()
    if model is None:
        settings = load_settings(root / SETTINGS_FILE)
        model, kind = settings.base_model, settings.model_kind
    else:
        kind = "auto"
    chosen = {key: value for key, value in options.items() if value is not None}
    return GenerateRequest(
        model=from_run(root, model, must_exist=False), kind=kind, lora=from_run(root, lora) if lora else None,
        prompts=prompts, output=from_run(root, GENERATIONS), **chosen,
    )


def in_run(run_path: Path, request: GenerateRequest) -> GenerateRequest:
    """``request`` with the paths written relative to the run folder made absolute, for the job to open."""

    def absolute(value: str | None) -> str | None:
        if value and value.startswith(("./", "../")):
            return str((Path(run_path) / value).resolve())
        return value

    return request.model_copy(update={"model": absolute(request.model), "lora": absolute(request.lora),
                                      "output": absolute(request.output)})


def submit(project_root: str | Path, request: GenerateRequest, name: str | None = None) -> Any:
    """Queue ``request`` as a ``generate`` job in the project's ``runs/``; returns its RunDir."""
    from tuitune.jobs.queue import submit as queue_submit

    config = {"generate": request.model_dump(mode="json", exclude_none=True)}
    return queue_submit(Path(project_root).expanduser().resolve() / "runs", "generate", config, name=name)
