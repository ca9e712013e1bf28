"""IntentSpec validation, schema and diff; the Dialogue's versions and turns; the CLI twins."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image
from pydantic import ValidationError

from tuitune.intent.backends import make_parser
from tuitune.intent.dialogue import Dialogue
from tuitune.intent.errors import IntentError, IntentQuestion
from tuitune.intent.regions import parse_ref
from tuitune.intent.spec import DONT_CARE_LOSS, Concept, IntentSpec, Operation, diff, loss_defaults


def test_validation_rejects_duplicate_names_and_bad_trigger_words():
    face = {"name": "Face", "granularity": "instance", "operation": "keep"}
    with pytest.raises(ValidationError, match="appears twice"):
        IntentSpec(trigger_words=["zxq"], concepts=[face, {**face, "name": "face "}])
    with pytest.raises(ValidationError, match="one non-empty token"):
        IntentSpec(trigger_words=["two words"])
    with pytest.raises(ValidationError, match="slashes"):
        Concept(name="../etc", granularity="instance", operation="keep")
    assert set(IntentSpec.model_json_schema()["properties"]) >= {"trigger_words", "domain", "concepts", "version"}


def test_diff_names_each_change():
    old = IntentSpec(trigger_words=["zxq"], concepts=[Concept(name="logo", granularity="instance",
                                                              operation="delete")])
    new = IntentSpec(trigger_words=["abc"], concepts=[
        Concept(name="logo", granularity="instance", operation="keep", references=[2]),
        Concept(name="hat", granularity="instance", operation="keep")], version=2)
    lines = diff(old, new)
    assert "trigger words: zxq -> abc" in lines
    assert "logo: operation delete -> keep" in lines
    assert any(line.startswith("added: keep 'hat'") for line in lines)
    assert diff(new, new) == []


def test_loss_defaults_follow_the_shared_mapping():
    def weights(op, **kw):
        return loss_defaults(Concept(name="x", granularity="instance", operation=op, **kw))

    assert weights("keep") == (1.0, 0.0) and weights("modify") == (1.0, 0.0) and weights("delete") == (0.0, 1.0)
    # "Doesn't matter" (the spec's marker: modify, weight 0.1, preserve 1) is learned whole and kept near the base.
    assert weights("modify", loss_weight=0.1, preserve=1.0) == DONT_CARE_LOSS
    assert weights("modify", loss_weight=0.5, preserve=1.0) == (0.5, 1.0)  # a weight the user chose is kept


def test_dialogue_keeps_every_version_and_survives_json(tmp_path):
    image = tmp_path / "ref.png"
    Image.new("RGB", (100, 80)).save(image)
    dialogue = Dialogue()
    dialogue.regions.append(parse_ref(f"{image}:10,10,50,50", dialogue.next_region_number()))
    parser = make_parser("rules")
    dialogue.say("call it zxq, keep the face [1], remove the logo", parser)
    dialogue.say("actually keep the logo", parser)
    with pytest.raises(IntentQuestion):
        dialogue.say("keep the hat and delete the hat", parser)
    assert [s.version for s in dialogue.versions] == [1, 2]
    assert dialogue.current.concept("logo").operation is Operation.KEEP
    assert dialogue.message_for(2) == "actually keep the logo"
    assert dialogue.diff(1, 2) == ["logo: operation delete -> keep"]
    assert dialogue.turns[-1].role == "assistant" and "which one" in dialogue.turns[-1].text
    restored = Dialogue.from_json(dialogue.to_json())
    assert restored.current == dialogue.current and len(restored.turns) == 6
    assert restored.regions[0].box == (10.0, 10.0, 50.0, 50.0)
    assert restored.revert(1).version == 3 and restored.current.concept("logo").operation is Operation.DELETE


def test_bad_reference_boxes_are_one_sentence(tmp_path):
    image = tmp_path / "ref.png"
    Image.new("RGB", (20, 20)).save(image)
    with pytest.raises(IntentError, match="IMAGE:x0,y0,x1,y1"):
        parse_ref(f"{image}", 1)
    with pytest.raises(IntentError, match="empty or negative"):
        parse_ref(f"{image}:5,5,2,2", 1)
    with pytest.raises(IntentError, match="does not exist"):
        parse_ref(f"{tmp_path}/missing.png:0,0,5,5", 1)


def _tuitune(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tuitune.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_intent_then_captions_dry_run(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("a girl with a watermark, black jacket")
    spec_file = tmp_path / "spec.json"
    result = _tuitune("intent", "call it zxq; keep the black jacket; remove the watermark", "--json",
                      "--out", str(spec_file))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["trigger_words"] == ["zxq"]
    result = _tuitune("captions", str(tmp_path), "--spec", str(spec_file), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "'a girl with a watermark, black jacket' -> 'zxq, a girl'" in result.stdout
    assert (tmp_path / "a.txt").read_text() == "a girl with a watermark, black jacket"
    result = _tuitune("intent", "keep the face [7]")
    assert result.returncode == 2 and "Region [7] does not exist" in result.stderr


def test_cli_stores_versions_in_a_project(tmp_path):
    from tuitune.project.project import Project

    Project.create(tmp_path / "p").close()
    assert _tuitune("intent", "call it zxq, remove the logo", "--project", str(tmp_path / "p")).returncode == 0
    result = _tuitune("intent", "actually keep the logo", "--project", str(tmp_path / "p"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["version"] == 2
    with Project.open(tmp_path / "p") as project:
        assert [v.version for v in project.db.specs()] == [1, 2]
        assert project.db.specs()[1].spec["concepts"][0]["operation"] == "keep"
        assert [t.role for t in project.db.turns()] == ["user", "assistant", "user", "assistant"]
