"""A project's ``train`` job: its config (project defaults, train.toml, form values, the spec's loss) and its data.

``train_request`` is the one way a project's run config is made: the Train screen (s) and ``tuitune train
PROJECT`` both call it, so the same project and choices queue the same run.toml.

Paths inside the project are written relative to the run folder (``runs/NAME/``), so a moved project's runs
still resume. The images are not named in the config: the job exports the project's dataset (imported and
augmented items, spec-optimised captions, masks) into ``runs/NAME/data`` when it starts, so a run trains on
what the dataset held when it was queued and a resume trains on the same pictures.
"""

from __future__ import annotations

import copy
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.paths import inside, safe_stem

TRAIN_CONFIG_FILE = "train.toml"
ACCELERATE = "accelerate"  # project.toml / train.toml table whose ``config`` names the accelerate config file
RUN_DATA = "data"  # the run's exported training folder, beside run.toml
PROJECT_FROM_RUN = "../.."  # a run folder is PROJECT/runs/NAME

# project.toml [training] key -> TrainConfig (section, key): the project's defaults for a new run.
PROJECT_DEFAULTS = {
    "resolution": ("data", "resolution"),
    "steps": ("train", "steps"),
    "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"),
    "rank": ("lora", "rank"),
    "seed": ("train", "seed"),
    "mixed_precision": ("train", "mixed_precision"),
    "num_processes": ("train", "num_processes"),
    "checkpoint_every": ("checkpoints", "every"),
    "sample_every": ("samples", "every"),
    "preservation": ("loss", "preservation"),
}


# [data] defaults of a run whose captions come from the intent (trigger words first): each tag after the trigger
# is dropped half the time, so the trigger learns alone ("zxq") and beside the words it comes with in prompts
# ("zxq on a white background"). On the toyworld sample (text-encoder LoRA on, 48 trigger samples a run) 0.5
# drew the ring in 71-92% of trigger samples where 1.0 (the trigger alone) drew 62% and left "zxq on a white
# background" at half.
INTENT_TAG_DROPOUT = 0.5


def intent_caption_options(spec: Any) -> dict[str, Any]:
    """``[data]`` keep_tokens and caption_tag_dropout for training on captions the caption optimiser wrote."""
    from tuitune.intent.captions import trigger_tags

    if spec is None or not spec.trigger_words:
        return {}
    return {"keep_tokens": trigger_tags(spec), "caption_tag_dropout": INTENT_TAG_DROPOUT}


def intent_lora_options(spec: Any) -> dict[str, Any]:
    """``[lora]`` pivotal tuning of the first trigger word, started at what the intent says it is (the words
    the caption optimiser gives over to it: "zxq is my character: a ring" starts zxq at "ring"); {} when the
    spec names no trigger or nothing kept that it stands for."""
    from tuitune.intent.captions import trigger_meaning

    if spec is None or not spec.trigger_words:
        return {}
    meaning = trigger_meaning(spec)
    if not meaning:
        return {}
    word = spec.trigger_words[0]
    return {"pivotal": [word], "pivotal_init": {word: meaning}}


def read_toml(path: Path) -> tuple[dict[str, Any], str | None]:
    """The TOML file as a dict ({} when absent) and a sentence when it could not be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path.name} could not be read ({exc}); the defaults are used instead."


def base_config(project_root: Path) -> tuple[dict[str, Any], str | None]:
    """The run config before any form: project.toml's training defaults, then ``train.toml`` over them.

    Returns the nested dict and a sentence to show when a file was unusable.
    """
    from tuitune.project.settings import SETTINGS_FILE, load_settings

    config: dict[str, Any] = {"model": {}, "data": {"folder": "images", "masks": "masks"}}
    warning = None
    try:
        project = load_settings(Path(project_root) / SETTINGS_FILE)
    except UserError as exc:
        project, warning = None, f"{exc} The defaults are used instead."
    if project is not None:
        config["model"] = {"base": project.base_model, "kind": project.model_kind}
        training = project.training.model_dump()
        for name, (section, key) in PROJECT_DEFAULTS.items():
            config.setdefault(section, {})[key] = training[name]
        if project.accelerate.config:
            config[ACCELERATE] = {"config": project.accelerate.config}
    override, warning2 = read_toml(Path(project_root) / TRAIN_CONFIG_FILE)
    for section, table in override.items():
        if isinstance(table, dict):
            config.setdefault(section, {}).update(table)
        else:
            config[section] = table
    return config, warning or warning2


def train_request(project_root: Path, choices: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The run.toml tables of a new training run of the project with what the user chose.

    ``base_config`` (project.toml's defaults, train.toml over them), then ``choices`` (``{section: {key: value}}``;
    a None value removes the key, so the engine picks it), the latest spec's loss plan and its version. A damaged
    project.toml, train.toml, spec or dataset.json, or a bad value, raises UserError with one sentence: the run
    is not queued on defaults the user did not choose.
    """
    from tuitune.data.dataset import Dataset
    from tuitune.project.settings import SETTINGS_FILE, load_settings

    root = Path(project_root).expanduser().resolve()
    load_settings(root / SETTINGS_FILE)  # a damaged project.toml stops here, in its own sentence
    config, warning = base_config(root)
    if warning:
        raise UserError(warning.replace("the defaults are used instead", "fix it and try again"))
    for section, table in (choices or {}).items():
        for key, value in table.items():
            if value is None:
                config.get(section, {}).pop(key, None)
            else:
                config.setdefault(section, {})[key] = value
    # The job exports dataset.json when it starts: a damaged one stops here, before a run is queued.
    Dataset(root).items()
    spec = _spec(root, None)
    try:
        return job_config(root, config, spec, spec_version=spec.version if spec is not None else None)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def job_config(project_root: Path, config: dict[str, Any], spec: Any = None, spec_version: int | None = None,
               include_derived: bool = True) -> dict[str, Any]:
    """The ``train`` job's run.toml tables for ``config`` (as ``base_config`` gives, maybe edited).

    Adds the spec's ``[loss]`` table unless the config names concepts itself, points ``[data]`` at the run's
    exported dataset and validates everything; a bad value raises ValueError (or the engine's TrainError)
    with one sentence naming the setting. An ``[accelerate] config`` file is read and checked now (a UserError
    when it is missing or broken) and becomes ``[job] accelerate_config``, which the launcher passes on.
    """
    from tuitune.train.config import TrainConfig

    root = Path(project_root).expanduser().resolve()
    config = copy.deepcopy(config)
    launcher = _accelerate_job(root, config.pop(ACCELERATE, None), config.get("train", {}))
    if not str(config.get("model", {}).get("base", "")).strip():
        raise ValueError("Set the base model (a diffusers folder, .safetensors file or hub id) before training.")
    loss = config.setdefault("loss", {})
    if spec is not None and not loss.get("concepts"):
        from tuitune.data.loss_plan import loss_table

        planned = loss_table(spec, preservation=float(loss.get("preservation", 1.0)))
        for key, value in planned.items():
            loss.setdefault(key, value)
    model = config["model"]
    model["base"] = from_run(root, str(model["base"]), must_exist=False)
    if model.get("config"):
        model["config"] = from_run(root, str(model["config"]))
    data = config.setdefault("data", {})
    if spec is not None and _has_dataset(root):  # the export writes the captions from the spec
        for key, value in intent_caption_options(spec).items():
            data.setdefault(key, value)
        lora = config.setdefault("lora", {})
        # The user's own pivotal setting (even []) wins; pivotal tuning trains on one process only.
        one_process = not launcher and int(config.get("train", {}).get("num_processes") or 1) == 1
        if "pivotal" not in lora and one_process:
            lora.update(intent_lora_options(spec))
    source_masks = data.get("masks") or "masks"
    data["folder"], data["masks"] = RUN_DATA, f"{RUN_DATA}/masks"
    train = config.setdefault("train", {})
    train["cache_dir"] = from_run(root, str(train.get("cache_dir") or "cache"))
    checked = TrainConfig.from_dict(config, base_dir=root / "runs" / "new")
    tables = checked.model_dump(mode="json", exclude_none=True)
    tables["dataset"] = {"project": PROJECT_FROM_RUN, "include_derived": include_derived,
                         "masks": from_run(root, str(source_masks))}
    if spec_version is not None:
        tables["dataset"]["spec_version"] = spec_version
    if launcher:
        tables["job"] = launcher
    return tables


def _accelerate_job(root: Path, table: Any, train: dict[str, Any]) -> dict[str, str]:
    """``[job] accelerate_config`` for the ``[accelerate]`` table, the file checked; {} when none is named.

    A relative path is the project's and must stay inside it; an absolute one is the user's choice.
    """
    if table is None:
        return {}
    if not isinstance(table, dict) or set(table) - {"config"}:
        raise UserError('[accelerate] takes one key, config = "path/to/accelerate.yaml"; fix that table.')
    named = str(table.get("config") or "").strip()
    if not named:
        return {}
    from tuitune.jobs.accelerate_config import read_accelerate_config
    from tuitune.jobs.launch import ACCELERATE_KEY

    given = Path(named).expanduser()
    path = given if given.is_absolute() else inside(root, given, "[accelerate] config")
    accelerate = read_accelerate_config(path, "[accelerate] config")
    asked = int(train.get("num_processes") or 1)
    if asked > 1 and asked != accelerate.num_processes:
        raise UserError(f"[train] num_processes is {asked} but {path.name} launches {accelerate.num_processes}; "
                        "the accelerate config decides, so remove num_processes or make them agree.")
    return {ACCELERATE_KEY: from_run(root, str(path))}


def _has_dataset(root: Path) -> bool:
    from tuitune.data.dataset import Dataset

    try:
        return bool(Dataset(root).items())
    except OSError:
        return False  # a damaged dataset.json is not "no dataset": its sentence reaches the user


def from_run(root: Path, value: str, must_exist: bool = True) -> str:
    """A path written for the project, as the run folder sees it: relative when inside the project."""
    if not value or "://" in value:
        return value
    path = Path(value).expanduser()
    local = path if path.is_absolute() else root / path
    looks_local = path.is_absolute() or value.startswith((".", "~")) or local.exists() or must_exist
    if not looks_local:
        return value  # a hub id or a name such as "toyworld"
    local = local.resolve()
    try:
        inside = local.relative_to(root)
    except ValueError:
        return str(local)  # outside the project: the user named it on purpose
    return f"{PROJECT_FROM_RUN}/{inside.as_posix()}" if inside.parts else PROJECT_FROM_RUN


def prepare_data(run_path: Path, dataset: dict[str, Any]) -> str:
    """Export the project's dataset into ``run_path/data`` once (a resume reuses it); returns what was done.

    Items the project DB marks disabled or not in the ``train`` split (held out) are left out, and so are the
    pictures augmented from them: a run never trains on what the user set aside.
    """
    target = Path(run_path) / RUN_DATA
    if target.is_dir():
        return f"training data reused from {RUN_DATA}/"
    root = (Path(run_path) / str(dataset.get("project", PROJECT_FROM_RUN))).resolve()
    from tuitune.data.dataset import Dataset

    if not Dataset(root).items():
        from tuitune.data.project_link import set_aside_images

        masks = Path(run_path) / str(dataset.get("masks", "masks"))
        return _copy_plain_folder(root, target, masks, set_aside_images(root))
    from tuitune.data.export import export

    spec = _spec(root, dataset.get("spec_version"))
    staging = target.with_name(f".{target.name}.export")
    report = export(root, staging, spec, include_derived=bool(dataset.get("include_derived", True)), overwrite=True)
    os.replace(staging, target)
    left_out = f"; {report.left_out} disabled or held-out items left out" if report.left_out else ""
    return f"training data: {report.images} images, {report.masks} masks exported to {RUN_DATA}/{left_out}"


def _spec(root: Path, version: int | None) -> Any:
    from tuitune.intent.project_link import load_spec
    from tuitune.project.db import DB_FILE, ProjectDB

    if not (root / DB_FILE).is_file():
        return None
    db = ProjectDB(root / DB_FILE, root, readonly=True)
    try:
        return load_spec(_DBOnly(db), version)
    finally:
        db.close()


class _DBOnly:
    """Enough of a project for reading its spec without taking the writer lock the app may hold."""

    def __init__(self, db: Any) -> None:
        self.db = db


def _copy_plain_folder(root: Path, target: Path, masks: Path, set_aside: set[str]) -> str:
    """A project whose images were put in ``images/`` by hand: train on them and on ``masks/`` as they are.

    A link under ``images/`` leading outside the project stops it (it would train on that file), and so does
    a set-aside row of tuitune.db whose image is not a file under ``images/`` (it would remove another file).
    """
    images = root / "images"
    if not images.is_dir() or not any(images.iterdir()):
        raise UserError(f"{root} has no images to train on; import pictures into the project first.")
    _check_links(root, images)
    left_out = [_copied_name(root, images, image) for image in sorted(set_aside)]
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(images, staging)
    if masks.is_dir():
        shutil.copytree(masks, staging / "masks")
    for name in left_out:
        if name is None:
            continue
        copied = staging / name
        copied.unlink(missing_ok=True)
        copied.with_suffix(".txt").unlink(missing_ok=True)
        shutil.rmtree(staging / "masks" / name.stem, ignore_errors=True)
    os.replace(staging, target)
    return f"training data copied from images/ to {RUN_DATA}/"


def _check_links(root: Path, images: Path) -> None:
    for folder, dirnames, filenames in os.walk(images, followlinks=False):
        for name in dirnames + filenames:
            if (Path(folder) / name).is_symlink():
                inside(root, Path(folder) / name)


def _copied_name(root: Path, images: Path, image: str) -> Path | None:
    """Where a set-aside image (a tuitune.db row) sits in the copy of ``images/``; None when it is not under
    ``images/`` (so not in the copy: nothing to remove). A row under ``images/`` leading out of it is refused."""
    from tuitune.project.db import DB_FILE

    stored = Path(image)
    if stored.is_absolute():
        try:
            stored = stored.resolve().relative_to(root.resolve())
        except ValueError:
            return None  # a picture the user named outside the project on purpose
    if stored.parts[:1] != ("images",) or len(stored.parts) < 2:
        return None
    inside(images, root / stored, f"{DB_FILE} item image", follow_links=False)
    name = Path(os.path.normpath(Path(*stored.parts[1:])))  # the copy holds no links: plain names suffice
    safe_stem(name.stem, f"{DB_FILE} item image {image!r}, whose stem")
    return name
