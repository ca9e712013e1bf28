"""``tuitune eval RUN``: evaluate a run's checkpoints against the intent and recommend one, in this process or
as a detached evaluate job."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tuitune.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score a run's checkpoints against the intent and recommend one",
        description="Draw base and LoRA samples on held-out prompts for each checkpoint, compute keep fidelity, "
        "modify flexibility, delete absence and drift, append them to RUN/eval.jsonl and recommend a checkpoint.",
    )
    p.add_argument("run", help="the training run folder")
    p.add_argument("--checkpoint", type=int, action="append", metavar="STEP",
                   help="evaluate only this step (repeatable); default: every checkpoint and the final LoRA")
    p.add_argument("--spec", help="IntentSpec JSON or a text file stating the intent in words (default: "
                   "RUN/spec.json, then the project spec the run trained on)")
    p.add_argument("--detector", help="detector backend name, e.g. toyworld, owlv2")
    p.add_argument("--segmenter", help="segmenter backend name, e.g. toyworld, sam, box")
    p.add_argument("--embedder", help="embedder backend name, e.g. toyworld, open_clip")
    p.add_argument("--seed", type=int, action="append", dest="seeds", metavar="N", help="seed (repeatable)")
    p.add_argument("--steps", type=int, help="sampling steps (default: the run's [samples] steps)")
    p.add_argument("--guidance", type=float, help="guidance scale (default: the run's [samples] guidance)")
    p.add_argument("--detach", action="store_true", help="run as a background job that outlives the terminal")
    p.add_argument("--json", action="store_true", help="print the rows as JSON lines instead of a table")
    p.set_defaults(handler=eval_command)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        "spec": str(Path(args.spec).resolve()) if args.spec else None,
        "checkpoints": args.checkpoint,
        "detector": args.detector,
        "segmenter": args.segmenter,
        "embedder": args.embedder,
        "steps": args.steps,
        "guidance": args.guidance,
    }
    if args.seeds:
        values["seeds"] = args.seeds
    return {k: v for k, v in values.items() if v is not None}


def eval_command(args: argparse.Namespace) -> int:
    from tuitune.evaluate.runner import EvalSettings

    run_path = Path(args.run).expanduser().resolve()
    if not (run_path / "run.toml").is_file():
        raise UserError(f"{args.run} is not a run folder (no run.toml); give the folder of a training run.")
    from tuitune.evaluate.queue_job import evaluation_settings

    values = evaluation_settings(run_path, settings_from_args(args))
    try:
        settings = EvalSettings.model_validate(values)
    except ValueError as exc:
        raise UserError(f"Invalid evaluation option ({str(exc).splitlines()[0]}).") from None
    if args.detach:
        return _detach(run_path, values)

    from tuitune.evaluate.report import format_rows
    from tuitune.evaluate.runner import evaluate_run

    def progress(label: str, index: int, total: int) -> None:
        print(f"evaluating {label} ({index + 1}/{total})", file=sys.stderr)

    rows, pick = evaluate_run(run_path, settings, progress=progress)
    if args.json:
        for row in rows:
            print(json.dumps(row, default=str))
    else:
        print(format_rows(rows, pick))
    return 0 if any(r.get("status") == "ok" for r in rows) else 1


def _detach(run_path: Path, values: dict[str, Any]) -> int:
    from tuitune.evaluate.queue_job import EVAL_FILE, queue_evaluation
    from tuitune.jobs.machine import one_at_a_time
    from tuitune.jobs.queue import active_run
    from tuitune.jobs.rundir import RunState

    job = queue_evaluation(run_path, values)
    how = "started"
    if job.state() is RunState.QUEUED:
        ahead = active_run(job.path.parent)
        running = ahead.name if ahead is not None and ahead.name != job.name else "the running job"
        how = f"queued (it starts when {running} finishes; {one_at_a_time()})"
    print(f"evaluation {how} as {job.path}; results go to {run_path / EVAL_FILE}")
    return 0
