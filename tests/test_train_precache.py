"""Caching latents before step 1: how far it is shows while it runs, and when they are encoded changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_pipelines import build_sd1, config_dict, make_dataset

from tuitune.jobs.listing import summarize
from tuitune.jobs.rundir import RunDir, RunState
from tuitune.train.config import TrainConfig
from tuitune.train.loop import train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("precache")
    return {"sd1": build_sd1(root / "sd1"), "images": make_dataset(root / "images", count=5, with_masks=True)}


def _config(world, tmp_path: Path, **train_settings) -> TrainConfig:
    """A 3-step run whose latent cache is its own (``tmp_path``/cache), so no other test's cache is found."""
    train_table = {"steps": 3, "cache_dir": str(tmp_path / "cache"), **train_settings}
    return TrainConfig.from_dict(config_dict(world["sd1"], world["images"], train=train_table), base_dir=tmp_path)


def _cached_event(run: Path) -> dict:
    events = [e for e in RunDir(run).read_events() if e.get("kind") == "latents_cached"]
    assert len(events) == 1, events
    return events[0]


def test_every_latent_is_cached_before_step_one_and_a_second_run_finds_them(world, tmp_path):
    config = _config(world, tmp_path)
    phases: list[str] = []
    steps: list[int] = []
    said_at_first_step: list[list[str]] = []

    def on_step(step, total, row):
        steps.append(step)
        if step == 1:
            said_at_first_step.append(list(phases))

    assert train(config, tmp_path / "first", on_step=on_step, on_phase=phases.append).state == "finished"
    # What `tuitune train CONFIG` shows beside its bar before step 1, in order, and nothing after.
    assert said_at_first_step == [phases]
    assert phases == ["loading the base model"] + [f"caching latents {i}/5" for i in range(1, 6)] + [""]
    first = _cached_event(tmp_path / "first")
    assert (first["encoded"], first["found"]) == (5, 0)
    assert first["message"].startswith("latents cached: 5 encoded, 0 from the cache in ")
    # Cached before the first step: the event comes before the first metrics row is written and any step ran.
    kinds = [e["kind"] for e in RunDir(tmp_path / "first").read_events()]
    assert kinds.index("latents_cached") < kinds.index("finished")
    assert len(list((config.cache_folder / "latents").glob("*.safetensors"))) == 5

    assert train(_config(world, tmp_path), tmp_path / "second").state == "finished"
    second = _cached_event(tmp_path / "second")
    assert (second["encoded"], second["found"]) == (0, 5)
    assert RunDir(tmp_path / "second").read_status().get("phase") == ""  # the finished run is not caching


def test_caching_first_trains_the_same_lora_as_encoding_each_picture_when_a_batch_needs_it(world, tmp_path):
    assert train(_config(world, tmp_path / "a"), tmp_path / "a" / "run").state == "finished"
    assert train(_config(world, tmp_path / "b", cache_latents=False), tmp_path / "b" / "run").state == "finished"
    assert not [e for e in RunDir(tmp_path / "b" / "run").read_events() if e.get("kind") == "latents_cached"]
    ours, theirs = (load_file(str(tmp_path / x / "run" / "lora.safetensors")) for x in ("a", "b"))
    assert ours.keys() == theirs.keys() and ours
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key


def test_a_stop_asked_while_caching_ends_the_caching_and_the_run_stops_at_its_first_step(world, tmp_path):
    from tuitune.train import batches

    real = batches.BatchMaker.precache_latents
    seen: list[tuple[int, int]] = []

    def precache_then_stop(self, indices, report=None, stop=None):
        import signal

        def report_and_stop(done: int, total: int) -> None:
            seen.append((done, total))
            if done == 2:
                signal.raise_signal(signal.SIGTERM)  # what `tuitune stop` sends the worker
            report(done, total)

        return real(self, indices, report_and_stop, stop)

    batches.BatchMaker.precache_latents = precache_then_stop
    try:
        outcome = train(_config(world, tmp_path, steps=50), tmp_path / "run")
    finally:
        batches.BatchMaker.precache_latents = real
    assert seen == [(1, 5), (2, 5)]  # nothing encoded after the stop
    event = _cached_event(tmp_path / "run")
    assert (event["encoded"], event["found"]) == (2, 0), event
    assert outcome.state == "stopped" and outcome.step == 1


def test_the_progress_line_says_what_a_starting_run_does_and_drops_it_once_the_run_ends(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create()
    run.write_status(state=str(RunState.STARTING), pid=None, step=0, total_steps=200,
                     phase="caching latents 12/48")
    line = summarize(run).progress_line()
    assert line.startswith("starting · step 0/200 · caching latents 12/48")
    run.write_status(state=str(RunState.FAILED), message="out of memory")
    assert "caching" not in summarize(run).progress_line()
