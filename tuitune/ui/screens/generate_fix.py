"""The Generate screen's Fix mode and fix comparison: a box over the base picture, its fix job, before and after.

Fix mode belongs to one generation: moving to another one leaves it. The fix job gets the generation's prompt and
seed as training and evaluation seed, so the finished run's before/after pictures are that seed's; the comparison
reads them and the run's report from its files (no torch in the UI).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image
from textual.widgets import Static

from tuitune.errors import UserError
from tuitune.fix.box import Box
from tuitune.fix.config import FixConfig
from tuitune.fix.request import FixRequest
from tuitune.fix.results import FixComparison
from tuitune.ui.widgets.fix_box import FixBox, draw_box
from tuitune.ui.widgets.picture import Picture

NO_GENERATION = "Pick a generation in History first (ctrl+g draws one); {what}"
HEAT_SECONDS = 180  # the heatmap process imports torch and loads the reward: seconds, more on a busy machine


def heat_of(picture: Path, out_dir: Path, reward: str, prompt: str) -> dict[str, Any]:
    """The reward's heatmap report of ``picture`` (see tuitune.fix.heat), computed once per generation in a
    process of its own (the app never imports torch) and kept in ``out_dir``; ``{"error": ...}`` when not."""
    saved = out_dir / "report.json"
    try:
        report = json.loads(saved.read_text(encoding="utf-8"))
        if isinstance(report, dict) and report.get("reward") == reward:
            return report
    except (OSError, ValueError):
        pass  # not computed yet, or damaged: compute it again
    from tuitune.ui.report_process import run_report

    report = run_report("tuitune.fix.heat", [str(picture), str(out_dir), reward, prompt], needs="box",
                        what="The heatmap", timeout=HEAT_SECONDS)
    if "error" not in report:
        report["reward"] = reward
        try:
            saved.write_text(json.dumps(report), encoding="utf-8")
        except OSError:
            pass  # a read-only cache only costs the next visit the same wait
    return report


class FixMode:
    """Fix mode (the box, the queued fix) and the comparison with a finished fix, for one GenerateScreen."""

    def __init__(self, screen: Any) -> None:
        self.screen = screen  # the GenerateScreen (which imports this module): its panes, history and base model
        self.record: dict | None = None  # the generation Fix mode marks, while it is on
        self.picture: Image.Image | None = None  # its base picture
        self.comparison: FixComparison | None = None  # the comparison shown, and for which generation:
        self.compared_id: str | None = None
        self.region: Image.Image | None = None  # where the reward finds the marked picture wrong, once known

    @property
    def box(self) -> FixBox:
        return self.screen.query_one("#gen-fix-box", FixBox)

    # --- Fix mode ------------------------------------------------------------------------------------
    def toggle(self) -> None:
        if self.record is not None:
            self.leave()
            return
        screen = self.screen
        record = screen.current_record()
        if screen.app.readonly_project:  # type: ignore[attr-defined]
            screen.notify("The project is open read-only; a fix is a run saved in it.", severity="warning")
        elif record is None:
            screen.notify(NO_GENERATION.format(what="Fix mode marks a box on its base picture."), severity="warning")
        elif "base" not in record.get("images", {}):
            screen.notify("This generation has no base picture to mark; pick another one.", severity="warning")
        else:
            path = screen.project.generations_dir / record["images"]["base"]
            screen.run_worker(lambda: self._open(record, path), thread=True, exclusive=True, group="generate-fix-open")

    def _open(self, record: dict, path: Path) -> None:
        """Decode the base picture in a thread; a picture the fix cannot take is one sentence."""
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            self.screen.from_thread(self.screen.notify, f"The base picture {path.name} cannot be read "
                                    f"({exc.__class__.__name__}); generate it again with ctrl+g.", severity="error")
            return
        if rgb.width != rgb.height or rgb.width % 8 or rgb.width < 16:
            self.screen.from_thread(self.screen.notify, f"Fix mode needs a square picture whose side is a multiple "
                                    f"of 8; this one is {rgb.width}×{rgb.height}.", severity="error")
            return
        self.screen.from_thread(self._enter, record, rgb)

    def _enter(self, record: dict, rgb: Image.Image) -> None:
        if not same_generation(self.screen.current_record(), record):
            return  # the user moved to another generation while its picture was read
        self.end_comparison()
        self.record, self.picture, self.region = record, rgb, None
        box = self.box
        box.display = True
        box.start(rgb.width)
        box.focus()
        path = self.screen.project.generations_dir / record["images"]["base"]
        out = self.screen.project.cache_dir / "heat" / str(record.get("id", path.stem))
        prompt = str(record.get("params", {}).get("prompt", ""))
        reward = str(FixConfig.model_fields["reward"].default)
        self.screen.run_worker(lambda: self._heat(record, path, out, reward, prompt), thread=True, exclusive=True,
                               group="generate-fix-heat")

    def _heat(self, record: dict, path: Path, out: Path, reward: str, prompt: str) -> None:
        report = heat_of(path, out, reward, prompt)
        region = None
        if report.get("box") is not None:
            from tuitune.fix.heat import REGION_FILE

            try:
                with Image.open(out / REGION_FILE) as image:
                    region = image.convert("L")
            except OSError:
                report = {"error": "its region file cannot be read"}
        self.screen.from_thread(self._heat_ready, record, report, region)

    def _heat_ready(self, record: dict, report: dict, region: Image.Image | None) -> None:
        """The heatmap arrived: outline the region it marks and, unless the user moved the box meanwhile, put
        the box around it; say in one sentence what was found."""
        if self.record is None or not same_generation(self.record, record):
            return  # Fix mode ended or moved on while the heatmap was computed
        if "error" in report:
            self.screen.notify(f"No heatmap for this picture ({report['error']}); mark the box yourself.",
                               severity="warning")
            return
        if region is None:
            self.screen.notify(f"{str(report.get('source', 'The reward')).capitalize()} finds nothing wrong here "
                               f"(peak {report.get('peak', 0):.2f} < {report.get('threshold', 0.5)}); mark the box "
                               "yourself if you see something.")
            return
        self.region = region
        box = self.box
        found = Box(*report["box"])
        if box.untouched:
            box.place(found)
        else:
            self.draw(box.box)
        moved = "the box is around it" if box.box == found else "your box stays where you put it"
        self.screen.notify(f"{str(report.get('source', '')).capitalize()} marks {report.get('pixels')} pixels "
                           f"(outlined); {moved}. Adjust it, then enter queues the fix.")

    def leave(self, redraw: bool = True) -> None:
        """End Fix mode: the history gets the keys back and (``redraw``) the generation is shown without the box."""
        if self.record is None:
            return
        self.record = self.picture = self.region = None
        box = self.box
        if box.has_focus:
            self.screen.action_focus_history()
        box.display = False
        if redraw:
            self.screen.show_record(self.screen.current_record())

    def draw(self, box: Box) -> None:
        if self.record is None or self.picture is None:
            return
        seed = self.record.get("params", {}).get("seed")
        caption = f"base · seed {seed} · {box.label(self.picture.width)}"
        picture = self.picture
        if self.region is not None:
            from tuitune.ui.widgets.mask_overlay import draw_mask

            picture = draw_mask(picture, self.region)
            caption += " · heatmap outlined"
        self.screen.query_one("#gen-base", Picture).show_image(draw_box(picture, box), caption=caption)

    def request(self, box: Box, size: int) -> FixRequest:
        """The fix of the marked generation: its prompt and seed (training and before/after), the box as the
        mask, drawn like it was (its steps and guidance) on the project's base model."""
        assert self.record is not None
        params = self.record.get("params", {})
        prompt, seed = str(params.get("prompt", "")).strip(), params.get("seed", 0)
        if not prompt:
            raise UserError("This generation has no prompt to fix; pick another one.")
        guidance = params.get("guidance")
        return FixRequest(prompts=[prompt], seeds=[seed], eval_seeds=[seed], mask=box.spec,
                          model=self.screen.base_model()[0], resolution=size, sampler_steps=params.get("steps"),
                          guidance=guidance if isinstance(guidance, int | float) and guidance >= 1.0 else None)

    def confirm(self, box: Box, size: int) -> None:
        if self.record is None:
            return
        try:
            request = self.request(box, size)
            request.table()  # refused here, in one sentence, while the box is still on screen
        except UserError as exc:
            self.screen.notify(str(exc), severity="error")
            return
        self.screen.run_worker(lambda: self._submit(request), thread=True, exclusive=True, group="generate-fix")

    def _submit(self, request: FixRequest) -> None:
        from tuitune.fix.request import submit
        from tuitune.jobs.machine import one_at_a_time
        from tuitune.jobs.queue import active_run

        runs = self.screen.project.runs_dir
        try:
            run = submit(runs, request)
        except (UserError, OSError) as exc:
            self.screen.from_thread(self.screen.notify, f"The fix could not be queued ({exc}).", severity="error")
            return
        ahead = active_run(runs)
        if ahead is None or ahead.name == run.name:
            said = f"Fixing as {run.name}; when it finishes, c on this generation shows before and after."
        else:
            said = (f"{run.name} waits for {ahead.name} to finish ({one_at_a_time()}); when it is done, c on "
                    "this generation shows before and after.")
        self.screen.from_thread(self._queued, said)

    def _queued(self, said: str) -> None:
        self.leave()
        self.screen.notify(said)

    # --- comparison ----------------------------------------------------------------------------------
    def compare(self) -> None:
        if self.comparison is not None:
            self.end_comparison()
            self.screen.show_record(self.screen.current_record())
            return
        record = self.screen.current_record()
        if record is None:
            self.screen.notify(NO_GENERATION.format(what="c compares it with the newest fix of its prompt."),
                               severity="warning")
            return
        self.leave()
        self.screen.run_worker(lambda: self._find(record), thread=True, exclusive=True, group="generate-fix-compare")

    def _find(self, record: dict) -> None:
        """The newest fix of the generation's prompt, read from its run folder; why not, when it has no results."""
        from tuitune.fix.results import comparison, newest_fix
        from tuitune.jobs.rundir import RunState

        params = record.get("params", {})
        prompt, seed = str(params.get("prompt", "")), params.get("seed", 0)
        run = newest_fix(self.screen.project.runs_dir, prompt)
        if run is None:
            self._say("No fix of this prompt yet; press f to mark a box on its base picture and fix it.")
            return
        state = run.state()
        if state is not RunState.FINISHED:
            status = run.read_status()
            step = f" (step {status.get('step', 0)}/{status['total_steps']})" if status.get("total_steps") else ""
            self._say(f"{run.name} is {state.value}{step}; before and after appear once it finishes.")
            return
        found = comparison(run, prompt, seed)
        if found is None:
            self._say(f"{run.name} finished without its before/after pictures; its log says why "
                      f"(`tuitune attach {run.path}`).")
            return
        self.screen.from_thread(self._show_comparison, record, found)

    def _say(self, text: str) -> None:
        self.screen.from_thread(self.screen.notify, text, severity="warning")

    def _show_comparison(self, record: dict, found: FixComparison) -> None:
        if not same_generation(self.screen.current_record(), record):
            return
        self.comparison, self.compared_id = found, str(record.get("id"))
        self.show_comparison()

    def show_comparison(self) -> None:
        found = self.comparison
        assert found is not None
        drift = found.drift_outside
        self.screen.query_one("#gen-base", Picture).show(
            found.before, overlay=found.mask, caption=f"before · {found.run.name} · seed {found.seed}")
        self.screen.query_one("#gen-lora-image", Picture).show(
            found.after, overlay=found.mask,
            caption=f"after · drift outside {drift:.3f}" if drift is not None else "after · drift missing")
        info = self.screen.query_one("#gen-fix-info", Static)
        info.update(found.summary())
        info.display = True

    def end_comparison(self) -> None:
        if self.comparison is None:
            return
        self.comparison = self.compared_id = None
        self.screen.query_one("#gen-fix-info", Static).display = False

    # --- the screen's panes --------------------------------------------------------------------------
    def show(self, record: dict | None) -> None:
        """After the screen drew ``record``'s panes: the box or the comparison over them, if Fix mode or the
        comparison belongs to it; one that belongs to another generation ends."""
        if self.record is not None and not same_generation(record, self.record):
            self.leave(redraw=False)
        if self.comparison is not None and (record is None or str(record.get("id")) != self.compared_id):
            self.end_comparison()
        if self.record is not None:
            self.draw(self.box.box)
        elif self.comparison is not None:
            self.show_comparison()


def same_generation(one: dict | None, other: dict | None) -> bool:
    """The history reloads its records as new dicts: a generation is the same one when its id is."""
    return one is not None and other is not None and str(one.get("id")) == str(other.get("id"))
