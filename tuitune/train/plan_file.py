"""The memory plan of a project's next training run, for the Train screen: ``python -m tuitune.train.plan_file
PROJECT`` reads the user's choices (``{section: {key: value}}``, the form as train.toml tables) as JSON on stdin,
builds the run config ``train_request`` builds for them (the run the screen's start key would queue), and prints
one JSON line: whether it fits this machine now, the sentence (with the changes that would make it fit), the
plan's lines and its peak. The app runs it as a process of its own: the plan needs torch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tuitune.errors import UserError
from tuitune.json_report import print_report, usage


def plan_of_project_run(project_root: Path, choices: dict[str, dict[str, Any]] | None = None,
                        device: str | None = None) -> dict[str, Any]:
    """The plan of the run the project's settings and ``choices`` make, against what ``device`` has free now."""
    from tuitune.train.config import TrainConfig
    from tuitune.train.errors import TrainError
    from tuitune.train.hardware import choose_device
    from tuitune.train.memory_plan import check_at_start
    from tuitune.train.project_run import train_request

    root = Path(project_root).expanduser().resolve()
    tables = train_request(root, choices)
    tables.pop("job", None)  # the job's own tables, as the worker takes them off before the config
    tables.pop("dataset", None)
    # Paths in a run's tables are relative to its folder, which does not exist yet: one level under runs/.
    config = TrainConfig.from_dict(tables, base_dir=root / "runs" / "planned")
    chosen = choose_device(config.train.device, device)
    processes = config.train.num_processes if chosen == "cpu" else 1
    try:
        verdict = check_at_start(config, chosen, processes)
    except TrainError as exc:
        raise UserError(f"No memory plan: {exc}") from None
    mine = verdict.plan
    parts = {"weights": mine.weights, "LoRA": mine.lora, "activations": max(mine.activations, mine.vae_encode),
             "runtime": mine.runtime}
    return {"fits": verdict.fits, "sentence": verdict.sentence, "lines": mine.lines(), "parts_bytes": parts,
            "peak_bytes": verdict.plan.peak * processes, "free_bytes": verdict.free, "device": chosen,
            "changes": verdict.changes}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        return usage("python -m tuitune.train.plan_file PROJECT  (the choices as JSON on stdin)")

    def report() -> dict[str, Any]:
        text = sys.stdin.read().strip()
        choices = json.loads(text) if text else {}
        if not isinstance(choices, dict):
            raise UserError("The choices must be a JSON object of tables, e.g. {\"train\": {\"batch_size\": 4}}.")
        return plan_of_project_run(Path(args[0]), choices)

    return print_report(report)


if __name__ == "__main__":
    raise SystemExit(main())
