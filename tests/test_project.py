"""Projects on disk: create/open, settings errors, the writer lock, schema migration, moves, full disks."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from tuitune.cli import UserError, main
from tuitune.project.db import SCHEMA_VERSION, ProjectReadOnly
from tuitune.project.lock import ProjectLocked
from tuitune.project.project import Project

# The first released schema, frozen here so a change to it in the code cannot hide a broken migration.
SCHEMA_V1 = """
CREATE TABLE specs (version INTEGER PRIMARY KEY, spec_json TEXT NOT NULL,
                    message TEXT NOT NULL DEFAULT '', created REAL NOT NULL);
CREATE TABLE turns (id INTEGER PRIMARY KEY AUTOINCREMENT, role TEXT NOT NULL, text TEXT NOT NULL,
                    spec_version INTEGER, created REAL NOT NULL);
CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, image TEXT NOT NULL UNIQUE,
                    caption TEXT NOT NULL DEFAULT '', created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE masks (item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
                    concept TEXT NOT NULL, path TEXT NOT NULL, updated REAL NOT NULL,
                    PRIMARY KEY (item_id, concept));
CREATE TABLE runs (name TEXT PRIMARY KEY, kind TEXT NOT NULL, path TEXT NOT NULL, created REAL NOT NULL);
PRAGMA user_version = 1;
"""


def test_a_project_keeps_dialogue_specs_items_masks_and_ui_state_across_reopen(tmp_path):
    with Project.create(tmp_path / "cat", base_model="/models/sd15") as project:
        for folder in ("images", "masks", "cache", "runs", "generations"):
            assert (project.root / folder).is_dir()
        turn = project.db.add_turn("user", "keep the cat, make the scarf blue", attachments=[{"region": 1}])
        v1 = project.db.save_spec({"trigger_words": ["sks"], "concepts": []}, "first")
        v2 = project.db.save_spec('{"trigger_words": ["sks"], "concepts": [{"name": "scarf"}]}', "scarf")
        project.db.upsert_item(project.images_dir / "a.png", caption="sks cat")
        project.db.upsert_item("images/a.png", enabled=False)
        project.db.set_mask("images/a.png", "scarf", project.masks_dir / "a" / "scarf.png", source="detected")
        box = project.db.add_instance("images/a.png", "scarf", (1, 2, 30, 40), 0.8)
        project.db.set_instance_decision(box, "rejected")
        project.db.ui_set("screen", {"name": "dataset", "selection": ["images/a.png"]})
    assert (turn, v1, v2) == (1, 1, 2)

    with Project.open(tmp_path / "cat") as project:
        assert project.settings.base_model == "/models/sd15"
        assert [s.message for s in project.db.specs()] == ["first", "scarf"]
        assert project.db.latest_spec().spec["concepts"] == [{"name": "scarf"}]
        assert project.db.turns()[0].attachments == [{"region": 1}]
        [item] = project.db.items()
        assert (item.image, item.caption, item.enabled) == ("images/a.png", "sks cat", False)
        assert project.db.masks()[0].path == project.root / "masks/a/scarf.png"
        assert project.db.instances(concept="scarf")[0].decision == "rejected"
        assert project.db.ui_get("screen")["name"] == "dataset"
        with pytest.raises(UserError, match="not in the dataset"):
            project.db.set_mask("images/missing.png", "scarf", "masks/x.png")


def test_a_moved_project_opens_and_its_paths_follow(tmp_path):
    with Project.create(tmp_path / "old" / "p") as project:
        project.db.upsert_item(project.images_dir / "a.png")
        project.db.set_mask("images/a.png", "hat", project.masks_dir / "a" / "hat.png")
    shutil.move(tmp_path / "old" / "p", tmp_path / "new")
    with Project.open(tmp_path / "new") as project:
        assert project.db.items()[0].path == tmp_path / "new" / "images" / "a.png"
        assert project.db.masks()[0].path == tmp_path / "new" / "masks" / "a" / "hat.png"
        assert project.moved_from == tmp_path / "old" / "p"
        assert any("moved from" in note for note in project.notes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'name = "p"\n[training]\nsteps = 10\nstpes = 4\n',
            "line 4: unknown key 'training.stpes'; did you mean 'steps'?",
        ),
        ('name = "p"\ncolour = "red"\n', "line 2: unknown key 'colour'"),
        ('name = "p"\n[intent]\nparser = "magic"\n', "line 3: key 'intent.parser'"),
        ('name = "p"\n[training\nsteps = 1\n', "line 2, column"),
        ('base_model = "x"\n', "key 'name' is missing"),
    ],
)
def test_a_malformed_project_toml_names_the_line_and_key(tmp_path, text, expected):
    Project.create(tmp_path / "p").close()
    (tmp_path / "p" / "project.toml").write_text(text)
    with pytest.raises(UserError) as caught:
        Project.open(tmp_path / "p")
    assert expected in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_a_second_process_cannot_write_and_is_told_who_holds_the_project(tmp_path):
    with Project.create(tmp_path / "p") as project:
        project.db.save_spec({"trigger_words": ["a"]}, "mine")
        code = textwrap.dedent(f"""
            from tuitune.project.project import Project
            from tuitune.project.lock import ProjectLocked
            try:
                Project.open({str(project.root)!r})
            except ProjectLocked as exc:
                print("LOCKED", exc)
            other = Project.open({str(project.root)!r}, fallback_readonly=True)
            print("READONLY", other.readonly, [s.message for s in other.db.specs()])
            try:
                other.db.save_spec({{"trigger_words": ["b"]}}, "theirs")
            except Exception as exc:
                print("REFUSED", exc)
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
        assert f"LOCKED Project p is open for writing by process {os.getpid()}" in out
        assert "READONLY True ['mine']" in out
        assert "REFUSED This project is read-only because process" in out
        # The writer goes on writing while the reader had it open; nothing is corrupted.
        project.db.save_spec({"trigger_words": ["a"]}, "mine again")
    with Project.open(tmp_path / "p") as project:
        assert [s.message for s in project.db.specs()] == ["mine", "mine again"]
        assert project.db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_dead_holders_lock_is_taken_over(tmp_path):
    Project.create(tmp_path / "p").close()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from tuitune.project.project import Project\n"
         f"p = Project.open({str(tmp_path / 'p')!r})\nprint('held', flush=True)\nimport time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(ProjectLocked, match=f"process {holder.pid} on"):
        Project.open(tmp_path / "p")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with Project.open(tmp_path / "p") as project:
        assert not project.readonly
        assert any(f"process {holder.pid}" in note and "gone" in note for note in project.notes)


def test_a_first_schema_database_is_migrated_without_losing_data(tmp_path):
    Project.create(tmp_path / "p").close()
    db_path = tmp_path / "p" / "tuitune.db"
    for leftover in tmp_path.glob("p/tuitune.db*"):
        leftover.unlink()
    with sqlite3.connect(db_path) as conn:
        conn.executescript(SCHEMA_V1)
        conn.execute("INSERT INTO specs VALUES (1, '{\"trigger_words\": [\"old\"]}', 'v1 spec', 1.0)")
        conn.execute(
            "INSERT INTO items (image, caption, created, updated) VALUES ('images/x.png', 'cap', 1, 1)"
        )
        conn.execute("INSERT INTO masks VALUES (1, 'hat', 'masks/x/hat.png', 1)")
        conn.execute("INSERT INTO turns (role, text, spec_version, created) VALUES ('user', 'hello', 1, 1)")
    conn.close()
    with Project.open(tmp_path / "p") as project:
        assert project.db.schema_version == SCHEMA_VERSION
        assert project.db.latest_spec().spec == {"trigger_words": ["old"]}
        [item] = project.db.items()
        assert (item.caption, item.enabled, item.split) == ("cap", True, "train")
        assert project.db.masks()[0].source == "manual"
        assert project.db.turns()[0].attachments == []
        project.db.add_instance("images/x.png", "hat", (0, 0, 4, 4))  # tables added by later versions work
        project.db.ui_set("screen", "intent")
    assert (tmp_path / "p" / "tuitune.db.schema1.bak").is_file()


def test_a_database_from_a_newer_tuitune_is_refused_with_a_reason(tmp_path):
    Project.create(tmp_path / "p").close()
    with sqlite3.connect(tmp_path / "p" / "tuitune.db") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(UserError, match="newer tuitune"):
        Project.open(tmp_path / "p")


def test_a_full_disk_refuses_the_change_in_one_sentence_and_keeps_the_rest(tmp_path):
    with Project.create(tmp_path / "p") as project:
        project.db.save_spec({"trigger_words": ["kept"]}, "before")
    size = (tmp_path / "p" / "tuitune.db").stat().st_size
    code = textwrap.dedent(f"""
        from tuitune.cli import UserError
        from tuitune.project.project import Project
        project = Project.open({str(tmp_path / "p")!r})
        try:
            for i in range(10000):
                project.db.add_turn("user", "x" * 4000)
        except UserError as exc:
            print("ERROR", exc)
    """)

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = size + 64_000
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, preexec_fn=small_disk
    )
    assert "so the change was not saved (nothing else was lost); free some space" in out.stdout, out.stderr
    with Project.open(tmp_path / "p") as project:
        assert project.db.latest_spec().message == "before"
        assert project.db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_cli_new_then_info_and_open_prints_the_summary_without_a_terminal(tmp_path, capsys):
    assert main(["new", str(tmp_path / "demo"), "--base-model", "toyworld", "--parser", "rules"]) == 0
    assert main(["new", str(tmp_path / "demo")]) == 2
    assert "already a tuitune project" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "demo (" in out and "base model   toyworld" in out and "no spec yet" in out
    assert main(["open", str(tmp_path / "nowhere")]) == 2
    assert "tuitune new" in capsys.readouterr().err
    settings = (tmp_path / "demo" / "project.toml").read_text()
    assert 'parser = "rules"' in settings and json.dumps("demo") in settings


def test_a_reader_sees_the_writers_changes_and_cannot_write(tmp_path):
    with Project.create(tmp_path / "p") as writer, Project.open(tmp_path / "p", readonly=True) as reader:
        writer.db.upsert_item("images/a.png", caption="first")
        assert [i.caption for i in reader.db.items()] == ["first"]
        with pytest.raises(ProjectReadOnly, match="read-only"):
            reader.db.upsert_item("images/b.png")
        with pytest.raises(UserError, match="read-only"):
            reader.save_settings()


def test_the_apps_ui_table_is_accepted_and_kept_when_settings_are_saved(tmp_path):
    from tuitune.project.settings import load_settings, save_settings

    path = tmp_path / "project.toml"
    path.write_text('name = "p"\n\n[ui]\nimage_protocol = "halfcell"\nmin_width = 70\n', encoding="utf-8")
    settings = load_settings(path)
    assert settings.ui == {"image_protocol": "halfcell", "min_width": 70}
    settings.base_model = "elsewhere"
    save_settings(path, settings)
    again = load_settings(path)
    assert again.ui == {"image_protocol": "halfcell", "min_width": 70} and again.base_model == "elsewhere"
    # A project without the table does not grow an empty one.
    path.write_text('name = "q"\n', encoding="utf-8")
    save_settings(path, load_settings(path))
    assert "[ui]" not in path.read_text(encoding="utf-8")
