"""Damaged project files stop every command that reads them with one sentence, and nothing is half done.

Each file a project holds (tuitune.db, project.toml, dataset.json, masks.json) is damaged in generated ways —
cut at seeded offsets, overwritten with seeded bytes, a b-tree page's header overwritten, valid JSON of the
wrong shape — and put through every quick command that reads it. Each must exit 2 with one line on stderr
that names the file, raise nothing, and leave every file of the project and beside it byte-identical. A run's
files (run.toml, status.json, metrics.jsonl, events.jsonl) damaged the same ways still list through
``tuitune runs`` and ``tuitune info``, the run read as damaged where its status is. The advice each sentence
gives is followed once and works.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from tuitune import cli
from tuitune.jobs.queue import create_run
from tuitune.project.settings import ProjectSettings

pytestmark = pytest.mark.timeout(300)

SAMPLES = Path(__file__).resolve().parents[1] / "sample_projects" / "toyworld-watermark" / "images"
INTENT = "call it zxq; keep the circle; remove the watermark"
Damage = Callable[[Path], None]  # damages the file at the path in place (or removes it)

# Where the template's tables live (their root pages), for damage that hits a b-tree page's header.
DB_PAGES: dict[str, object] = {}


# --- the project every case starts from ----------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``case/proj``: three toyworld pictures imported, an intent, detected masks and a finished run ``r1``;
    ``case/pics`` holds one more picture to import."""
    case = tmp_path_factory.mktemp("template")
    first = case / "first"
    first.mkdir()
    for name in ("zxq_00", "zxq_01", "zxq_02"):
        shutil.copy(SAMPLES / f"{name}.png", first)
        shutil.copy(SAMPLES / f"{name}.txt", first)
    (case / "pics").mkdir()
    shutil.copy(SAMPLES / "zxq_05.png", case / "pics")
    proj = str(case / "proj")
    for argv in (["new", proj], ["dataset", "import", str(first), "--into", proj],
                 ["intent", INTENT, "--project", proj], ["dataset", "detect", "--into", proj]):
        assert cli.main(argv) == 0, argv
    run = create_run(case / "proj" / "runs", "count", {"count": {"steps": 3}}, name="r1", gpu=False)
    run.write_status(state="finished", step=3, total_steps=3, created=time.time())
    for step in (1, 2, 3):
        run.append_metric({"step": step, "loss": 1.0 / step})
    run.append_event("started", pid=1)
    run.append_event("finished")
    shutil.rmtree(first)
    db = sqlite3.connect(case / "proj" / "tuitune.db")
    DB_PAGES["size"] = db.execute("PRAGMA page_size").fetchone()[0]
    DB_PAGES["roots"] = sorted(r[0] for r in db.execute("SELECT rootpage FROM sqlite_master") if r[0] > 1)
    db.close()
    for leftover in ("tuitune.db-shm", "tuitune.db-wal"):
        (case / "proj" / leftover).unlink(missing_ok=True)
    return case


@pytest.fixture()
def case(template: Path, tmp_path: Path) -> Path:
    """A copy of the template that knows it is where it is (so opening it records no move)."""
    shutil.copytree(template, tmp_path / "case", symlinks=True)
    proj = (tmp_path / "case" / "proj").resolve()
    db = sqlite3.connect(proj / "tuitune.db")
    with db:
        db.execute("UPDATE ui_state SET value = ? WHERE key = 'project_root'", (json.dumps(str(proj)),))
    db.close()
    return tmp_path / "case"


def unchanged(before: dict[str, object], after: dict[str, object], command: str) -> None:
    if command == "intent":
        # `tuitune intent --project` leaves the project open when reading its spec or regions fails (the
        # process's exit releases the lock; tuitune.lock keeps naming the process): not what is checked here.
        before, after = ({k: v for k, v in t.items() if k != "proj/tuitune.lock"} for t in (before, after))
    assert after == before


@pytest.fixture(autouse=True)
def no_queued_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tuitune train`` on a damaged project must stop before it queues (and starts) a run."""
    import tuitune.jobs.queue

    def submit(*args: object, **kwargs: object) -> None:
        raise AssertionError("a training run was queued for a damaged project")

    monkeypatch.setattr(tuitune.jobs.queue, "submit", submit)


def tree(folder: Path) -> dict[str, object]:
    """Every file, folder and link under ``folder`` with its bytes. The database's shared-memory index and an
    empty write-ahead log, which sqlite makes for any reader of a WAL database, are not the project's data."""
    found: dict[str, object] = {}
    for here, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(here) / name
            if name == "tuitune.db-shm" or (name == "tuitune.db-wal" and path.stat().st_size == 0):
                continue
            rel = path.relative_to(folder).as_posix()
            found[rel] = (f"link to {os.readlink(path)}" if path.is_symlink()
                          else "folder" if path.is_dir() else path.read_bytes())
    return found


# --- the commands, and which of them read each file ---------------------------------------------------------
def commands(case: Path) -> dict[str, list[str]]:
    proj = str(case / "proj")
    return {
        "info": ["info", proj],
        "import": ["dataset", "import", str(case / "pics"), "--into", proj],
        "export": ["dataset", "export", str(case / "exported"), "--into", proj],
        "review": ["dataset", "review", "zxq_00", "watermark", "0", "reject", "--into", proj],
        "detect": ["dataset", "detect", "--into", proj],
        "augment": ["dataset", "augment", "--into", proj],
        "intent": ["intent", INTENT, "--project", proj],
        "train": ["train", proj, "--detach"],
        "runs": ["runs", "--project", proj],
    }


READERS = {
    "tuitune.db": ["info", "import", "export", "review", "detect", "augment", "intent", "train"],
    "project.toml": ["info", "import", "export", "review", "detect", "augment", "intent", "train"],
    "dataset.json": ["import", "export", "review", "detect", "augment", "train"],
    "masks.json": ["import", "review", "detect"],
}


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of the command; an exception escaping ``main`` (a traceback) fails."""
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except Exception as exc:  # noqa: BLE001 - the point: the user would see this as a traceback
        out, err = capsys.readouterr()
        pytest.fail(f"{' '.join(argv[:2])} ended in a traceback: {type(exc).__name__}: {exc}\n{err}")
    out, err = capsys.readouterr()
    return code, out, err


def one_sentence(err: str, name: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"stderr is not one line:\n{err}"
    line = lines[0]
    assert line.startswith("tuitune: ") and line.endswith("."), line
    assert name in line, f"the sentence does not name {name}: {line}"
    assert "Traceback" not in err
    return line


# --- damage, generated with seeds ---------------------------------------------------------------------
def cut(seed: int, still_sound: Callable[[bytes], bool] = lambda data: False) -> Damage:
    """Cut the file at a seeded offset (0 leaves it empty); offsets whose cut is still a sound file are
    passed over (a TOML file cut after a complete line is just a shorter settings file)."""

    def damage(path: Path) -> None:
        data, rng = path.read_bytes(), random.Random(seed)
        for _ in range(200):
            cut_at = rng.randrange(0, len(data.rstrip()))
            if not still_sound(data[:cut_at]):
                break
        path.write_bytes(data[:cut_at])

    return damage


def garbage(seed: int, whole: bool = False) -> Damage:
    """Seeded random bytes: as long as the file (``whole``) or a short run of them."""

    def damage(path: Path) -> None:
        rng = random.Random(seed)
        size = path.stat().st_size if whole else rng.randrange(1, 300)
        path.write_bytes(rng.randbytes(size))

    return damage


def page_header(seed: int) -> Damage:
    """Overwrite the header of one table's b-tree page (seeded choice) with bytes no page type starts with."""

    def damage(path: Path) -> None:
        rng = random.Random(seed)
        page = rng.choice(DB_PAGES["roots"])  # type: ignore[arg-type]
        offset = (page - 1) * int(DB_PAGES["size"])  # type: ignore[call-overload]
        with open(path, "r+b") as fh:
            fh.seek(offset)
            fh.write(bytes([0xFF]) + rng.randbytes(11))

    return damage


def content(text: str) -> Damage:
    return lambda path: path.write_text(text, encoding="utf-8")


def mutate_json(seed: int, change: Callable[[random.Random, dict], None]) -> Damage:
    def damage(path: Path) -> None:
        raw = json.loads(path.read_text(encoding="utf-8"))
        change(random.Random(seed), raw)
        path.write_text(json.dumps(raw), encoding="utf-8")

    return damage


WRONG = [None, 3, 2.5, True, [], {}, "text"]
ITEM_FIELDS = {"stem": str, "path": str, "caption": str, "repeats": int, "width": int, "height": int, "hash": str}


def wrong_item_field(rng: random.Random, raw: dict) -> None:
    """One item's required field removed, or given a value of another JSON type."""
    item = rng.choice(raw["items"])
    key = rng.choice(sorted(ITEM_FIELDS))
    choices = [v for v in WRONG if type(v) is not ITEM_FIELDS[key]]
    if rng.random() < 0.25:
        del item[key]
    else:
        item[key] = rng.choice(choices)


def wrong_mask_entry(rng: random.Random, raw: dict) -> None:
    """One stem's, entry's or instance's value of another JSON type than masks.json's readers use."""
    stem = rng.choice(sorted(raw["masks"]))
    concept = rng.choice(sorted(raw["masks"][stem]))
    entry = raw["masks"][stem][concept]
    instances = entry["instances"]
    how = rng.choice(["stem", "entry", "instances", "path", "box", "accepted", "instance"])
    if how in ("box", "accepted", "instance") and not instances:
        how = "instances"
    if how == "stem":
        raw["masks"][stem] = rng.choice([[], 3, "text", None])
    elif how == "entry":
        raw["masks"][stem][concept] = rng.choice([[], 3, "text", None])
    elif how == "instances":
        entry["instances"] = rng.choice([{}, 3, "text"])
    elif how == "path":
        entry["path"] = rng.choice([3, [], {}, True])
    elif how == "box":
        rng.choice(instances)["box"] = rng.choice(["0,0,4,4", 3, [1, 2], [0, 0, "4", 4], {}])
    elif how == "accepted":
        rng.choice(instances)["accepted"] = rng.choice([1, "yes", [], None])
    else:
        instances[rng.randrange(len(instances))] = rng.choice([3, "text", [], None])


def sound_settings(data: bytes) -> bool:
    try:
        ProjectSettings.model_validate(tomllib.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, ValidationError):
        return False
    return True


DAMAGE: dict[str, dict[str, Damage]] = {
    "tuitune.db": {
        "empty": content(""),
        **{f"cut-{s}": cut(s) for s in range(5)},
        **{f"garbage-{s}": garbage(s, whole=True) for s in range(3)},
        **{f"page-{s}": page_header(s) for s in range(4)},
    },
    "project.toml": {
        "empty": content(""),
        "not-toml": content("[[[ not toml\n"),
        "wrong-type": content('name = 5\n[training]\nsteps = "many"\n'),
        **{f"cut-{s}": cut(s, sound_settings) for s in range(6)},
        **{f"garbage-{s}": garbage(s) for s in range(4)},
    },
    "dataset.json": {
        "empty": content(""),
        **{f"cut-{s}": cut(s) for s in range(5)},
        **{f"garbage-{s}": garbage(s) for s in range(3)},
        **{f"shape-{n}": content(text) for n, text in enumerate([
            "[]", '{"items": 5}', '{"items": [{"stem": 3}]}', '{"masks": []}', "{}", "null", '"items"',
            '{"items": [5]}', '{"items": {"zxq_00": {}}}'])},
        **{f"field-{s}": mutate_json(s, wrong_item_field) for s in range(6)},
    },
    "masks.json": {
        "empty": content(""),
        **{f"cut-{s}": cut(s) for s in range(5)},
        **{f"garbage-{s}": garbage(s) for s in range(3)},
        **{f"shape-{n}": content(text) for n, text in enumerate([
            '{"masks": []}', "[]", '{"items": 5}', "{}", '{"masks": {"zxq_00": []}}',
            '{"masks": {"zxq_00": {"watermark": 5}}}', '{"masks": {"zxq_00": {"watermark": {"instances": 3}}}}',
            '{"masks": {"zxq_00": {"watermark": {"instances": [{"box": "x", "accepted": true}]}}}}'])},
        **{f"entry-{s}": mutate_json(s, wrong_mask_entry) for s in range(6)},
    },
}

CASES = [(kind, damage, command) for kind, damages in DAMAGE.items() for damage in damages
         for command in READERS[kind]]


@pytest.mark.parametrize(("kind", "damage", "command"), CASES, ids=["-".join(c) for c in CASES])
def test_a_damaged_project_file_stops_each_reader_in_one_sentence_with_nothing_changed(
    case: Path, capsys: pytest.CaptureFixture[str], kind: str, damage: str, command: str
) -> None:
    path = case / "proj" / kind
    DAMAGE[kind][damage](path)
    before = tree(case)
    code, _out, err = run_cli(commands(case)[command], capsys)
    assert code == 2, f"exit {code}; stderr: {err}"
    line = one_sentence(err, kind)
    if kind != "project.toml":  # its messages start with the path, or say what to run in the folder
        assert str(path) in line
    unchanged(before, tree(case), command)  # no picture, mask, row, run or export written; the damaged file kept


# --- a database damaged inside its rows (the pages are sound) ------------------------------------------------
def replace_all(old: bytes, new: bytes) -> Damage:
    """Every copy of ``old`` in the file overwritten by ``new`` (as long): a stored value damaged in place."""
    assert len(old) == len(new)

    def damage(path: Path) -> None:
        data = path.read_bytes()
        assert old in data
        path.write_bytes(data.replace(old, new))

    return damage


def cell_bytes(seed: int) -> Damage:
    """64 seeded bytes written where a page keeps its rows (its last 1500 bytes), structure left alone."""

    def damage(path: Path) -> None:
        rng, data = random.Random(seed), bytearray(path.read_bytes())
        size = int(DB_PAGES["size"])  # type: ignore[call-overload]
        at = rng.randrange(1, len(data) // size + 1) * size - rng.randrange(64, 1500)
        data[at:at + 64] = rng.randbytes(64)
        path.write_bytes(bytes(data))

    return damage


ROW_DAMAGE = {  # damage, the commands that read it
    "meta-not-json": (replace_all(b'{"derived_from"', b'X"derived_from"'), ["info", "export"]),
    "spec-not-utf8": (replace_all(b'{"concepts"', b'\xff"concepts"'), ["info", "export", "intent"]),
    "image-not-utf8": (replace_all(b"images/zxq_00", b"\xff\xfeages/zxq_00"), ["info", "export"]),
}
ROW_CASES = [(d, c) for d, (_damage, readers) in ROW_DAMAGE.items() for c in readers]


@pytest.mark.parametrize(("damage", "command"), ROW_CASES, ids=["-".join(c) for c in ROW_CASES])
def test_a_stored_value_damaged_in_the_database_is_named_in_one_sentence(
    case: Path, capsys: pytest.CaptureFixture[str], damage: str, command: str
) -> None:
    path = case / "proj" / "tuitune.db"
    ROW_DAMAGE[damage][0](path)
    before = tree(case)
    code, _out, err = run_cli(commands(case)[command], capsys)
    assert code == 2, f"exit {code}; stderr: {err}"
    assert str(path) in one_sentence(err, "tuitune.db")
    unchanged(before, tree(case), command)


CELL_CASES = [(s, c) for s in range(8) for c in ("info", "export", "intent")]


@pytest.mark.parametrize(("seed", "command"), CELL_CASES, ids=[f"cell-{s}-{c}" for s, c in CELL_CASES])
def test_bytes_damaged_among_a_databases_rows_are_named_or_read_never_a_traceback(
    case: Path, capsys: pytest.CaptureFixture[str], seed: int, command: str
) -> None:
    """Bytes changed inside a row's text can read as other text (sqlite keeps no checksum); whatever is
    found wrong is named, and then nothing changed."""
    cell_bytes(seed)(case / "proj" / "tuitune.db")
    before = tree(case)
    code, _out, err = run_cli(commands(case)[command], capsys)
    assert code in (0, 2), err
    if code == 2:
        one_sentence(err, "tuitune.db")
        unchanged(before, tree(case), command)


# --- a missing file is an empty one, never a traceback ------------------------------------------------------
@pytest.mark.parametrize(("kind", "command"), [(k, c) for k in READERS for c in READERS[k]])
def test_a_missing_project_file_is_read_as_absent_or_named(
    case: Path, capsys: pytest.CaptureFixture[str], kind: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tuitune.jobs.queue

    queued = type("Queued", (), {"name": "queued", "state": lambda self: "queued"})
    monkeypatch.setattr(tuitune.jobs.queue, "submit", lambda *args, **kwargs: queued())  # no job started
    (case / "proj" / kind).unlink()
    code, _out, err = run_cli(commands(case)[command], capsys)
    assert code in (0, 2), err
    if code == 2:
        one_sentence(err, "")


# --- a run's files -----------------------------------------------------------------------------------
def without_status(damage: Damage) -> Damage:
    """events.jsonl is read for the state only when status.json is gone: damage it and remove status.json."""

    def both(path: Path) -> None:
        damage(path)
        (path.parent / "status.json").unlink()

    return both


def run_file_damage() -> dict[str, Damage]:
    kinds: dict[str, Damage] = {
        "missing": lambda path: path.unlink(),
        "empty": content(""),
        "list": content("[]\n"),
        "number": content("5\n"),
        "not-utf8-line": lambda path: path.write_bytes(path.read_bytes() + b'\xff\xfe{"step": 9}\n'),
        "wrong-types": content('{"step": "x", "loss": "y", "state": 5}\n{"step": 1e999}\n{"kind": 5}\n'),
    }
    kinds.update({f"cut-{s}": cut(s) for s in range(2)})
    kinds.update({f"garbage-{s}": garbage(s) for s in range(2)})
    return kinds


RUN_FILES = ("run.toml", "status.json", "metrics.jsonl", "events.jsonl")
RUN_CASES = [(f, d, c) for f in RUN_FILES for d in run_file_damage() for c in ("runs", "info")]


@pytest.mark.parametrize(("name", "damage", "command"), RUN_CASES, ids=["-".join(c) for c in RUN_CASES])
def test_a_damaged_run_file_still_lists_the_run_and_changes_nothing(
    case: Path, capsys: pytest.CaptureFixture[str], name: str, damage: str, command: str
) -> None:
    path = case / "proj" / "runs" / "r1" / name
    hurt = run_file_damage()[damage]
    (without_status(hurt) if name == "events.jsonl" else hurt)(path)
    before = tree(case)
    code, out, err = run_cli(commands(case)[command], capsys)
    assert code == 0 and "Traceback" not in err, err
    if not (name == "run.toml" and damage == "missing"):  # without run.toml a folder is no run
        assert "r1" in out
    if name == "status.json" and damage not in ("wrong-types",):
        assert "damaged: status.json" in out
    assert tree(case) == before


# --- the real command line: exit 2, one line, no traceback -------------------------------------------------
@pytest.mark.parametrize("kind", list(READERS))
def test_the_tuitune_command_prints_one_line_and_no_traceback(case: Path, kind: str) -> None:
    path = case / "proj" / kind
    garbage(7, whole=kind == "tuitune.db")(path)
    argv = commands(case)["import" if kind == "masks.json" else "export" if kind == "dataset.json" else "info"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "tuitune", *argv], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    one_sentence(done.stderr, kind)


# --- the advice works --------------------------------------------------------------------------------
def first_pictures(case: Path) -> Path:
    folder = case / "first"
    folder.mkdir()
    for name in ("zxq_00", "zxq_01", "zxq_02"):
        shutil.copy(SAMPLES / f"{name}.png", folder)
        shutil.copy(SAMPLES / f"{name}.txt", folder)
    return folder


def test_a_damaged_database_moved_aside_is_made_again_by_importing(
    case: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = case / "proj"
    page_header(0)(proj / "tuitune.db")
    code, _out, err = run_cli(["info", str(proj)], capsys)
    line = one_sentence(err, "tuitune.db")
    assert code == 2 and "keeps no copy" in line and f"mv {proj / 'tuitune.db'}" in line
    (proj / "tuitune.db").rename(proj / "tuitune.db.damaged")
    assert run_cli(["dataset", "import", str(first_pictures(case)), "--into", str(proj)], capsys)[0] == 0
    code, out, _err = run_cli(["info", str(proj)], capsys)
    assert code == 0 and "dataset      3 images" in out


def test_a_damaged_database_names_the_copy_kept_before_an_upgrade(
    case: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = case / "proj"
    backup = proj / "tuitune.db.schema3.bak"
    with sqlite3.connect(proj / "tuitune.db") as db, sqlite3.connect(backup) as copy:
        db.backup(copy)
    db.close()
    copy.close()
    garbage(1, whole=True)(proj / "tuitune.db")
    code, _out, err = run_cli(["info", str(proj)], capsys)
    line = one_sentence(err, "tuitune.db")
    assert code == 2 and f"cp {backup} {proj / 'tuitune.db'}" in line
    shutil.copy(backup, proj / "tuitune.db")
    code, out, _err = run_cli(["info", str(proj)], capsys)
    assert code == 0 and "dataset      3 images" in out


def test_a_damaged_dataset_json_moved_aside_with_images_is_made_again_by_importing(
    case: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = case / "proj"
    cut(0)(proj / "dataset.json")
    code, _out, err = run_cli(["dataset", "export", str(case / "out"), "--into", str(proj)], capsys)
    assert code == 2 and "move it and images/ aside" in one_sentence(err, "dataset.json")
    (proj / "dataset.json").rename(case / "dataset.json.damaged")
    (proj / "images").rename(case / "images.damaged")
    assert run_cli(["dataset", "import", str(first_pictures(case)), "--into", str(proj)], capsys)[0] == 0
    assert sorted(p.name for p in (proj / "images").iterdir()) == ["zxq_00.png", "zxq_01.png", "zxq_02.png"]
    code, out, _err = run_cli(["info", str(proj)], capsys)
    assert code == 0 and "dataset      3 images" in out
    assert run_cli(["dataset", "export", str(case / "out"), "--into", str(proj)], capsys)[0] == 0


def test_a_damaged_masks_json_moved_aside_is_found_again_by_detecting(
    case: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = case / "proj"
    content('{"masks": []}')(proj / "masks.json")
    code, _out, err = run_cli(commands(case)["review"], capsys)
    assert code == 2 and "tuitune dataset detect" in one_sentence(err, "masks.json")
    (proj / "masks.json").rename(case / "masks.json.damaged")
    assert run_cli(commands(case)["detect"], capsys)[0] == 0
    assert run_cli(commands(case)["review"], capsys)[0] == 0


def test_a_damaged_project_toml_moved_aside_is_written_again_by_new(
    case: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = case / "proj"
    garbage(3)(proj / "project.toml")
    code, _out, err = run_cli(["info", str(proj)], capsys)
    assert code == 2 and f"tuitune new {proj}" in one_sentence(err, "project.toml")
    (proj / "project.toml").rename(case / "project.toml.damaged")
    assert run_cli(["new", str(proj)], capsys)[0] == 0
    code, out, _err = run_cli(["info", str(proj)], capsys)
    assert code == 0 and "dataset      3 images" in out
