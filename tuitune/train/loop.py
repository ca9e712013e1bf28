"""The region-aware LoRA training loop: accelerate + peft over a frozen base model, run on a JobContext."""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tuitune.jobs.context import JobContext
from tuitune.jobs.rundir import ControlRequest, RunDir, RunState
from tuitune.train.config import TrainConfig
from tuitune.train.errors import TrainError
from tuitune.train.step import adapters_disabled, batch_loss, encode_live

__all__ = ["TrainOutcome", "adapters_disabled", "batch_loss", "refuse_fresh_start_over_a_run", "run_training",
           "train"]

log = logging.getLogger(__name__)

OnStep = Callable[[int, int, dict[str, Any]], None]
Say = Callable[..., None]  # say(phase, paced=False): what the run does before step 1, "" once it trains


@dataclass
class TrainOutcome:
    state: str  # finished | stopped
    step: int
    lora_path: Path | None


def train(config: TrainConfig, run_dir: Path | RunDir, *, resume: bool = False, steps: int | None = None,
          device: str | None = None, on_step: OnStep | None = None,
          on_phase: Callable[[str], None] | None = None) -> TrainOutcome:
    """Train a LoRA as ``config`` says in this process (``tuitune train CONFIG`` in a terminal, a notebook, a test),
    writing everything into ``run_dir`` as a job worker would: the same job context, files and events.

    SIGINT/SIGTERM checkpoint, then stop. A failure is recorded in the run and raised; a failed write is a
    TrainError of one sentence. ``on_phase``: what the run does before step 1 ("loading the base model",
    "caching latents 3/48"; "" once it trains), as status.json's ``phase`` says it.
    """
    from tuitune import atomic
    from tuitune.jobs.stop_signals import stop_signals
    from tuitune.jobs.write_failure import write_failure

    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
    refuse_fresh_start_over_a_run(rd, resume)  # before anything is written: that run stays as it was
    rd.create()
    ctx = JobContext(run=rd, resume=resume, rank=int(os.environ.get("RANK", "0")),
                     world_size=int(os.environ.get("WORLD_SIZE", "1")))
    # The status before run.toml: a reader lists the folder once run.toml exists and must find a state.
    ctx.begin()
    if ctx.is_main and not rd.run_toml.exists():
        atomic.write_text(rd.run_toml, config.frozen().to_toml())
    ctx.clean_partial_checkpoints()
    ctx.event("started", pid=os.getpid(), resume=resume, rank=ctx.rank)
    with stop_signals(ctx):
        ctx.start_heartbeat()
        try:
            outcome = run_training(ctx, config, steps=steps, device=device, on_step=on_step, on_phase=on_phase)
        except BaseException as exc:
            message = _failure(exc, ctx)
            ctx.end(RunState.FAILED, message)
            ctx.event(str(RunState.FAILED), message=message)
            if write_failure(exc) is not None:
                raise TrainError(message) from exc
            raise
    ctx.end(RunState(outcome.state), "" if outcome.state == RunState.FINISHED else "stopped on request",
            step=outcome.step)
    ctx.event(outcome.state, step=outcome.step)
    return outcome


def _failure(exc: BaseException, ctx: JobContext) -> str:
    """The sentence a failed run shows: a failed write said plainly (its half-written checkpoint removed), a
    TrainError as it is, anything else by its type and first line."""
    from tuitune.jobs.write_failure import explain, write_failure

    failure = write_failure(exc)
    if failure is not None:
        ctx.clean_partial_checkpoints()
        return explain(failure, ctx.run, ctx.writing_checkpoint, "resuming the run")
    if isinstance(exc, TrainError):
        return str(exc)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def run_training(ctx: JobContext, config: TrainConfig, *, steps: int | None = None, device: str | None = None,
                 on_step: OnStep | None = None, on_phase: Callable[[str], None] | None = None) -> TrainOutcome:
    """Train in ``ctx``'s run folder until the last step or a stop; whoever runs the job (the worker, ``train``)
    records how it ended."""
    from tuitune.train.hardware import choose_device

    refuse_fresh_start_over_a_run(ctx.run, ctx.resume)
    ctx.run.create()
    total = steps or config.train.steps
    ctx.write_status(step=0, total_steps=total, message="")
    return _run(config, ctx, total, choose_device(config.train.device, device), on_step, on_phase)


def refuse_fresh_start_over_a_run(rd: RunDir, resume: bool) -> None:
    """A fresh start never writes over a run folder that holds checkpoints or a finished LoRA."""
    if resume:
        return
    if rd.checkpoint_steps(checked=False):
        raise TrainError(f"{rd.path} already holds checkpoints; pass --resume to continue it or pick a new --run-dir.")
    if rd.lora_path.is_file():
        raise TrainError(f"{rd.path} already holds a finished run (lora.safetensors); pick a new --run-dir.")


def _check_memory(config: TrainConfig, accelerator: Any, ctx: JobContext) -> None:
    """Predict the run's peak memory before the model loads; refuse (or warn, as [train] memory_check says) when
    it will not fit the device, in one sentence naming what would make it fit. Every process decides alike."""
    from tuitune.train.memory_plan import check_at_start

    device = accelerator.device.type
    try:
        verdict = check_at_start(config, device, accelerator.num_processes if device == "cpu" else 1)
    except Exception as exc:  # noqa: BLE001 - a plan that cannot be made never stops a run
        log.warning("no memory plan: %s", exc, exc_info=not isinstance(exc, TrainError))
        ctx.event("memory_plan", message=f"No memory plan: {exc}")
        verdict = None
    refuse = verdict is not None and not verdict.fits and config.train.memory_check == "refuse"
    if accelerator.num_processes > 1:
        flag = torch.tensor([int(refuse)], device=accelerator.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if bool(flag[0]) and not refuse:
            raise TrainError("Another process's device cannot fit this run's memory plan; see its message.")
    if verdict is None:
        return
    ctx.event("memory_plan", message=verdict.sentence, peak_bytes=verdict.plan.peak, free_bytes=verdict.free,
              fits=verdict.fits)
    if refuse:
        raise TrainError(verdict.sentence.removesuffix(".") + ', or set [train] memory_check = "warn" to start anyway.')
    if not verdict.fits:
        log.warning(verdict.sentence)
        ctx.event("warning", message=verdict.sentence)


def _precache(maker: Any, accelerator: Any, say: Say, ctx: JobContext) -> None:
    """Cache every picture's latent before step 1, each process its share (the others read it from the disk
    cache), saying how far it is (status.json's ``phase``) and, when done, a ``latents_cached`` event. A stop
    signal ends the caching (the run then stops at its first step)."""
    procs, rank = accelerator.num_processes, accelerator.process_index
    share = list(range(rank, len(maker.records), procs))
    each = f" on each of {procs} processes" if procs > 1 else ""
    began = time.perf_counter()
    encoded, found = maker.precache_latents(
        share, lambda done, total: say(f"caching latents {done}/{total}{each}", paced=True),
        lambda: ctx.stop_signalled)
    accelerator.wait_for_everyone()
    say("")
    seconds = time.perf_counter() - began
    ctx.event("latents_cached", encoded=encoded, found=found,
              message=f"latents cached: {encoded} encoded, {found} from the cache{each} in {seconds:.1f} s")


def _reset_accelerate() -> None:
    """A second run in the same process (tests, notebooks) must not inherit the first one's settings."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def _run(config: TrainConfig, ctx: JobContext, total: int, device_name: str, on_step: OnStep | None,
         on_phase: Callable[[str], None] | None) -> TrainOutcome:
    from accelerate.utils import set_seed
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import cast_training_params

    from tuitune.train import checkpoints
    from tuitune.train.adapters import (
        add_lora,
        add_pivotal,
        check_text_encoder_lora,
        register_checkpoint_hooks,
    )
    from tuitune.train.base_model import load_base
    from tuitune.train.batches import BatchMaker
    from tuitune.train.dataset import BatchOrder, scan_folder, summary_line
    from tuitune.train.export import save_lora
    from tuitune.train.hardware import make_accelerator, make_optimizer, memory_mb, weight_dtype
    from tuitune.train.loss import check_masks
    from tuitune.train.pivotal import ENCODER_NAMES

    rd, tc, lora = ctx.run, config.train, config.lora
    # --- accelerator, base model, adapters -----------------------------------------------------------
    _reset_accelerate()
    trackers = "tensorboard" if importlib.util.find_spec("tensorboard") else None
    accelerator = make_accelerator(tc, device_name, str(rd.path), trackers)
    main = ctx.is_main  # only rank 0 writes the run folder's files; ctx says nothing on the others
    if lora.text_encoder:
        check_text_encoder_lora()
    # --- data, before the model: a broken loss contract fails at once, not after the load ---------------
    scan = scan_folder(config.data_folder, config.masks_folder, config.data.repeats)
    mask_files: dict[str, list[str]] = {}
    for record in scan.records:
        for stem in record.masks:
            mask_files.setdefault(stem, []).append(record.path.name)
    # The loss contract: every mask has its entry, every delete entry a mask.
    for warning in check_masks(mask_files, config.loss):
        ctx.event("warning", message=warning)
    for path, reason in scan.skipped:
        ctx.event("warning", message=f"skipped {path.name}: {reason}")
    for warning in scan.warnings:
        ctx.event("warning", message=warning)
    ctx.event("dataset", message=summary_line(scan.records, config.data.resolution, config.data.buckets,
                                              tc.batch_size * tc.grad_accum * accelerator.num_processes, total))
    if tc.memory_check != "off":
        _check_memory(config, accelerator, ctx)
    set_seed(tc.seed)
    dtype = weight_dtype(tc.mixed_precision, accelerator.device.type)
    # Loaded in its dtype: diffusers warns about a ``.to(dtype)`` after loading (and may keep some modules fp32).

    def say(phase: str, paced: bool = False) -> None:
        (ctx.progress if paced else ctx.write_status)(phase=phase)
        if main and on_phase is not None:
            on_phase(phase)

    say("loading the base model")
    base = load_base(config.base_model, config.model.kind, config.resolve(config.model.config), dtype=dtype)
    for module in [base.unet, base.vae, *base.text_encoders]:
        module.to(accelerator.device)
    models, names = add_lora(base, lora, tc.seed)
    pivotal = add_pivotal(base, lora.pivotal, accelerator.device, accelerator.num_processes, lora.pivotal_init)
    if tc.mixed_precision == "fp16":
        cast_training_params(models, dtype=torch.float32)  # fp16 weights, fp32 trainable LoRA
    if tc.grad_checkpointing:
        base.unet.enable_gradient_checkpointing()
        for encoder in models[1:]:
            encoder.gradient_checkpointing_enable()

    # Trained text encoders or token embeddings change a caption's embeddings every step: encode them live.
    maker = BatchMaker(config, base, scan.records, accelerator.device, dtype,
                       cache_text=not (lora.text_encoder or pivotal is not None))
    order = BatchOrder(maker.buckets, [r.repeats for r in scan.records], tc.batch_size, tc.seed, config.data.shuffle)
    if tc.cache_latents:
        _precache(maker, accelerator, say, ctx)
    else:
        say("")

    # --- optimizer, schedule, resume ----------------------------------------------------------------------
    groups = [{"params": [p for p in base.unet.parameters() if p.requires_grad], "lr": tc.lr}]
    for encoder in models[1:]:
        groups.append({"params": [p for p in encoder.parameters() if p.requires_grad], "lr": tc.text_encoder_lr or tc.lr})
    if pivotal is not None:
        groups.append({"params": list(pivotal.parameters()), "lr": tc.pivotal_lr or tc.lr, "weight_decay": 0.0})
    optimizer = make_optimizer(tc, groups, accelerator.device.type, lambda message: ctx.event("warning", message=message))
    procs = accelerator.num_processes
    scheduler = get_scheduler(tc.scheduler, optimizer=optimizer, num_warmup_steps=tc.warmup * procs,
                              num_training_steps=total * procs)
    prepared = accelerator.prepare(*models, optimizer, scheduler)
    models, optimizer, scheduler = list(prepared[: len(models)]), prepared[-2], prepared[-1]
    plain = [accelerator.unwrap_model(m) for m in models]
    register_checkpoint_hooks(accelerator, plain, names, pivotal)
    start = 0
    # Every byte against its checksum; a damaged newer checkpoint is moved aside, said, and skipped.
    found = ctx.resume_checkpoint()
    if found is not None:
        start, folder = found
        accelerator.load_state(str(folder))
        ctx.event("resume", step=start)
    if trackers and main:
        accelerator.init_trackers("tuitune")

    def export(path: Path, kohya: Path | None = None) -> None:
        embeddings = pivotal.tensors(ENCODER_NAMES[: len(base.text_encoders)]) if pivotal is not None else None
        save_lora(path, dict(zip(names, plain, strict=True)), lora.alpha, lora.rank, base.kind, kohya, embeddings,
                  lora.save_precision)

    def checkpoint(step: int) -> None:
        ctx.write_status()  # the step it was taken at, before the slow write
        checkpoints.save(ctx, step, accelerator, export, config.checkpoints)

    def samples(step: int) -> None:
        if main and config.samples.prompts:
            ctx.write_status()
            from tuitune.train.samples import write_samples

            for m in plain:
                m.eval()
            encoders = {"text_encoder": plain[1]} if len(plain) > 1 else {}
            if len(plain) > 2:
                encoders["text_encoder_2"] = plain[2]
            paths = write_samples(base.pipeline(unet=plain[0], **encoders), config.samples, rd.sample_dir(step),
                                  config.data.resolution, rd.name, Path(base.source).name)
            for m in plain:
                m.train()
            ctx.event("sample", step=step, paths=[str(p) for p in paths])
        accelerator.wait_for_everyone()

    # --- the loop ------------------------------------------------------------------------------------------
    rank, lam, step, state = accelerator.process_index, config.loss.preservation, start, RunState.FINISHED
    for m in models:
        m.train()
    ctx.started(total_steps=total, step=start)
    while step < total:
        tick = time.perf_counter()
        sums = {"loss": 0.0, "loss_masked": 0.0, "loss_preserve": 0.0}
        images = 0
        for accum in range(tc.grad_accum):
            micro = (step * tc.grad_accum + accum) * procs + rank
            _, indices = order.batch(micro)
            torch.manual_seed(tc.seed * 7_919 + micro)  # LoRA dropout is then identical after a resume
            batch = maker.make(indices, tc.seed, micro)
            with accelerator.accumulate(*models), accelerator.autocast():
                embeds = batch.embeds if batch.embeds is not None else encode_live(base, plain[1:], batch.captions)
                parts = batch_loss(base, models[0], plain[0], batch, embeds, dtype, lam, tc.min_snr_gamma)
                accelerator.backward(parts.total)
                if accelerator.sync_gradients and tc.max_grad_norm > 0:
                    accelerator.clip_grad_norm_([p for g in groups for p in g["params"]], tc.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            sums["loss"] += parts.total.item() / tc.grad_accum
            sums["loss_masked"] += parts.masked.item() / tc.grad_accum
            sums["loss_preserve"] += parts.preserve.item() / tc.grad_accum
            images += len(indices)
        step += 1
        elapsed = time.perf_counter() - tick
        # "time" (wall clock) lets readers measure the wall rate, samples and checkpoints included.
        row = {"step": step, "time": time.time(), **sums, "lr": scheduler.get_last_lr()[0], "s_per_step": elapsed,
               "images_per_s": images * procs / elapsed if elapsed > 0 else 0.0,
               "memory_mb": memory_mb(accelerator.device)}
        ctx.log_metric(row)
        ctx.progress(step)  # paced: a fast run would otherwise fsync status.json on every step
        if main:
            if trackers:
                accelerator.log({k: v for k, v in row.items() if k not in ("step", "time")}, step=step)
            if on_step is not None:
                on_step(step, total, row)
        # Every process: a pause holds here; a stop (asked, or a signal to any process) or sample-now is the same
        # decision on all of them.
        request = ctx.poll()
        stop = request is ControlRequest.STOP
        if request is ControlRequest.SAMPLE_NOW or (config.samples.every and step % config.samples.every == 0):
            samples(step)
        if stop or (config.checkpoints.every and step % config.checkpoints.every == 0) or step == total:
            checkpoint(step)
        if stop and step < total:
            state = RunState.STOPPED
            break

    # --- the end: the LoRA; the final state is written by whoever runs the job ------------------------------
    if main and state is RunState.FINISHED:
        export(rd.lora_path, rd.path / "lora_kohya.safetensors")
    accelerator.wait_for_everyone()
    if trackers:
        # Last: with more than one process accelerate's end_training also ends the process group.
        accelerator.end_training()
    return TrainOutcome(state=str(state), step=step, lora_path=rd.lora_path if state is RunState.FINISHED else None)
