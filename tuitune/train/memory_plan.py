"""Predict a training run's peak memory from its config, before any weights load, and say what would make it fit.

The formula, in bytes (every count comes from the architecture itself, built on the meta device: no weights
are read, no memory is spent)::

    peak        = weights + lora + max(activations, vae_encode) + runtime
    weights     = parameters of the UNet, VAE and text encoder(s) × bytes of the weight dtype
                  (fp32 on CPU; fp16 or bf16 on CUDA with that mixed precision)
    lora        = LoRA parameters × (weight + gradient + optimizer state) bytes: 4 + 4 + 8 for fp32 LoRA and
                  AdamW's two moments, 4 + 4 + 2 with 8-bit AdamW; 2 + 2 + 4 for bf16 LoRA (bf16 weights on CUDA)
    activations = BACKWARD_FACTOR × batch × saved(side, checkpointing, dtype)
    vae_encode  = VAE_FACTOR × the VAE's first width × side² × activation bytes (one image, no grad)
    runtime     = CPU: RUNTIME_CPU (Python and the libraries); CUDA: ALLOCATOR_HEADROOM × the rest (the caching
                  allocator's rounding and fragmentation)

``saved`` is what autograd keeps for the backward pass of one image through the LoRA UNet (and through the
text encoders when they train) at the largest bucket, side × side pixels (side / vae scale latents): it is
counted by running that forward on the meta device under saved-tensor hooks, with the config's LoRA targets,
attention counted as a fused kernel keeps it (q, k, v, output and log-sum-exp, no N × N matrix; PyTorch's SDPA
on CPU and CUDA works that way). With gradient checkpointing it is what the checkpointed forward keeps plus
UNIT_FACTOR × the largest checkpointed unit (a ResNet or transformer block, recomputed during backward with all
it saves; never more than without checkpointing). It grows with the latent area, so with resolution² × batch,
and the count follows each architecture's own blocks. BACKWARD_FACTOR covers what the backward pass adds on top
(the gradients of the activations in flight).

The constants are calibrated on measured peaks on CPU (``benchmarks/memory_plan.py``: the toyworld model at
batch 1-32, and SD 1.5 at 64, 128, 256 and 512 px with and without checkpointing; peak RSS, every row within
5% of the prediction): BACKWARD_FACTOR from SD 1.5 at 512 px (the slope over batch is 1.9 on the small rows,
where fixed costs are a larger share), UNIT_FACTOR from SD 1.5 at 512 px with checkpointing, VAE_FACTOR from the
VAE encoder alone (5.1 × at 512 px), RUNTIME_CPU from the toyworld rows. On CUDA they are not yet measured.
Latents are kept in memory whether or not they are cached on disk and the VAE stays loaded, so
``[train] cache_latents`` does not change the peak here (and is not offered as a fix).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tuitune.train.config import TrainConfig
from tuitune.train.errors import TrainError

GIB = 2**30
BACKWARD_FACTOR = 1.5
# With checkpointing, the largest checkpointed unit counts this many times on top: recomputed with all it saves,
# its gradients, and the gaps between units of different sizes the allocator cannot reuse.
UNIT_FACTOR = 6
VAE_FACTOR = 5.0
RUNTIME_CPU = 0.85 * GIB
ALLOCATOR_HEADROOM = 0.10
TOKENS = 77  # every SD text encoder reads 77 tokens (fewer when its positions say so)


@dataclass
class Architecture:
    """A base model's parts as meta-device modules: their sizes and how they run, no weights."""

    source: str
    parts: dict[str, dict[str, Any]]  # part -> config with its _class_name
    parameters: dict[str, int]
    _saved: dict[tuple[Any, ...], int] = field(default_factory=dict)

    @property
    def is_sdxl(self) -> bool:
        return "text_encoder_2" in self.parts

    @property
    def vae_scale(self) -> int:
        return 2 ** (len(self.parts["vae"]["block_out_channels"]) - 1)

    def meta(self, part: str, dtype: Any) -> Any:
        from tuitune.train.architectures.random_weights import _default_dtype, build_module

        with torch.device("meta"), _default_dtype(dtype):
            return build_module(self.parts[part])

    def lora_parameters(self, targets: list[str], te_targets: list[str] | None, rank: int) -> int:
        key = ("lora", tuple(targets), tuple(te_targets or ()), rank)
        if key not in self._saved:
            count = 0
            for part in ["unet", *self.encoders()] if te_targets else ["unet"]:
                module = _with_lora(self.meta(part, torch.float32), targets if part == "unet" else te_targets, rank)
                count += sum(p.numel() for p in module.parameters() if p.requires_grad)
            self._saved[key] = count
        return self._saved[key]

    def encoders(self) -> list[str]:
        return [p for p in ("text_encoder", "text_encoder_2") if p in self.parts]

    def saved_bytes(self, side: int, checkpointing: bool, dtype: Any, targets: list[str],
                    te_targets: list[str] | None, rank: int) -> int:
        """What autograd saves for one image's backward (see the module docstring), counted once per setup."""
        key = ("saved", side, checkpointing, str(dtype), tuple(targets), tuple(te_targets or ()), rank)
        if key not in self._saved:
            self._saved[key] = self._count_saved(side, checkpointing, dtype, targets, te_targets, rank)
        return self._saved[key]

    def _count_saved(self, side: int, checkpointing: bool, dtype: Any, targets: list[str],
                     te_targets: list[str] | None, rank: int) -> int:
        latent = max(1, side // self.vae_scale)
        cfg = self.parts["unet"]
        tokens = min([TOKENS] + [int(self.parts[p].get("max_position_embeddings", TOKENS)) for p in self.encoders()])
        with torch.device("meta"):
            sample = torch.zeros(1, cfg.get("in_channels", 4), latent, latent, dtype=dtype)
            context = torch.zeros(1, tokens, cfg["cross_attention_dim"], dtype=dtype, requires_grad=bool(te_targets))
            extra = None
            if cfg.get("addition_embed_type") == "text_time":
                time_dim = cfg["addition_time_embed_dim"]
                pooled = cfg["projection_class_embeddings_input_dim"] - 6 * time_dim
                extra = {"text_embeds": torch.zeros(1, pooled, dtype=dtype), "time_ids": torch.zeros(1, 6, dtype=dtype)}
            timestep = torch.zeros(1, dtype=torch.long)
            ids = torch.zeros(1, tokens, dtype=torch.long)

        def unet(module: Any) -> None:
            module(sample, timestep, encoder_hidden_states=context, added_cond_kwargs=extra, return_dict=False)

        runs = [("unet", unet, CHECKPOINTED_UNITS)]
        for part in self.encoders() if te_targets else []:
            runs.append((part, lambda module: module(ids, output_hidden_states=True), CHECKPOINTED_UNITS))
        total = 0
        for part, forward, units in runs:
            module = _with_lora(self.meta(part, dtype), targets if part == "unet" else te_targets, rank)
            if not checkpointing:
                total += _tally(module, forward).bytes
                continue
            # Checkpointing keeps each unit's inputs, and the backward pass recomputes one unit at a time
            # with everything it saves: the largest unit's share comes on top.
            full = _tally(module, forward, units)
            _enable_checkpointing(module)
            total += min(full.bytes, _tally(module, forward).bytes + UNIT_FACTOR * full.largest_unit)
        return total


# The modules diffusers' and transformers' gradient checkpointing wraps one at a time.
CHECKPOINTED_UNITS = ("ResnetBlock2D", "BasicTransformerBlock", "CLIPEncoderLayer")


def _enable_checkpointing(module: Any) -> None:
    if hasattr(module, "enable_gradient_checkpointing"):
        module.enable_gradient_checkpointing()
    else:
        module.gradient_checkpointing_enable()


def load_architecture(config: TrainConfig) -> Architecture:
    """The architecture of ``config``'s base model, from its configs alone (an arch: name, a diffusers folder, a
    single file's [model] config folder, or a hub model already in the local cache)."""
    from tuitune.train.architectures import name_of, spec
    from tuitune.train.named_models import folder_of

    source = config.base_model
    arch = name_of(source)
    if arch is not None and not Path(source).exists():
        data = spec(arch)
        parts = {p: data[p] for p in ("unet", "vae", "text_encoder", "text_encoder_2") if p in data}
        return Architecture(source, parts, dict(data["public_parameters"]))
    folder = folder_of(source) if not Path(source).exists() else None
    path = folder or Path(source).expanduser()
    if path.is_file():
        if config.model.config is None:
            raise TrainError(f"the memory plan needs the architecture of {path.name}; set [model] config to a "
                             "diffusers folder of the same architecture.")
        path = config.resolve(config.model.config)  # type: ignore[assignment]
    if not path.is_dir():
        path = _hub_cache_folder(source)
    parts = _folder_parts(path)
    arch_ = Architecture(source, parts, {})
    for part in parts:
        arch_.parameters[part] = sum(p.numel() for p in arch_.meta(part, torch.float32).parameters())
    return arch_


def _folder_parts(folder: Path) -> dict[str, dict[str, Any]]:
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise TrainError(f"the memory plan cannot read {folder / 'model_index.json'}.") from None
    parts = {}
    for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
        entry = index.get(part)
        if not isinstance(entry, list) or len(entry) != 2 or entry[1] is None:
            continue
        try:
            values = json.loads((folder / part / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise TrainError(f"the memory plan cannot read {folder / part / 'config.json'}.") from None
        parts[part] = {**values, "_class_name": entry[1]}
    if "unet" not in parts or "vae" not in parts:
        raise TrainError(f"the memory plan found no UNet and VAE configs in {folder}.")
    return parts


def _hub_cache_folder(repo_id: str) -> Path:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "model_index.json")
    except Exception:  # noqa: BLE001 - not a repo id at all
        found = None
    if not isinstance(found, str):
        raise TrainError(f"the memory plan needs {repo_id!r}'s configs, which are not in the local hub cache.")
    return Path(found).parent


def _with_lora(module: Any, targets: list[str], rank: int) -> Any:
    from peft import LoraConfig

    module.requires_grad_(False).train()  # as the loop runs it (transformers checkpoints only in training)
    module.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets, init_lora_weights="gaussian"))
    return module


@dataclass
class _Tally:
    bytes: int = 0
    largest_unit: int = 0  # the most any one of the named unit modules saved inside itself


def _tally(module: Any, forward: Any, units: tuple[str, ...] = ()) -> _Tally:
    """Run ``forward(module)`` (meta tensors) and sum the bytes of the distinct tensors autograd saves, the
    module's weights left out, attention counted as a fused kernel saves it."""
    from unittest import mock

    weights = {id(p) for p in module.parameters()}
    seen: dict[int, int] = {}
    per_unit: dict[int, dict[int, int]] = {}
    inside: list[int] = []

    def pack(tensor: Any) -> Any:
        base = tensor._base if tensor._base is not None else tensor
        if id(base) not in weights and id(tensor) not in weights:
            seen[id(base)] = base.numel() * base.element_size()
            for unit in inside:
                per_unit.setdefault(unit, {})[id(base)] = seen[id(base)]
        return tensor

    def enter(unit: Any, *_: Any) -> None:
        inside.append(id(unit))

    def leave(unit: Any, *_: Any) -> None:  # a forward hook that returned something would replace the output
        inside.pop()

    handles = []
    for child in module.modules():
        if type(child).__name__ in units:
            handles += [child.register_forward_pre_hook(enter), child.register_forward_hook(leave)]
    try:
        with mock.patch.object(torch.nn.functional, "scaled_dot_product_attention", _fused_attention), \
                torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            forward(module)
    finally:
        for handle in handles:
            handle.remove()
    return _Tally(sum(seen.values()), max((sum(v.values()) for v in per_unit.values()), default=0))


class _FusedAttention(torch.autograd.Function):
    """What flash/memory-efficient attention keeps for backward: q, k, v, the output and a log-sum-exp row."""

    @staticmethod
    def forward(ctx: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        out = query.new_empty(*query.shape[:-1], value.shape[-1])
        lse = query.new_empty(query.shape[:-1], dtype=torch.float32)
        ctx.save_for_backward(query, key, value, out, lse)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:  # never run: only the forward counts
        query, key, value, _, _ = ctx.saved_tensors
        return torch.zeros_like(query), torch.zeros_like(key), torch.zeros_like(value)


def _fused_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *args: Any,
                     **kwargs: Any) -> torch.Tensor:
    return _FusedAttention.apply(query, key, value)


# --- the plan --------------------------------------------------------------------------------------------
@dataclass
class MemoryPlan:
    """The predicted peak of one run (bytes per device), its parts, and the settings it was made for."""

    device: str
    weights: int
    lora: int
    activations: int
    vae_encode: int
    runtime: int
    details: dict[str, Any]

    @property
    def peak(self) -> int:
        return self.weights + self.lora + max(self.activations, self.vae_encode) + self.runtime

    def lines(self) -> list[str]:
        d = self.details
        counts = ", ".join(f"{_part_name(p)} {n / 1e6:,.1f} M" for p, n in d["parameters"].items())
        optimizer = "8-bit AdamW" if d["optimizer"] == "adamw8bit" else "AdamW"
        saved = d["saved_per_image"]
        return [
            f"Memory plan for {d['source']} on {self.device}: {d['side']}x{d['side']} px (largest bucket), batch "
            f"{d['batch']}, {d['weight_dtype']} weights, gradient checkpointing {'on' if d['checkpointing'] else 'off'}, "
            f"LoRA rank {d['rank']} on {d['targets']}{' + text encoders' if d['text_encoder'] else ''}, {optimizer}",
            f"  weights      {_gib(self.weights):>8}  ({counts} parameters)",
            f"  LoRA         {_gib(self.lora):>8}  ({d['lora_parameters'] / 1e6:,.2f} M parameters: weights, "
            f"gradients, {optimizer} states)",
            f"  activations  {_gib(self.activations):>8}  ({_gib(saved)} saved per image x {d['batch']} x "
            f"{BACKWARD_FACTOR} for the backward pass)",
            f"  VAE encode   {_gib(self.vae_encode):>8}  (one image without gradients; the larger of this and the "
            "activations counts)",
            f"  runtime      {_gib(self.runtime):>8}  "
            + ("(Python and the libraries)" if self.device == "cpu" else
               f"({ALLOCATOR_HEADROOM:.0%} allocator headroom)"),
            f"  peak         {_gib(self.peak):>8}",
        ]


def _part_name(part: str) -> str:
    return {"unet": "UNet", "vae": "VAE", "text_encoder": "text encoder", "text_encoder_2": "text encoder 2"}[part]


def _gib(value: float) -> str:
    return f"{value / GIB:.2f} GiB"


def plan(config: TrainConfig, device: str, architecture: Architecture | None = None) -> MemoryPlan:
    """The memory plan of ``config`` on ``device`` (``cpu`` or ``cuda``), per process."""
    from tuitune.train.dataset import bucket_step
    from tuitune.train.hardware import weight_dtype

    arch = architecture or load_architecture(config)
    tc, lora = config.train, config.lora
    weights_dtype = weight_dtype(tc.mixed_precision, device)
    # CPU autocast computes in bf16 while the weights stay fp32; on CUDA the weights are the compute dtype.
    act_dtype = torch.bfloat16 if (device == "cpu" and tc.mixed_precision == "bf16") else weights_dtype
    lora_dtype = torch.float32 if tc.mixed_precision == "fp16" else weights_dtype
    side = config.data.resolution // bucket_step(config.data.resolution) * bucket_step(config.data.resolution)
    te_targets = lora.text_encoder_target_modules if lora.text_encoder else None
    targets = lora.unet_target_modules
    n_lora = arch.lora_parameters(targets, te_targets, lora.rank)
    lora_bytes = _bytes(lora_dtype)
    eight_bit = tc.optimizer == "adamw8bit" and device == "cuda"
    optimizer_bytes = 2 if eight_bit else 2 * lora_bytes
    saved = arch.saved_bytes(side, tc.grad_checkpointing, act_dtype, targets, te_targets, lora.rank)
    weights = sum(arch.parameters.values()) * _bytes(weights_dtype)
    lora_total = n_lora * (2 * lora_bytes + optimizer_bytes)
    activations = int(BACKWARD_FACTOR * tc.batch_size * saved)
    vae_encode = int(VAE_FACTOR * arch.parts["vae"]["block_out_channels"][0] * side * side * _bytes(weights_dtype))
    rest = weights + lora_total + max(activations, vae_encode)
    runtime = int(RUNTIME_CPU if device == "cpu" else ALLOCATOR_HEADROOM * rest)
    details = {"source": arch.source, "side": side, "batch": tc.batch_size, "weight_dtype": _dtype_name(weights_dtype),
               "checkpointing": tc.grad_checkpointing, "rank": lora.rank,
               "targets": lora.targets if isinstance(lora.targets, str) else ", ".join(lora.targets),
               "text_encoder": lora.text_encoder, "optimizer": "adamw8bit" if eight_bit else "adamw",
               "parameters": dict(arch.parameters), "lora_parameters": n_lora, "saved_per_image": saved}
    return MemoryPlan(device, weights, lora_total, activations, vae_encode, runtime, details)


def _bytes(dtype: Any) -> int:
    return torch.empty(0, dtype=dtype).element_size()


def _dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.").replace("float32", "fp32").replace("bfloat16", "bf16").replace(
        "float16", "fp16")


# --- fitting ---------------------------------------------------------------------------------------------
@dataclass
class Verdict:
    """A plan against the memory there is: whether it fits, and if not one sentence with what would."""

    plan: MemoryPlan
    free: int
    fits: bool
    sentence: str
    changes: list[str] = field(default_factory=list)


def check(config: TrainConfig, device: str, free: int, used: int = 0, architecture: Architecture | None = None,
          cpu_processes: int = 1) -> Verdict:
    """Compare ``config``'s plan with ``free`` bytes (what the device has left) plus ``used`` (what this process
    already holds of what the plan counts); when it does not fit, find the fewest changes that make it fit:
    gradient checkpointing, bf16, 8-bit AdamW (CUDA), no text-encoder LoRA, then a smaller batch with more
    accumulation (which keeps the effective batch)."""
    arch = architecture or load_architecture(config)
    mine = plan(config, device, arch)
    factor = cpu_processes if device == "cpu" else 1
    room = free + used
    where = "free RAM" if device == "cpu" else "free on the GPU"
    if mine.peak * factor <= room:
        return Verdict(mine, room, True, f"Predicted peak memory {_gib(mine.peak * factor)} fits the {_gib(room)} "
                                         f"{where}.")
    found = _fitting_changes(config, device, room, arch, factor)
    head = f"Predicted peak memory {_gib(mine.peak * factor)} does not fit the {_gib(room)} {where}"
    if found is None:
        return Verdict(mine, room, False, f"{head}, even with gradient checkpointing, bf16, 8-bit AdamW and batch 1; "
                                          "lower [data] resolution or train on a device with more memory.")
    changes, fitted = found
    return Verdict(mine, room, False, f"{head}; set {_join(changes)} (predicted {_gib(fitted.peak * factor)}).",
                   changes)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _fitting_changes(config: TrainConfig, device: str, room: int, arch: Architecture,
                     factor: int) -> tuple[list[str], MemoryPlan] | None:
    """The fewest of the options below that fit, in their order; a smaller batch only when none fits without."""
    tc, lora = config.train, config.lora
    options: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (words, [train] changes, [lora] changes)
    if not tc.grad_checkpointing:
        options.append(("grad_checkpointing = true", {"grad_checkpointing": True}, {}))
    if tc.mixed_precision == "no":
        options.append(('mixed_precision = "bf16"', {"mixed_precision": "bf16"}, {}))
    if device == "cuda" and tc.optimizer != "adamw8bit":
        options.append(('optimizer = "adamw8bit"', {"optimizer": "adamw8bit"}, {}))
    if lora.text_encoder:
        options.append(("[lora] text_encoder = false", {}, {"text_encoder": False}))
    batches = [tc.batch_size] + [b for b in (tc.batch_size // 2**k for k in range(1, 12)) if b >= 1]
    for with_smaller_batch in (False, True):
        for size in range(len(options) + 1):
            for chosen in itertools.combinations(options, size):
                train_changes = {k: v for _, t, _ in chosen for k, v in t.items()}
                lora_changes = {k: v for _, _, c in chosen for k, v in c.items()}
                for batch in sorted(set(batches[1:]), reverse=True) if with_smaller_batch else [tc.batch_size]:
                    changed = config.model_copy(update={
                        "train": tc.model_copy(update={**train_changes, "batch_size": batch}),
                        "lora": lora.model_copy(update=lora_changes)})
                    fitted = plan(changed, device, arch)
                    if fitted.peak * factor > room:
                        continue
                    words = [w for w, _, _ in chosen]
                    if batch != tc.batch_size:
                        words.append(f"batch_size = {batch} with grad_accum = "
                                     f"{tc.grad_accum * -(-tc.batch_size // batch)}")
                    if words:
                        return _sections(words), fitted
    return None


def _sections(words: list[str]) -> list[str]:
    """Name the [train] table once, after its keys; other tables' changes carry their own name."""
    train = [w for w in words if not w.startswith("[")]
    other = [w for w in words if w.startswith("[")]
    if train:
        train[-1] += " under [train]"
    return train + other


def device_free(device: str) -> tuple[int, int]:
    """(bytes free for this run, bytes this process already holds) on ``device``: CUDA's free memory, or the
    machine's available RAM and this process's resident memory (already part of what the plan counts)."""
    if device == "cuda":
        free, _ = torch.cuda.mem_get_info()
        return int(free), int(torch.cuda.memory_allocated())
    import psutil

    return int(psutil.virtual_memory().available), int(psutil.Process().memory_info().rss)


def check_at_start(config: TrainConfig, device: str, processes: int = 1) -> Verdict:
    """The plan of ``config`` against what ``device`` has free now (before the model loads); ``processes`` on
    one CPU share its RAM."""
    free, used = device_free(device)
    return check(config, device, free, used, cpu_processes=processes)
