"""The intent metrics, defined once: keep fidelity, modify flexibility, delete absence, drift, intent score.

Each metric is a function of evaluation samples (base and LoRA image of one prompt and seed), the spec and
the configured vision backends. A metric that cannot be computed returns ``value=None`` with the reason;
it is never reported as 0, and the other metrics are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from tuitune.evaluate.crops import context_crop
from tuitune.evaluate.prompts import EvalPrompt, PromptKind, detection_query
from tuitune.intent.spec import Concept, Granularity, IntentSpec, Operation
from tuitune.vision.protocols import Box, Detector, Embedder, Segmenter, cosine

# A mean absolute change of a quarter of the pixel range counts as "nothing preserved" in the intent score.
DRIFT_FULL_SCALE = 0.25


@dataclass
class Sample:
    """One prompt and seed drawn twice: by the base model and with the LoRA."""

    prompt: EvalPrompt
    base: Image.Image
    lora: Image.Image


@dataclass
class Backends:
    """The vision backends that are configured; ``missing`` says why an absent one is absent."""

    detector: Detector | None = None
    segmenter: Segmenter | None = None
    embedder: Embedder | None = None
    detect_threshold: float = 0.25
    missing: dict[str, str] = field(default_factory=dict)

    def why_missing(self, name: str) -> str:
        return self.missing.get(name) or f"no {name} is configured"


@dataclass
class MetricResult:
    name: str
    value: float | None
    reason: str = ""  # why the value is n/a, or a note on how it was computed
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.value is not None

    def display(self) -> str:
        return f"{self.value:.3f}" if self.value is not None else f"n/a ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "reason": self.reason, "details": self.details}


def _na(name: str, reason: str, **details: Any) -> MetricResult:
    return MetricResult(name, None, reason, dict(details))


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def locate(image: Image.Image, concept: Concept, backends: Backends) -> Box | None:
    """The best box of ``concept`` in ``image`` above the detection threshold, or None."""
    assert backends.detector is not None
    for detection in backends.detector.detect(image, detection_query(concept)):
        if detection.score >= backends.detect_threshold:
            return detection.box
    return None


def _region(image: Image.Image, concept: Concept, backends: Backends) -> tuple[Image.Image | None, str]:
    """The part of ``image`` where ``concept`` is: a detected crop, or the whole image when that is the region."""
    if concept.granularity is Granularity.IMAGERY:
        return image, "whole image (imagery concept)"
    if backends.detector is None:
        return image, f"whole image ({backends.why_missing('detector')})"
    box = locate(image, concept, backends)
    if box is None:
        return None, "not detected"
    return context_crop(image, box), "detected crop"


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def keep_fidelity(
    samples: Sequence[Sample],
    spec: IntentSpec,
    backends: Backends,
    references: Mapping[str, Sequence[Image.Image]],
) -> MetricResult:
    """Cosine similarity of each keep concept in trigger samples to its reference regions (mean prototype).

    A sample where the concept is not found scores 0 for it. ``details`` has per-concept raw, base and lift
    (raw minus the base model's score on the same prompts and seeds).
    """
    name = "keep fidelity"
    keeps = spec.by_operation(Operation.KEEP)
    if not keeps:
        return _na(name, "the spec has no keep concepts")
    if backends.embedder is None:
        return _na(name, backends.why_missing("embedder"))
    trigger = [s for s in samples if s.prompt.kind is PromptKind.TRIGGER]
    if not trigger:
        return _na(name, "no trigger-word samples to look at")
    per_concept: dict[str, dict[str, Any]] = {}
    for concept in keeps:
        refs = references.get(concept.name) or []
        if not refs:
            per_concept[concept.name] = {"value": None, "reason": f"no reference regions for {concept.name!r}"}
            continue
        prototype = _unit(np.mean([backends.embedder.embed_image(r) for r in refs], axis=0))
        scores: dict[str, list[float]] = {"lora": [], "base": []}
        missed = {"lora": 0, "base": 0}
        how = ""
        for sample in trigger:
            for which, image in (("lora", sample.lora), ("base", sample.base)):
                region, how_found = _region(image, concept, backends)
                if region is None:
                    missed[which] += 1
                    scores[which].append(0.0)
                    continue
                how = how_found
                scores[which].append(cosine(backends.embedder.embed_image(region), prototype))
        raw, base = float(np.mean(scores["lora"])), float(np.mean(scores["base"]))
        per_concept[concept.name] = {
            "value": raw, "base": base, "lift": raw - base, "missed": missed["lora"],
            "missed_base": missed["base"], "samples": len(trigger), "region": how or "not detected",
        }
    done = [c for c in per_concept.values() if c["value"] is not None]
    if not done:
        reasons = "; ".join(c["reason"] for c in per_concept.values())
        return _na(name, reasons, concepts=per_concept)
    value = float(np.mean([c["value"] for c in done]))
    lift = float(np.mean([c["lift"] for c in done]))
    return MetricResult(name, value, f"lift over base {lift:+.3f}", {"lift": lift, "concepts": per_concept})


def modify_flexibility(samples: Sequence[Sample], spec: IntentSpec, backends: Backends) -> MetricResult:
    """Share of alternative-prompt samples whose concept shows the requested value.

    The concept's region is classified zero-shot among the concept's alternatives and its current value
    ("blue hair" vs "green hair" vs "red hair") by embedding similarity; a hit is the requested one winning.
    """
    name = "modify flexibility"
    modifies = [c for c in spec.by_operation(Operation.MODIFY) if c.alternatives]
    if not modifies:
        return _na(name, "the spec has no modify concepts with alternatives")
    if backends.embedder is None:
        return _na(name, backends.why_missing("embedder"))
    per_concept: dict[str, dict[str, Any]] = {}
    hits_total = count_total = 0
    for concept in modifies:
        candidates = list(concept.alternatives)
        if concept.value and concept.value.casefold() not in {c.casefold() for c in candidates}:
            candidates.append(concept.value)
        if len(candidates) < 2:
            per_concept[concept.name] = {
                "value": None,
                "reason": f"{concept.name!r} needs its current value or a second alternative to tell values apart",
            }
            continue
        noun = detection_query(concept)
        text_vectors = [backends.embedder.embed_text(f"{c} {noun}") for c in candidates]
        asked = [s for s in samples if s.prompt.kind is PromptKind.ALTERNATIVE and s.prompt.concept == concept.name]
        hits = 0
        shown: dict[str, int] = {}
        for sample in asked:
            region, _ = _region(sample.lora, concept, backends)
            if region is None:
                continue  # the concept is missing, so it does not show the requested value
            vector = backends.embedder.embed_image(region)
            best = candidates[int(np.argmax([cosine(vector, t) for t in text_vectors]))]
            shown[best] = shown.get(best, 0) + 1
            hits += int(best.casefold() == (sample.prompt.alternative or "").casefold())
        if not asked:
            per_concept[concept.name] = {"value": None, "reason": f"no samples ask for {concept.name!r}"}
            continue
        per_concept[concept.name] = {"value": hits / len(asked), "hits": hits, "samples": len(asked), "shown": shown}
        hits_total += hits
        count_total += len(asked)
    if count_total == 0:
        reasons = "; ".join(c["reason"] for c in per_concept.values())
        return _na(name, reasons, concepts=per_concept)
    return MetricResult(name, hits_total / count_total, "", {"concepts": per_concept})


def delete_absence(samples: Sequence[Sample], spec: IntentSpec, backends: Backends) -> MetricResult:
    """Share of trigger and alternative samples in which a deleted concept is not detected (1.0 = never seen)."""
    name = "delete absence"
    deletes = spec.by_operation(Operation.DELETE)
    if not deletes:
        return _na(name, "the spec has no delete concepts")
    if backends.detector is None:
        return _na(name, backends.why_missing("detector"))
    looked = [s for s in samples if s.prompt.kind in (PromptKind.TRIGGER, PromptKind.ALTERNATIVE)]
    if not looked:
        return _na(name, "no trigger-word samples to look at")
    per_concept: dict[str, dict[str, Any]] = {}
    for concept in deletes:
        present = sum(locate(s.lora, concept, backends) is not None for s in looked)
        present_base = sum(locate(s.base, concept, backends) is not None for s in looked)
        per_concept[concept.name] = {
            "value": 1.0 - present / len(looked), "present": present, "present_base": present_base,
            "samples": len(looked),
        }
    value = float(np.mean([c["value"] for c in per_concept.values()]))
    return MetricResult(name, value, "", {"concepts": per_concept})


def focus_mask(image: Image.Image, concepts: Sequence[Concept], backends: Backends) -> np.ndarray:
    """Boolean HxW mask of where the given concepts are in ``image`` (segmented if a segmenter exists)."""
    mask = np.zeros((image.height, image.width), dtype=bool)
    for concept in concepts:
        box = locate(image, concept, backends)
        if box is None:
            continue
        if backends.segmenter is not None:
            mask |= np.asarray(backends.segmenter.segment(image, box), dtype=bool)
        else:
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
    return mask


def pixel_drift(base: Image.Image, lora: Image.Image, outside: np.ndarray | None = None) -> float | None:
    """Mean absolute RGB difference in [0, 1], over pixels where ``outside`` is True (all when None)."""
    if base.size != lora.size:
        raise ValueError(f"base and LoRA images differ in size ({base.size} vs {lora.size})")
    diff = np.abs(_rgb(base) - _rgb(lora)).mean(axis=2)
    if outside is None:
        return float(diff.mean())
    if not outside.any():
        return None
    return float(diff[outside].mean())


def focus_drift(samples: Sequence[Sample], spec: IntentSpec, backends: Backends) -> MetricResult:
    """Mean absolute pixel change from the base image outside the keep/modify regions, on trigger prompts.

    The focus region of a sample is the union of where keep and modify concepts (instances and attributes)
    are found in the base image and in the LoRA image; the rest must stay as the base model draws it.
    0 = unchanged, 1 = every channel flipped from black to white.
    """
    name = "drift outside focus"
    looked = [s for s in samples if s.prompt.kind in (PromptKind.TRIGGER, PromptKind.ALTERNATIVE)]
    if not looked:
        return _na(name, "no trigger-word samples to look at")
    focus = [
        c for c in spec.concepts
        if c.operation in (Operation.KEEP, Operation.MODIFY) and c.granularity is not Granularity.IMAGERY
    ]
    if focus and backends.detector is None:
        return _na(name, f"finding the focus regions needs a detector: {backends.why_missing('detector')}")
    values: list[float] = []
    covered = []
    for sample in looked:
        mask = focus_mask(sample.base, focus, backends) | focus_mask(sample.lora, focus, backends)
        covered.append(float(mask.mean()))
        drift = pixel_drift(sample.base, sample.lora, ~mask)
        if drift is not None:
            values.append(drift)
    if not values:
        return _na(name, "the focus regions cover every sample completely")
    note = "" if focus else "no keep/modify regions in the spec: whole image"
    return MetricResult(
        name, float(np.mean(values)), note, {"samples": len(values), "focus_share": float(np.mean(covered))}
    )


def neutral_drift(samples: Sequence[Sample]) -> MetricResult:
    """Mean absolute pixel change from the base image over the whole image, on prompts without the trigger."""
    name = "drift on neutral prompts"
    neutral = [s for s in samples if s.prompt.kind is PromptKind.NEUTRAL]
    if not neutral:
        return _na(name, "no neutral prompts were evaluated")
    values = [pixel_drift(s.base, s.lora) for s in neutral]
    return MetricResult(name, float(np.mean(values)), "", {"samples": len(values)})


# The parts of the intent score, and the metric each comes from.
SCORE_PARTS = ("keep fidelity", "modify flexibility", "delete absence", "preservation")
# n/a reasons that mean "the spec asks nothing of this part" (not applicable), not "could not be measured".
_NOT_ASKED = ("the spec has no keep concepts", "the spec has no modify concepts with alternatives",
              "the spec has no delete concepts")


def intent_score(parts: Sequence[MetricResult]) -> MetricResult:
    """Mean of the available parts mapped to [0, 1], higher is better, with the confidence it deserves.

    keep fidelity (cosine, clipped to [0, 1]), modify flexibility, delete absence, and preservation =
    1 - mean drift / DRIFT_FULL_SCALE (clipped), where mean drift averages the available drift metrics.
    A part the spec asks for that could not be measured is named in ``missing`` and lowers ``confidence``
    (measured parts / parts the spec asks for); a part the spec does not ask for (no delete concepts) is
    left out without lowering it.
    """
    by_name = {p.name: p for p in parts}
    components: dict[str, float] = {}
    left_out: dict[str, str] = {}
    missing: dict[str, str] = {}
    for key in ("keep fidelity", "modify flexibility", "delete absence"):
        part = by_name.get(key)
        if part is not None and part.value is not None:
            components[key] = min(1.0, max(0.0, part.value))
        elif part is not None:
            left_out[key] = part.reason
            if part.reason not in _NOT_ASKED:
                missing[key] = part.reason
    drifts = [by_name[k] for k in ("drift outside focus", "drift on neutral prompts") if k in by_name]
    drift_values = [d.value for d in drifts if d.value is not None]
    if drift_values:
        components["preservation"] = max(0.0, 1.0 - float(np.mean(drift_values)) / DRIFT_FULL_SCALE)
    else:
        left_out["preservation"] = missing["preservation"] = "; ".join(d.reason for d in drifts) or "no drift measured"
    if not components:
        return _na("intent score", "no part of the score could be computed", left_out=left_out, missing=missing)
    value = float(np.mean(list(components.values())))
    asked = len(components) + len(missing)
    confidence = len(components) / asked
    shown = ", ".join(f"{k} {v:.2f}" for k, v in components.items())
    if missing:
        shown += "; not measured: " + ", ".join(f"{k} ({why})" for k, why in missing.items())
        shown += f"; confidence {len(components)}/{asked}"
    return MetricResult("intent score", value, shown, {"parts": components, "left_out": left_out,
                                                        "missing": missing, "confidence": confidence})


def evaluate_samples(
    samples: Sequence[Sample],
    spec: IntentSpec,
    backends: Backends,
    references: Mapping[str, Sequence[Image.Image]] | None = None,
) -> list[MetricResult]:
    """All metrics; one that raises is reported n/a with the error so the others still count."""
    refs = references or {}
    metrics: list[tuple[str, Callable[[], MetricResult]]] = [
        ("keep fidelity", lambda: keep_fidelity(samples, spec, backends, refs)),
        ("modify flexibility", lambda: modify_flexibility(samples, spec, backends)),
        ("delete absence", lambda: delete_absence(samples, spec, backends)),
        ("drift outside focus", lambda: focus_drift(samples, spec, backends)),
        ("drift on neutral prompts", lambda: neutral_drift(samples)),
    ]
    results = []
    for name, compute in metrics:
        try:
            results.append(compute())
        except Exception as exc:  # a backend failure must not hide the other metrics
            results.append(_na(name, f"failed: {type(exc).__name__}: {exc}"))
    results.append(intent_score(results))
    return results
