"""What the app hands to the engine: job configs in run.toml, the shared intent history, the local parser."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from test_ui import SIZE, app_for, make_project, press_to_focus, stored_history, wait_for

pytestmark = pytest.mark.anyio



@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    # Runs are created and queued, but no worker process is started.
    monkeypatch.setattr("tuitune.jobs.queue.start_next", lambda runs_root: None)
    return make_project(tmp_path / "proj")


def new_runs(project: Path) -> list[dict]:
    """run.toml of every run the test created (the fixture's two runs are older)."""
    found = []
    for folder in sorted((project / "runs").iterdir()):
        if folder.name not in {"train-a", "train-b"} and (folder / "run.toml").is_file():
            found.append(tomllib.loads((folder / "run.toml").read_text(encoding="utf-8")))
    return found


async def test_train_start_submits_a_frozen_train_config_with_the_spec_loss(project: Path) -> None:
    from tuitune.train.config import TrainConfig

    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        screen = app.screen
        for ident, value in {"#set-lora-rank": "16", "#set-train-lr": "2e-4", "#set-train-steps": "50",
                             "#set-train-grad_accum": "2", "#set-train-min_snr_gamma": "5",
                             "#set-checkpoints-keep": "2", "#set-data-resolution": "64"}.items():
            screen.query_one(ident).value = value
        screen.query_one("#set-train-scheduler").value = "cosine"
        screen.query_one("#set-train-grad_checkpointing").value = True
        await pilot.press("s")
        await wait_for(pilot, lambda: new_runs(project))
    run_toml = new_runs(project)[0]
    assert run_toml["job"]["kind"] == "train"
    config = TrainConfig.from_dict({k: v for k, v in run_toml.items() if k not in ("job", "dataset")})
    assert (config.lora.rank, config.train.lr, config.train.steps) == (16, 2e-4, 50)
    assert (config.train.grad_accum, config.train.scheduler, config.train.grad_checkpointing) == (2, "cosine", True)
    assert config.train.min_snr_gamma == 5 and config.checkpoints.keep == 2 and config.data.resolution == 64
    # The job trains on the project's dataset exported into the run folder; paths into the project are
    # relative to the run folder, so a moved project's runs still resume.
    assert (config.data.folder, config.data.masks) == ("data", "data/masks")
    assert run_toml["dataset"]["project"] == "../.." and run_toml["dataset"]["include_derived"] is True
    assert config.train.cache_dir == "../../cache"
    # The loss table comes from the current spec: the watermark is deleted, so weight 0 and preserved.
    assert config.loss.concepts["watermark"].weight == 0.0 and config.loss.concepts["watermark"].preserve == 1.0
    assert config.loss.concepts["shape"].weight == 1.0
    # The form is remembered for the next run.
    remembered = tomllib.loads((project / "train.toml").read_text(encoding="utf-8"))
    assert remembered["lora"]["rank"] == 16 and remembered["train"]["scheduler"] == "cosine"


async def test_train_form_starts_from_project_defaults_and_train_toml(project: Path) -> None:
    (project / "project.toml").write_text('name = "proj"\nbase_model = "/models/sd15"\n[training]\nrank = 4\n',
                                          encoding="utf-8")
    (project / "train.toml").write_text("[train]\nwarmup = 30\n", encoding="utf-8")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        screen = app.screen
        values = {i: screen.query_one(i).value for i in ("#set-model-base", "#set-lora-rank", "#set-train-warmup",
                                                         "#set-lora-alpha")}
    assert values == {"#set-model-base": "/models/sd15", "#set-lora-rank": "4", "#set-train-warmup": "30",
                      "#set-lora-alpha": "8.0"}


async def test_generate_submits_a_valid_generate_request(project: Path) -> None:
    from tuitune.generate.batch import GenerateRequest

    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#gen-prompt").value = "zxq on a beach"
        screen.query_one("#gen-seed").value = "42"
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: new_runs(project))
    run_toml = new_runs(project)[0]
    assert run_toml["job"]["kind"] == "generate"
    request = GenerateRequest.model_validate(run_toml["generate"])
    assert request.prompts == ["zxq on a beach"] and request.seeds == [42]
    assert request.model == "toyworld"
    # Paths into the project are relative to the run folder, as a train run's are: a moved project still works.
    assert request.output == "../../generations" and request.lora is not None and "train-a" in request.lora
    from tuitune.generate.request import in_run

    run = next(f for f in (project / "runs").iterdir() if f.name not in {"train-a", "train-b"})
    opened = in_run(run, request)
    assert Path(opened.output) == project.resolve() / "generations"
    assert Path(opened.lora).is_relative_to(project.resolve() / "runs" / "train-a")


def test_cli_intent_and_the_app_share_one_history(project: Path) -> None:
    from tuitune.cli import main

    assert main(["intent", "call it zxq; remove the signature", "--project", str(project)]) == 0
    history = stored_history(project)
    assert history.current.version == 3
    assert "signature" in [c.name for c in history.current.concepts]


async def test_the_app_shows_what_the_cli_stored_and_the_cli_continues_from_the_app(project: Path) -> None:
    from tuitune.cli import main
    from tuitune.intent.project_link import open_project, project_state

    assert main(["intent", "remove the signature", "--project", str(project)]) == 0
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "IntentScreen")
        screen = app.screen
        await wait_for(pilot, lambda: screen.dialogue.current is not None)
        assert screen.dialogue.current.version == 3
        assert "remove the signature" in [t.text for t in screen.dialogue.turns]
        await press_to_focus(pilot, "ctrl+l", focused="chat-input")
        await pilot.press(*"keep the background", "enter")
        # Stored once the parser answers (in a thread): quitting before that would drop the message.
        await wait_for(pilot, lambda: "keep the background" in [t.text for t in screen.dialogue.turns]
                       and not screen.busy)
        await pilot.press("ctrl+q")
    project_handle = open_project(str(project))
    try:
        current, regions, _ = project_state(project_handle, None)
    finally:
        project_handle.close()
    assert current.version == 4 and [r.number for r in regions] == [1]


async def test_an_old_intent_json_is_moved_into_the_project_db(tmp_path: Path, monkeypatch) -> None:
    from tuitune.intent.dialogue import Dialogue, Turn
    from tuitune.intent.spec import Concept, Granularity, IntentSpec, Operation

    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = tmp_path / "old"
    (root / "images").mkdir(parents=True)
    (root / "project.toml").write_text('name = "old"\n', encoding="utf-8")
    spec = IntentSpec(trigger_words=["qq"], concepts=[
        Concept(name="logo", granularity=Granularity.INSTANCE, operation=Operation.DELETE)])
    old = Dialogue(turns=[Turn("user", "remove the logo", 1.0, None), Turn("assistant", "added logo", 2.0, 1)],
                   versions=[spec])
    (root / "intent.json").write_text(old.to_json(), encoding="utf-8")
    app = app_for(root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.dialogue.current.concept("logo").operation is Operation.DELETE
    assert not (root / "intent.json").exists() and (root / "intent.json.imported").is_file()
    assert [t.text for t in stored_history(root).turns] == ["remove the logo", "added logo"]


def test_local_parser_runs_out_of_process_and_streams(tmp_path: Path) -> None:
    from tuitune.intent.regions import Region
    from tuitune.intent.spec import IntentSpec
    from tuitune.ui.local_parse import command, parse_in_subprocess

    # Stands in for `python -m tuitune intent --backend local`: tokens on stderr, the spec to --out.
    fake = tmp_path / "fake_intent.py"
    fake.write_text(
        "import json, sys, time\n"
        "out = sys.argv[sys.argv.index('--out') + 1]\n"
        "for piece in ['{\"trigger', '_words\"', ': [\"zxq\"]}']:\n"
        "    sys.stderr.write(piece); sys.stderr.flush(); time.sleep(0.05)\n"
        "json.dump({'trigger_words': ['zxq'], 'version': 1, 'refs': sys.argv.count('--ref')}, open(out, 'w'))\n",
        encoding="utf-8",
    )
    regions = [Region(1, str(tmp_path / "a.png"), (0, 0, 4, 4)), Region(2, str(tmp_path / "b.png"), (1, 1, 3, 3))]

    def argv_for(text, current_file, regions, model, out_file):
        real = command(text, current_file, regions, model, out_file)
        assert real[1:4] == ["-m", "tuitune", "intent"] and "--backend" in real and "local" in real
        return [sys.executable, str(fake), *real[4:]]

    tokens: list[str] = []
    with pytest.raises(Exception, match="refs"):  # the fake writes an extra key the spec refuses
        parse_in_subprocess("call it zxq", None, regions, None, tmp_path / "scratch", tokens.append, argv_for)
    assert "".join(tokens) == '{"trigger_words": ["zxq"]}'

    fake.write_text(fake.read_text().replace(", 'refs': sys.argv.count('--ref')", ""), encoding="utf-8")
    spec = parse_in_subprocess("call it zxq", None, regions, None, tmp_path / "scratch", None, argv_for)
    assert isinstance(spec, IntentSpec) and spec.trigger_words == ["zxq"]
    assert list((tmp_path / "scratch").iterdir()) == []  # its scratch files are gone


def test_local_parser_failure_is_one_sentence(tmp_path: Path) -> None:
    from tuitune.intent.errors import IntentError
    from tuitune.ui.local_parse import parse_in_subprocess

    fake = tmp_path / "fails.py"
    fake.write_text("import sys\nsys.stderr.write('loading...\\ntuitune: No local model given.\\n'); sys.exit(2)\n")
    with pytest.raises(IntentError, match="^The local parser failed: No local model given.$"):
        parse_in_subprocess("x", None, [], None, tmp_path, None, lambda *a: [sys.executable, str(fake)])


async def test_screens_are_built_ahead_and_switching_keeps_them(project: Path) -> None:
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: {"intent", "concepts", "dataset", "train", "generate"} <= set(app._screen_stacks))
        built = {mode: app._screen_stacks[mode][0] for mode in ("concepts", "dataset", "train", "generate")}
        for key, mode in (("2", "concepts"), ("3", "dataset"), ("4", "train"), ("5", "generate"), ("2", "concepts")):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is built[mode]
        assert "Edit cell" in str(app.screen.query_one("KeyBar").render())


async def test_detect_uses_the_projects_vision_backends(project: Path) -> None:
    (project / "project.toml").write_text('name = "proj"\n[vision]\ndetector = "/models/owlv2"\n', encoding="utf-8")
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: new_runs(project))
    from tuitune.data.detect_job import DetectRequest, plan

    run_toml = new_runs(project)[0]
    assert plan(DetectRequest.model_validate(run_toml["detect"])).detector == "/models/owlv2"
    assert run_toml["job"]["gpu"] is True  # a model folder's detector waits for the GPU queue


async def test_generate_prompt_starts_as_the_trigger_word_and_follows_the_spec(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tuitune.generate.batch import GenerateRequest
    from tuitune.intent.spec import IntentSpec
    from tuitune.ui.screens.generate import GenerateScreen

    # The spec is read off the app's thread: a database another process holds locked must not freeze a key.
    readers = []
    default_prompt = GenerateScreen.default_prompt
    monkeypatch.setattr(GenerateScreen, "default_prompt",
                        lambda self: readers.append(threading.current_thread()) or default_prompt(self))
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: app.current_mode == "generate")
        generate = app.screen
        prompt = generate.query_one("#gen-prompt")
        await wait_for(pilot, lambda: prompt.value == "zxq")
        assert readers and threading.main_thread() not in readers
        await pilot.press("ctrl+g")  # no typing needed: the default prompt generates straight away
        await wait_for(pilot, lambda: new_runs(project))
        assert GenerateRequest.model_validate(new_runs(project)[0]["generate"]).prompts == ["zxq"]

        # A new spec version with other trigger words replaces an untouched default...
        spec = IntentSpec(trigger_words=["qqv", "zxq"], domain="object", concepts=[])
        app.project.handle.db.save_spec(spec.model_dump(mode="json", exclude={"version"}), "call it qqv zxq")
        await pilot.press("1", "5")
        await wait_for(pilot, lambda: prompt.value == "qqv zxq")
        # ...but never a prompt the user typed.
        prompt.value = "qqv on a beach"
        spec = IntentSpec(trigger_words=["abc"], domain="object", concepts=[])
        app.project.handle.db.save_spec(spec.model_dump(mode="json", exclude={"version"}), "call it abc")
        await pilot.press("1", "5")
        await wait_for(pilot, lambda: generate._default_prompt == "abc")  # the new spec was read
        assert prompt.value == "qqv on a beach"


async def test_generate_behind_a_running_train_says_what_it_waits_for(project: Path) -> None:
    import os

    from tuitune.jobs.rundir import RunDir, RunState

    busy = RunDir(project / "runs" / "train-busy").create()
    busy.run_toml.write_text('[job]\nkind = "train"\ngpu = true\n', encoding="utf-8")
    busy.write_status(state=RunState.RUNNING, pid=os.getpid(), step=5, total_steps=100, created=9.0)
    app = app_for(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: any("waits for train-busy" in n.message for n in app._notifications))
