"""The region-aware LoRA training loop: accelerate + peft over a frozen base model, driven by a RunDir."""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tuitune.jobs.rundir import ControlRequest, RunDir, RunState
from tuitune.train.config import TrainConfig
from tuitune.train.errors import TrainError

log = logging.getLogger(__name__)


@dataclass
class TrainOutcome:
    state: str  # finished | stopped
    step: int
    lora_path: Path | None


@contextmanager
def adapters_disabled(model: Any):
    """Run the base model: LoRA layers off inside the block (no grad is the caller's job)."""
    model.disable_adapters()
    try:
        yield
    finally:
        model.enable_adapters()


class _Signals:
    """SIGINT/SIGTERM ask for a checkpoint and a clean stop instead of killing the process."""

    def __init__(self) -> None:
        self.stop = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.stop = True

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _device(config: TrainConfig, override: str | None) -> str:
    choice = override or config.train.device
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu.")
    return choice


def _memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def train(config: TrainConfig, run_dir: Path | RunDir, *, resume: bool = False, steps: int | None = None,
          device: str | None = None, on_step: Callable[[int, int, dict[str, Any]], None] | None = None
          ) -> TrainOutcome:
    """Train a LoRA as ``config`` says, writing everything into ``run_dir`` (the run-directory protocol)."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
    rd.create()
    if not rd.run_toml.exists():
        from tuitune import atomic

        atomic.write_text(rd.run_toml, config.frozen().to_toml())
    total = steps or config.train.steps
    rd.write_status(state=str(RunState.STARTING), pid=os.getpid(), step=0, total_steps=total, message="")
    try:
        with _Signals() as signals:
            return _run(config, rd, resume, total, _device(config, device), signals, on_step)
    except TrainError as exc:
        _fail(rd, str(exc))
        raise
    except Exception as exc:
        _fail(rd, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
        raise


def _fail(rd: RunDir, message: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:
        rd.write_status(state=str(RunState.FAILED), pid=os.getpid(), message=message)
        rd.append_event("error", message=message)


def _run(config: TrainConfig, rd: RunDir, resume: bool, total: int, device_name: str, signals: _Signals,
         on_step: Callable[[int, int, dict[str, Any]], None] | None) -> TrainOutcome:
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    from tuitune.train import checkpoints
    from tuitune.train.base_model import load_base
    from tuitune.train.batches import BatchMaker
    from tuitune.train.dataset import BatchOrder, scan_folder
    from tuitune.train.export import peft_state, save_lora

    tc = config.train
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        # A second run in the same process (tests, notebooks) must not inherit the first one's settings.
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    trackers = "tensorboard" if importlib.util.find_spec("tensorboard") else None
    try:
        accelerator = Accelerator(gradient_accumulation_steps=tc.grad_accum, mixed_precision=tc.mixed_precision,
                                  cpu=device_name == "cpu", log_with=trackers, project_dir=str(rd.path))
    except ValueError as exc:
        raise TrainError(f"Mixed precision {tc.mixed_precision!r} is not available here ({exc}); "
                         "set [train] mixed_precision = \"no\".") from None
    main = accelerator.is_main_process
    if not resume and checkpoints.latest(rd) is not None:
        raise TrainError(f"{rd.path} already holds checkpoints; pass --resume to continue it or pick a new --run-dir.")
    set_seed(tc.seed)
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(tc.mixed_precision, torch.float32)
    if accelerator.device.type == "cpu":
        weight_dtype = torch.float32  # CPU autocast handles bf16; frozen weights stay fp32
    base = load_base(config.base_model, config.model.kind, config.resolve(config.model.config))
    unet = base.unet
    for module in [unet, base.vae, *base.text_encoders]:
        module.requires_grad_(False)
        module.to(accelerator.device, dtype=weight_dtype)
    torch.manual_seed(tc.seed)
    lora = config.lora
    unet.add_adapter(LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                init_lora_weights="gaussian", target_modules=lora.targets))
    models: list[Any] = [unet]
    names = ["unet"]
    if lora.text_encoder:
        for i, encoder in enumerate(base.text_encoders):
            encoder.add_adapter(LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                           init_lora_weights="gaussian", target_modules=lora.text_encoder_targets))
            models.append(encoder)
            names.append("text_encoder" if i == 0 else "text_encoder_2")
    if tc.mixed_precision == "fp16":
        cast_training_params(models, dtype=torch.float32)
    if tc.grad_checkpointing:
        unet.enable_gradient_checkpointing()
        for encoder in models[1:]:
            encoder.gradient_checkpointing_enable()

    scan = scan_folder(config.data_folder, config.masks_folder, config.data.repeats)
    if main:
        for path, reason in scan.skipped:
            rd.append_event("warning", message=f"skipped {path.name}: {reason}")
        for warning in scan.warnings:
            rd.append_event("warning", message=warning)
    maker = BatchMaker(config, base, scan.records, accelerator.device, weight_dtype, cache_text=not lora.text_encoder)
    order = BatchOrder(maker.buckets, [r.repeats for r in scan.records], tc.batch_size, tc.seed, config.data.shuffle)

    groups = [{"params": [p for p in unet.parameters() if p.requires_grad], "lr": tc.lr}]
    for encoder in models[1:]:
        groups.append({"params": [p for p in encoder.parameters() if p.requires_grad], "lr": tc.text_encoder_lr or tc.lr})
    optimizer = _optimizer(tc.optimizer, groups, tc, accelerator.device.type)
    procs = accelerator.num_processes
    scheduler = get_scheduler(tc.scheduler, optimizer=optimizer, num_warmup_steps=tc.warmup * procs,
                              num_training_steps=total * procs)
    prepared = accelerator.prepare(*models, optimizer, scheduler)
    models, optimizer, scheduler = list(prepared[: len(models)]), prepared[-2], prepared[-1]
    plain = [accelerator.unwrap_model(m) for m in models]

    def save_hook(hook_models: list[Any], weights: list[Any], output_dir: str) -> None:
        for i, _ in enumerate(list(hook_models)):
            save_file(peft_state(plain[i]), os.path.join(output_dir, f"adapter_{names[i]}.safetensors"))
            if weights:
                weights.pop()

    def load_hook(hook_models: list[Any], input_dir: str) -> None:
        for i in range(len(hook_models)):
            set_peft_model_state_dict(plain[i], load_file(os.path.join(input_dir, f"adapter_{names[i]}.safetensors")))
        hook_models.clear()

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)

    start = 0
    if resume:
        found = checkpoints.latest(rd)
        if found is not None:
            accelerator.load_state(str(rd.checkpoint_dir(found)))
            start = found
            if main:
                rd.append_event("resume", step=found)
    if trackers and main:
        accelerator.init_trackers("tuitune")

    def export(path: Path, kohya: Path | None = None) -> None:
        save_lora(path, dict(zip(names, plain, strict=True)), lora.alpha, lora.rank, base.kind, kohya)

    def checkpoint(step: int) -> None:
        checkpoints.write_checkpoint(rd, step, lambda p: accelerator.save_state(str(p)), export, main,
                                     accelerator.wait_for_everyone, config.checkpoints.keep)
        if main:
            rd.append_event("checkpoint", step=step, path=str(rd.checkpoint_dir(step)))

    def samples(step: int) -> None:
        if main and config.samples.prompts:
            from tuitune.train.samples import write_samples

            for m in plain:
                m.eval()
            pipe = base.pipeline(unet=plain[0], **({"text_encoder": plain[1]} if len(plain) > 1 else {}))
            paths = write_samples(pipe, config.samples, rd.sample_dir(step), config.data.resolution, rd.name,
                                  Path(base.source).name)
            for m in plain:
                m.train()
            rd.append_event("sample", step=step, paths=[str(p) for p in paths])
        accelerator.wait_for_everyone()

    unet_run = models[0]
    rank = accelerator.process_index
    lam = config.loss.preservation
    step = start
    state = RunState.FINISHED
    for m in models:
        m.train()
    while step < total:
        tick = time.perf_counter()
        sums = {"loss": 0.0, "loss_masked": 0.0, "loss_preserve": 0.0}
        images = 0
        for accum in range(tc.grad_accum):
            micro = (step * tc.grad_accum + accum) * procs + rank
            _, indices = order.batch(micro)
            # Seeding per micro-batch makes dropout identical after a resume.
            torch.manual_seed(tc.seed * 7_919 + micro)
            batch = maker.make(indices, tc.seed, micro)
            with accelerator.accumulate(*models), accelerator.autocast():
                embeds = batch.embeds if batch.embeds is not None else _encode_live(base, plain, batch.captions)
                parts = batch_loss(base, unet_run, plain[0], batch, embeds, weight_dtype, lam, tc.min_snr_gamma)
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
        row = {"step": step, **sums, "lr": scheduler.get_last_lr()[0], "s_per_step": elapsed,
               "images_per_s": images * procs / elapsed if elapsed > 0 else 0.0,
               "memory_mb": _memory_mb(accelerator.device)}
        if main:
            rd.append_metric(row)
            rd.write_status(state=str(RunState.RUNNING), pid=os.getpid(), step=step, total_steps=total, message="")
            if trackers:
                accelerator.log({k: v for k, v in row.items() if k != "step"}, step=step)
            if on_step is not None:
                on_step(step, total, row)
        stop, sample_now = _poll(rd, main, signals, step, total)
        stop, sample_now = _agree(accelerator, stop, sample_now)
        if sample_now or (config.samples.every and step % config.samples.every == 0):
            samples(step)
        if stop or (config.checkpoints.every and step % config.checkpoints.every == 0) or step == total:
            checkpoint(step)
        if stop and step < total:
            state = RunState.STOPPED
            break
    if main:
        if state is RunState.FINISHED:
            export(rd.lora_path, rd.path / "lora_kohya.safetensors")
        rd.write_status(state=str(state), pid=os.getpid(), step=step, total_steps=total,
                        message="" if state is RunState.FINISHED else "stopped on request")
        rd.append_event(str(state), step=step)
    if trackers:
        accelerator.end_training()
    accelerator.wait_for_everyone()
    return TrainOutcome(state=str(state), step=step, lora_path=rd.lora_path if state is RunState.FINISHED else None)


def batch_loss(base: Any, unet: Any, plain_unet: Any, batch: Any, embeds: Any, weight_dtype: torch.dtype,
               preservation: float, min_snr_gamma: float) -> Any:
    """Forward one batch and return its region-aware ``LossParts`` (the base pass only when λ > 0)."""
    from tuitune.train.loss import min_snr_weights, region_loss

    noisy = base.noise_scheduler.add_noise(batch.latents, batch.noise, batch.timesteps)
    if base.prediction_type == "v_prediction":
        target = base.noise_scheduler.get_velocity(batch.latents, batch.noise, batch.timesteps)
    else:
        target = batch.noise
    kwargs = base.unet_kwargs(embeds, batch.time_ids)
    pred = unet(noisy.to(weight_dtype), batch.timesteps, **kwargs, return_dict=False)[0]
    base_pred = None
    if preservation > 0:
        detached = {k: (v.detach() if torch.is_tensor(v) else v) for k, v in kwargs.items()}
        with torch.no_grad(), adapters_disabled(plain_unet):
            base_pred = plain_unet(noisy.to(weight_dtype), batch.timesteps, **detached, return_dict=False)[0]
    snr = min_snr_weights(base.noise_scheduler, batch.timesteps, min_snr_gamma) if min_snr_gamma > 0 else None
    return region_loss(pred, target, batch.weight, base_pred, batch.preserve, preservation, snr)


def _encode_live(base: Any, plain: list[Any], captions: list[str]) -> Any:
    """Text embeddings with gradients, for runs that train the text encoder too."""
    saved = base.text_encoders
    base.text_encoders = plain[1:] + saved[len(plain) - 1:]
    try:
        return base.encode_prompts(captions)
    finally:
        base.text_encoders = saved


def _optimizer(name: str, groups: list[dict[str, Any]], tc: Any, device_type: str) -> torch.optim.Optimizer:
    if name == "adamw8bit" and device_type == "cuda" and importlib.util.find_spec("bitsandbytes"):
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(groups, lr=tc.lr, weight_decay=tc.weight_decay)
    if name == "adamw8bit":
        log.warning("8-bit AdamW needs bitsandbytes and a CUDA GPU; using torch AdamW.")
    return torch.optim.AdamW(groups, lr=tc.lr, weight_decay=tc.weight_decay)


def _poll(rd: RunDir, main: bool, signals: _Signals, step: int, total: int) -> tuple[bool, bool]:
    """Rank 0 reads the control file; PAUSE blocks here (heartbeating) until CONTINUE or STOP."""
    if not main:
        return signals.stop, False
    request = rd.take_request()
    if request is ControlRequest.PAUSE:
        rd.append_event("paused", step=step)
        while not signals.stop:
            rd.write_status(state=str(RunState.PAUSED), pid=os.getpid(), step=step, total_steps=total)
            request = rd.take_request()
            if request in (ControlRequest.CONTINUE, ControlRequest.STOP):
                break
            time.sleep(0.5)
        rd.write_status(state=str(RunState.RUNNING), step=step)
        rd.append_event("continued", step=step)
    if request is ControlRequest.STOP or signals.stop:
        rd.write_status(state=str(RunState.STOPPING), step=step)
        return True, False
    return False, request is ControlRequest.SAMPLE_NOW


def _agree(accelerator: Any, stop: bool, sample_now: bool) -> tuple[bool, bool]:
    """Every process takes the same decision (a signal may reach only some of them)."""
    if accelerator.num_processes == 1:
        return stop, sample_now
    flags = torch.tensor([int(stop), int(sample_now)], device=accelerator.device)
    torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
    return bool(flags[0]), bool(flags[1])
