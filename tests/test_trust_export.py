"""`tuitune dataset export --overwrite` replaces only a folder tuitune exported, never the project or above it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.files import tree as _tree
from tuitune import cli
from tuitune.data.export import EXPORT_MARKER
from tuitune.project.project import Project


def tree(folder: Path) -> dict[str, object]:
    return _tree(folder, skip_sqlite=True)


MARKER = json.dumps({"made_by": "tuitune dataset export", "dataset": "/elsewhere", "time": 0})




@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``work/`` holding three projects; the first has two pictures; the shell sits in it; HOME is elsewhere."""
    src = tmp_path / "pics"
    src.mkdir()
    for i, colour in enumerate(("red", "blue")):
        Image.new("RGB", (16, 12), colour).save(src / f"p{i}.png")
        (src / f"p{i}.txt").write_text(f"a {colour} card")
    work = tmp_path / "work"
    for name in ("proj", "other", "third"):
        Project.create(work / name).close()
    (work / "other" / "notes.txt").write_text("months of work")
    assert cli.main(["dataset", "import", str(src), "--into", str(work / "proj")]) == 0
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export PATH")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work / "proj")
    return work


def _one_sentence(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tuitune: ") and lines[0].endswith("."), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("out", ["..", ".", "PROJECT", "~", "HOME"])
def test_overwrite_refuses_the_project_a_folder_above_it_and_home_even_with_a_marker(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str
) -> None:
    target = {"..": work, ".": work / "proj", "PROJECT": work / "proj", "~": tmp_path / "home",
              "HOME": tmp_path / "home"}[out]
    # A marker planted there does not make the project, its parent or home something to replace.
    (target / EXPORT_MARKER).write_text(MARKER)
    arg = {"PROJECT": str(work / "proj"), "HOME": str(tmp_path / "home")}.get(out, out)
    before = tree(tmp_path)
    capsys.readouterr()
    assert cli.main(["dataset", "export", arg, "--overwrite"]) == 2
    line = _one_sentence(capsys.readouterr().err)
    assert "will not replace it" in line
    assert tree(tmp_path) == before  # every file still there, nothing written beside


def test_overwrite_refuses_a_folder_without_the_marker(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    (mine / "deep").mkdir(parents=True)
    (mine / "thesis.tex").write_text("chapter one")
    (mine / "deep" / "data.csv").write_text("1,2,3")
    before = tree(tmp_path)
    capsys.readouterr()
    assert cli.main(["dataset", "export", str(mine), "--overwrite"]) == 2
    line = _one_sentence(capsys.readouterr().err)
    assert str(mine) in line and EXPORT_MARKER in line and "pick a new folder or empty it yourself" in line
    assert tree(tmp_path) == before


def test_overwrite_refuses_a_file(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").write_text("not a folder")
    before = tree(tmp_path)
    capsys.readouterr()
    assert cli.main(["dataset", "export", str(tmp_path / "out"), "--overwrite"]) == 2
    _one_sentence(capsys.readouterr().err)
    assert tree(tmp_path) == before


def test_overwrite_replaces_a_previous_export(work: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli.main(["dataset", "export", str(out)]) == 0
    marker = json.loads((out / EXPORT_MARKER).read_text())
    assert marker["dataset"] == str((work / "proj").resolve()) and marker["made_by"] == "tuitune dataset export"
    (out / "1_images" / "stale.png").write_bytes(b"left from last time")
    assert cli.main(["dataset", "export", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in (out / "1_images").iterdir()) == ["p0.png", "p0.txt", "p1.png", "p1.txt"]
    assert (out / EXPORT_MARKER).is_file()
    assert not (tmp_path / ".out.partial").exists()
