"""The `tuitune dataset` commands on a project: items and masks land in the project database too."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from tuitune import cli
from tuitune.project.project import Project


def test_dataset_commands_on_a_project(tmp_path: Path, capsys) -> None:
    src = tmp_path / "pics"
    src.mkdir()
    for i, colour in enumerate(("red", "blue")):
        Image.new("RGB", (32, 24), colour).save(src / f"p{i}.png")
        (src / f"p{i}.txt").write_text(f"a {colour} card on a table")
    Project.create(tmp_path / "proj").close()
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"trigger_words": ["zxq"], "concepts": [
        {"name": "card", "granularity": "instance", "operation": "keep"}]}))
    proj = str(tmp_path / "proj")

    assert cli.main(["dataset", "import", str(src), "--into", proj]) == 0
    assert cli.main(["dataset", "detect", "--into", proj, "--spec", str(spec),
                     "--detector", "whole-image", "--segmenter", "box"]) == 0
    with Project.open(proj, readonly=True) as project:
        items = project.db.items()
        assert sorted(i.caption for i in items) == ["a blue card on a table", "a red card on a table"]
        masks = project.db.masks()
        assert {m.concept for m in masks} == {"card"} and len(masks) == 2
        assert all(m.path.exists() for m in masks)
        assert {i.decision for i in project.db.instances()} == {"accepted"}

    assert cli.main(["dataset", "review", "p0", "card", "0", "reject", "--into", proj]) == 0
    assert not (Image.open(Path(proj) / "masks" / "p0" / "card.png").getextrema()[1])  # mask now empty

    out = tmp_path / "out"
    assert cli.main(["dataset", "export", str(out), "--into", proj, "--spec", str(spec)]) == 0
    # The kept card is left to the trigger word; the rest of the caption stays.
    assert (out / "1_zxq" / "p1.txt").read_text().strip() == "zxq, on a table"
    capsys.readouterr()
    assert cli.main(["dataset", "export", str(out), "--into", proj]) == 2  # refuses to overwrite
    assert "not empty" in capsys.readouterr().err
    assert cli.main(["dataset", "detect", "--into", proj]) == 2  # no spec saved in the project yet
