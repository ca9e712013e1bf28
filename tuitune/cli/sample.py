"""Sample projects: make a ready-to-use project from a shipped sample (images imported, intent parsed, model set).

The committed sample folders in the repository are templates: opening one makes (or reopens) a copy in the
user's own folder, so the app never writes into the checkout (``train.toml`` there is tracked, and runs are
large). A sample name given as a new folder is made in place.
"""

from __future__ import annotations

import importlib
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from tuitune import atomic
from tuitune.errors import UserError
from tuitune.project.project import Project, is_project

# Inputs of a template that a copy takes; everything else (state of an earlier in-place open) stays behind.
TEMPLATE_INPUTS = ("images", "ground_truth", "intent.txt", "README.md")
TRAIN_FILE = "train.toml"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Sample:
    name: str
    populate: str  # "module:function(project)" writing the inputs when no template folder ships
    settings: dict[str, Any]  # project.toml values


SAMPLES: dict[str, Sample] = {
    "toyworld-watermark": Sample(
        name="toyworld-watermark",
        populate="tuitune.toyworld.sample_project:populate",
        settings={
            "base_model": "toyworld",
            "intent": {"parser": "rules"},
            "vision": {"detector": "analytic", "segmenter": "analytic", "embedder": "analytic"},
            # The toyworld model draws 64 px pictures and learns in a couple of hundred CPU steps.
            "training": {"resolution": 64, "steps": 200, "batch_size": 8, "lr": 1e-3, "rank": 8,
                         "checkpoint_every": 50, "sample_every": 50, "preservation": 1.0},
        },
    ),
}


def sample_for(path: str | Path) -> Sample | None:
    """The sample a folder name stands for, when it is not a project yet."""
    path = Path(path).expanduser()
    return None if is_project(path) else SAMPLES.get(path.resolve().name)


def template_dir(name: str) -> Path | None:
    """The committed template of sample ``name`` in this checkout, if it ships one."""
    folder = REPO_ROOT / "sample_projects" / name
    return folder if (folder / "intent.txt").is_file() and (folder / "images").is_dir() else None


def is_template(path: str | Path) -> bool:
    template = template_dir(Path(path).expanduser().resolve().name)
    return template is not None and Path(path).expanduser().resolve() == template.resolve()


def default_copy_dir(name: str) -> Path:
    return Path.home() / "tuitune" / name


def make_sample(dest: str | Path, name: str | None = None) -> Project:
    """Make sample ``name`` (default: ``dest``'s folder name) at ``dest`` and return it open for writing.

    Inputs come from the committed template when this checkout has one, else from the sample's generator;
    then the images are imported, the intent in ``intent.txt`` is parsed into spec version 1, and
    ``project.toml`` names the sample's base model and vision backends.
    """
    dest = Path(dest).expanduser().resolve()
    sample = SAMPLES.get(name or dest.name)
    if sample is None:
        raise UserError(f"There is no sample project called {name or dest.name!r}; try one of {', '.join(SAMPLES)}.")
    if is_project(dest):
        raise UserError(f"{dest} is already a project; open it with `tuitune open {dest}`.")
    template = template_dir(sample.name)
    if template is not None and template.resolve() != dest:
        _copy_inputs(template, dest)
    project = Project.create(dest, name=dest.name, **sample.settings)
    try:
        if template is None:
            _populate(sample, project)
        elif template.resolve() == dest:
            pass  # made in place from the template itself: its inputs are already here
        _import_images(project)
        _parse_intent(project)
    except BaseException:
        project.close()
        raise
    return project


def _copy_inputs(template: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for entry in TEMPLATE_INPUTS:
        source = template / entry
        if source.is_dir():
            shutil.copytree(source, dest / entry, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, dest / entry)
    if (template / TRAIN_FILE).is_file():
        atomic.write_text(dest / TRAIN_FILE, project_train_toml(template / TRAIN_FILE))


def project_train_toml(template_train: Path) -> str:
    """The template's ``train.toml`` as the copy's form defaults: the sample's hyperparameters and sample
    prompts, but the project's own detected masks and spec-derived loss (a copy has no ``../..`` model path,
    and the template's ground-truth masks would bypass the Concepts station)."""
    config = tomllib.loads(template_train.read_text(encoding="utf-8"))
    model = config.get("model", {})
    base = str(model.get("base", ""))
    if base and not Path(base).is_absolute():
        resolved = (template_train.parent / base).resolve()
        model["base"] = "toyworld" if resolved == _toyworld_model() else str(resolved)
    data = config.get("data", {})
    for key in ("folder", "masks"):
        data.pop(key, None)
    loss = config.get("loss", {})
    for key in ("concepts", "background_weight", "background_preserve"):
        loss.pop(key, None)
    header = (
        "# Training defaults of this sample project: the app's Train form starts from these, and\n"
        "# `tuitune train .` uses them. Masks and the loss per concept come from the project's spec.\n"
    )
    return header + tomli_w.dumps(config)


def _toyworld_model() -> Path | None:
    try:
        from tuitune.toyworld import model_path
    except ImportError:
        return None
    return Path(model_path()).resolve()


def _populate(sample: Sample, project: Project) -> None:
    module_name, _, func = sample.populate.partition(":")
    try:
        populate = getattr(importlib.import_module(module_name), func)
    except (ModuleNotFoundError, AttributeError):
        project.notes.append("This tuitune cannot fill the sample; the project starts empty.")
        return
    populate(project)


def _import_images(project: Project) -> None:
    from tuitune.data.importer import import_folder

    if not any(project.images_dir.iterdir()):
        return
    # The project holds the writer lock; the importer mirrors into the DB through its own open, so let go
    # of the lock for the import and take it back afterwards.
    _with_lock_released(project, lambda: import_folder(project.images_dir, project.root))


def _parse_intent(project: Project) -> None:
    from tuitune.intent.project_link import store
    from tuitune.intent.rules import RuleParser

    intent_file = project.root / "intent.txt"
    if project.db.latest_spec() is not None or not intent_file.is_file():
        return
    text = intent_file.read_text(encoding="utf-8").strip()
    if text:
        store(project, text, RuleParser().parse(text, None, []), None, [])


def _with_lock_released(project: Project, work: Any) -> Any:
    from tuitune.project.lock import WriterLock

    if project.lock is not None:
        project.lock.release()
        project.lock = None
    try:
        return work()
    finally:
        project.lock = WriterLock(project.root).acquire()
