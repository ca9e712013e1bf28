"""Find each concept of the spec in every image: detect -> segment -> filter by reference similarity -> masks.

Run it as a job: ``iter_detect`` yields progress after each image; ``detect_concepts`` takes a callback.
Every instance is kept with its box, score, similarity and accepted flag, and its own mask under
``cache/instances/``, so the user can flip a decision later (``set_decision``) without detecting again.
A decision the user made is marked (``"decided": "user"``) and survives detecting again: it goes to the new
instance whose box overlaps it most (IoU at least ``MATCH_IOU``), and one detection no longer finds is kept as
it was, its mask file with it; each image's progress says how many decisions were kept. A mask the user
imported (``"source": "imported"``) is not detected over.
Stems and paths read from dataset.json and masks.json are checked (``tuitune.paths``) before any file is read
or written, so a crafted entry stops the run with a sentence instead of reaching outside the dataset folder.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from tuitune import atomic
from tuitune.data.dataset import MASKS_FILE, Dataset, DatasetItem, MasksIndex, concept_filename
from tuitune.data.importer import IMPORTED
from tuitune.data.loss_plan import is_background
from tuitune.intent.spec import Concept, Granularity, IntentSpec
from tuitune.paths import inside, safe_stem
from tuitune.vision.protocols import Detector, Embedder, Segmenter, cosine, crop

USER = "user"  # an instance's "decided": the user accepted or rejected it, and detection keeps that
MATCH_IOU = 0.5  # a box found again counts as the same instance from this overlap on


class ReferenceRegion(Protocol):
    number: int
    image: str
    box: tuple[float, float, float, float]


@dataclass
class VisionBackends:
    detector: Detector
    segmenter: Segmenter
    embedder: Embedder | None = None

    @classmethod
    def load(
        cls, detector: str, segmenter: str, embedder: str | None = None, options: dict[str, dict[str, Any]] | None = None
    ) -> VisionBackends:
        """Backends by registry name (or a weights path), with per-backend options; call it in the worker."""
        from tuitune.vision import registry

        options = options or {}
        return cls(
            detector=registry.load_detector(detector, **options.get("detector", {})),
            segmenter=registry.load_segmenter(segmenter, **options.get("segmenter", {})),
            embedder=registry.load_embedder(embedder, **options.get("embedder", {})) if embedder else None,
        )


@dataclass
class DetectSettings:
    similarity_threshold: float = 0.8  # accept an instance whose best reference similarity reaches this
    min_score: float = 0.0  # drop detections below this detector score
    max_instances: int = 20  # per image and concept, best first


@dataclass
class DetectProgress:
    done: int
    total: int
    stem: str
    found: dict[str, int] = field(default_factory=dict)  # concept -> accepted instances in this image
    decisions_kept: int = 0  # the user's decisions (and imported masks) in this image that detecting again kept


def iter_detect(
    dataset_dir: str | Path,
    spec: IntentSpec,
    backends: VisionBackends,
    regions: Sequence[ReferenceRegion] = (),
    settings: DetectSettings | None = None,
    concepts: Sequence[str] | None = None,
    delegate: bool = False,
) -> Iterator[DetectProgress]:
    """Detect ``concepts`` (default all of the spec) image by image; masks.json (and the project database,
    when the folder is a project) is written when the loop ends, also when it is stopped early.
    ``delegate``: running as a job the project's writer started (see ``project_link.record_masks``)."""
    settings = settings or DetectSettings()
    dataset = Dataset(Path(dataset_dir))
    items = [i for i in dataset.items() if i.derived_from is None]
    pictures = dataset.pictures(items)  # every item checked before anything is written
    chosen = [c for c in spec.concepts if concepts is None or c.key in {n.casefold() for n in concepts}]
    refs = _reference_vectors(chosen, regions, backends.embedder)
    before = dataset.masks_index()  # the user's decisions so far, carried onto what this run finds
    detected: dict[str, dict[str, Any]] = {}
    try:
        for n, item in enumerate(items, start=1):
            image = Image.open(pictures[item.stem]).convert("RGB")
            earlier = before.get(item.stem, {})
            entries, kept = _detect_image(dataset, item, image, chosen, backends, refs, settings,
                                          earlier if isinstance(earlier, dict) else {})
            detected.setdefault(item.stem, {}).update(entries)
            yield DetectProgress(n, len(items), item.stem, {k: _accepted(v) for k, v in entries.items()}, kept)
    finally:
        # Merged into masks.json as it is at this moment, under its lock: decisions made meanwhile (the app,
        # `tuitune dataset decide`) are kept too, also on instances this run detected again.
        index = dataset.update_masks_index(lambda current: _merge_detected(dataset, before, current, detected))
        from tuitune.data import project_link

        project_link.record_masks(dataset.root, dataset.items(), index, delegate=delegate)


def detect_concepts(
    dataset_dir: str | Path,
    spec: IntentSpec,
    backends: VisionBackends,
    regions: Sequence[ReferenceRegion] = (),
    settings: DetectSettings | None = None,
    progress: Callable[[DetectProgress], None] | None = None,
) -> dict[str, dict[str, Any]]:
    for event in iter_detect(dataset_dir, spec, backends, regions, settings):
        if progress is not None:
            progress(event)
    return Dataset(Path(dataset_dir)).masks_index()


def _detect_image(
    dataset: Dataset,
    item: DatasetItem,
    image: Image.Image,
    concepts: list[Concept],
    backends: VisionBackends,
    refs: dict[str, list[np.ndarray]],
    settings: DetectSettings,
    earlier: dict[str, Any],
) -> tuple[dict[str, dict[str, Any]], int]:
    """This image's entries, with the user's decisions among ``earlier`` (its masks.json entries) carried
    over, and how many were kept."""
    shape = (image.height, image.width)
    found: dict[str, list[tuple[dict[str, Any], np.ndarray | None]]] = {}
    leftovers: list[Concept] = []
    imported = {concept_filename(name): entry for name, entry in earlier.items()
                if isinstance(entry, dict) and entry.get("source") == IMPORTED}
    kept = 0
    for concept in concepts:
        if concept_filename(concept.name) in imported:
            kept += 1  # the user's own mask: left as it is
            continue
        detections = [d for d in backends.detector.detect(image, concept.name) if d.score >= settings.min_score]
        if not detections and is_background(concept):
            leftovers.append(concept)
            continue
        if not detections and concept.granularity is Granularity.IMAGERY:
            whole = np.ones(shape, dtype=bool)
            found[concept.name] = [({"box": [0, 0, image.width, image.height], "score": 1.0, "similarity": None,
                                     "accepted": True, "source": "whole image"}, whole)]
        else:
            rows: list[tuple[dict[str, Any], np.ndarray | None]] = []
            masks = _segment_all(backends.segmenter, image, [d.box for d in detections[: settings.max_instances]])
            for det, mask in zip(detections, masks, strict=False):
                similarity = _similarity(backends.embedder, image, det.box, mask, refs.get(concept.key, []))
                accepted = similarity is None or similarity >= settings.similarity_threshold
                rows.append(({"box": [round(float(v), 2) for v in det.box], "score": round(float(det.score), 4),
                              "similarity": None if similarity is None else round(similarity, 4),
                              "accepted": bool(accepted and mask.any())}, mask))
            found[concept.name] = rows
        kept += _carry_rows(found[concept.name], _instances(earlier.get(concept.name)))
    for concept in leftovers:
        # "The background" is what no other concept covers (as the user decided it).
        covered = np.zeros(shape, dtype=bool)
        for rows in found.values():
            for info, mask in rows:
                if info["accepted"]:
                    covered |= mask if mask is not None else _instance_array(dataset, info, shape)
        for entry in imported.values():
            covered |= _mask_array(dataset, entry.get("path"), shape)
        found[concept.name] = [({"box": [0, 0, image.width, image.height], "score": 1.0, "similarity": None,
                                 "accepted": True, "source": "not covered by other concepts"}, ~covered)]
        kept += _carry_rows(found[concept.name], _instances(earlier.get(concept.name)))
    entries: dict[str, dict[str, Any]] = {}
    for name, rows in found.items():
        # Files of earlier instances stay as they are: a decided one kept without a match still needs its own.
        taken = {str(inst.get("mask")) for inst in _instances(earlier.get(name))}
        instances, number = [], 0
        for info, mask in rows:
            if mask is None:
                instances.append(info)
                continue
            path = _instance_path(dataset, item.stem, name, number)
            while path.relative_to(dataset.root).as_posix() in taken:
                number += 1
                path = _instance_path(dataset, item.stem, name, number)
            number += 1
            _write_mask(path, mask)
            instances.append({**info, "mask": path.relative_to(dataset.root).as_posix()})
        entries[name] = {"path": _render(dataset, item.stem, name, instances, shape), "instances": instances}
    return entries, kept


def _instances(entry: object) -> list[dict[str, Any]]:
    instances = entry.get("instances") if isinstance(entry, dict) else None
    return [i for i in instances if isinstance(i, dict)] if isinstance(instances, list) else []


def _carry_rows(rows: list[tuple[dict[str, Any], np.ndarray | None]], earlier: list[dict[str, Any]]) -> int:
    """``rows`` (new instances) with the decisions the user made on ``earlier`` ones; see ``carry_decisions``."""
    carried, kept = carry_decisions(earlier, [info for info, _mask in rows])
    masks = [mask for _info, mask in rows]
    rows[:] = [(info, masks[i] if i < len(masks) else None) for i, info in enumerate(carried)]
    return kept


def carry_decisions(earlier: list[dict[str, Any]], found: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The instances ``found`` by detecting again, with the user's decisions among ``earlier`` kept.

    Each decided instance goes to the found one whose box overlaps it most (IoU >= MATCH_IOU, one to one, the
    best overlaps first), which takes its accepted flag; a decided instance matching none is appended as it
    was. Returns the instances and how many decisions were kept.
    """
    decided = [inst for inst in earlier if inst.get("decided") == USER]
    result = [dict(inst) for inst in found]
    if not decided:
        return result, 0
    pairs = sorted(((_iou(d.get("box"), f.get("box")), i, j) for i, d in enumerate(decided)
                    for j, f in enumerate(result)), key=lambda p: -p[0])
    matched_old: set[int] = set()
    matched_new: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < MATCH_IOU:
            break
        if i in matched_old or j in matched_new:
            continue
        matched_old.add(i)
        matched_new.add(j)
        result[j]["accepted"], result[j]["decided"] = bool(decided[i].get("accepted")), USER
    result += [dict(d) for i, d in enumerate(decided) if i not in matched_old]
    return result, len(decided)


def _iou(a: object, b: object) -> float:
    try:
        ax0, ay0, ax1, ay1 = (float(v) for v in a)  # type: ignore[union-attr]
        bx0, by0, bx1, by1 = (float(v) for v in b)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return 0.0
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


def _merge_detected(dataset: Dataset, before: MasksIndex, current: MasksIndex, detected: MasksIndex) -> MasksIndex:
    """``current`` with this run's entries in; decisions the user made after the run began (so not yet on
    this run's entries) are carried onto them the same way, and an imported mask is left as it is."""
    for stem, entries in detected.items():
        for concept, entry in entries.items():
            now = current.get(stem, {}).get(concept)
            if isinstance(now, dict) and now.get("source") == IMPORTED:
                continue
            carried, _kept = carry_decisions(_instances(now), entry["instances"])
            touched = now != before.get(stem, {}).get(concept)
            if touched or [_decision(i) for i in carried] != [_decision(i) for i in entry["instances"]]:
                # Decided during the run: that decision drew the mask file from the old entry, so it is drawn
                # again from this one, matching the decisions stored.
                entry["instances"] = carried
                entry["path"] = _render(dataset, stem, concept, carried, _shape(dataset, entry))
            current.setdefault(stem, {})[concept] = entry
    return current


def _decision(instance: dict[str, Any]) -> tuple[Any, ...]:
    return (_box_key(instance), bool(instance.get("accepted")), instance.get("decided"))


def _box_key(instance: dict[str, Any]) -> tuple[float, ...]:
    return tuple(round(float(v), 2) for v in instance.get("box") or ())


def _shape(dataset: Dataset, entry: dict[str, Any]) -> tuple[int, int]:
    with Image.open(_instance_mask(dataset, entry["instances"][0])) as im:
        return im.height, im.width


def _instance_mask(dataset: Dataset, instance: dict[str, Any]) -> Path:
    """An instance's mask file as masks.json names it, checked to be inside the dataset folder."""
    return inside(dataset.root, instance.get("mask"), f"{MASKS_FILE} instance mask")


def set_decision(dataset_dir: str | Path, stem: str, concept: str, instance: int, accepted: bool,
                 delegate: bool = False) -> Path:
    """Accept or reject one detected instance and rewrite the concept's mask from the accepted ones.

    ``delegate``: the caller holds the project's writer lock itself (the app), see ``record_masks``.
    """
    dataset = Dataset(Path(dataset_dir))

    def decide(index: MasksIndex) -> MasksIndex:
        try:
            entry = index[stem][concept]
            chosen = entry["instances"][instance]
            chosen["accepted"], chosen["decided"] = bool(accepted), USER  # detecting again keeps it
        except (KeyError, IndexError, TypeError):
            from tuitune.errors import UserError

            raise UserError(
                f"No instance {instance} of {concept!r} in {stem}; run `tuitune dataset detect` first."
            ) from None
        safe_stem(stem, f"{MASKS_FILE} stem")  # it names the mask folder written next
        # Rendered under the masks.json lock, so the mask file always matches the decisions stored.
        entry["path"] = _render(dataset, stem, concept, entry["instances"], _shape(dataset, entry))
        return index

    entry = dataset.update_masks_index(decide)[stem][concept]
    from tuitune.data import project_link

    project_link.record_masks(dataset.root, dataset.items(), {stem: {concept: entry}}, delegate=delegate)
    return dataset.root / entry["path"]


def load_mask(dataset: Dataset, stem: str, concept: str, shape: tuple[int, int] | None = None) -> np.ndarray | None:
    path = dataset.mask_path(stem, concept)
    if not path.exists():
        return None
    with Image.open(inside(dataset.root, path)) as im:
        mask = np.asarray(im.convert("L")) > 127
    if shape is not None and mask.shape != shape:
        mask = np.asarray(Image.fromarray(mask).resize((shape[1], shape[0]), Image.Resampling.NEAREST))
    return mask


def _render(dataset: Dataset, stem: str, concept: str, instances: list[dict[str, Any]], shape: tuple[int, int]) -> str:
    union = np.zeros(shape, dtype=bool)
    for inst in instances:
        if inst["accepted"]:
            union |= _instance_array(dataset, inst, shape)
    path = dataset.mask_path(stem, concept)
    _write_mask(path, union)
    return path.relative_to(dataset.root).as_posix()


def _instance_array(dataset: Dataset, instance: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
    return _mask_array(dataset, instance.get("mask"), shape, f"{MASKS_FILE} instance mask")


def _mask_array(dataset: Dataset, value: object, shape: tuple[int, int], where: str = f"{MASKS_FILE} mask path"
                ) -> np.ndarray:
    """A mask file masks.json names, as booleans at ``shape``; a file that is gone counts as empty."""
    path = inside(dataset.root, value, where)  # type: ignore[arg-type]
    try:
        with Image.open(path) as im:
            mask = np.asarray(im.convert("L")) > 127
    except FileNotFoundError:
        return np.zeros(shape, dtype=bool)
    if mask.shape != shape:
        mask = np.asarray(Image.fromarray(mask).resize((shape[1], shape[0]), Image.Resampling.NEAREST))
    return mask


def _segment_all(segmenter: Segmenter, image: Image.Image, boxes: list[Any]) -> list[np.ndarray]:
    many = getattr(segmenter, "segment_many", None)
    masks = many(image, boxes) if many is not None else [segmenter.segment(image, b) for b in boxes]
    return [np.asarray(m, dtype=bool) for m in masks]


def _similarity(
    embedder: Embedder | None, image: Image.Image, box: Any, mask: np.ndarray, refs: list[np.ndarray]
) -> float | None:
    if embedder is None or not refs:
        return None
    vec = embedder.embed_image(_masked_crop(image, box, mask))
    return max(cosine(vec, ref) for ref in refs)


def _masked_crop(image: Image.Image, box: Any, mask: np.ndarray) -> Image.Image:
    """The instance alone: pixels outside its mask are greyed so the background does not vote."""
    if mask.any():
        arr = np.asarray(image).copy()
        arr[~mask] = 128
        image = Image.fromarray(arr)
    return crop(image, box)


def _reference_vectors(
    concepts: list[Concept], regions: Sequence[ReferenceRegion], embedder: Embedder | None
) -> dict[str, list[np.ndarray]]:
    if embedder is None or not regions:
        return {}
    by_number = {r.number: r for r in regions}
    out: dict[str, list[np.ndarray]] = {}
    for concept in concepts:
        vectors = []
        for number in concept.references:
            region = by_number.get(number)
            if region is None:
                continue
            try:
                with Image.open(region.image) as im:
                    vectors.append(embedder.embed_image(crop(im.convert("RGB"), region.box)))
            except (FileNotFoundError, IsADirectoryError):
                from tuitune.errors import UserError

                raise UserError(
                    f"Reference image {region.image} (region [{number}]) is gone; put it back or drop the region."
                ) from None
        if vectors:
            out[concept.key] = vectors
    return out


def _accepted(entry: dict[str, Any]) -> int:
    return sum(1 for inst in entry["instances"] if inst["accepted"])


def _instance_path(dataset: Dataset, stem: str, concept: str, i: int) -> Path:
    path = dataset.root / "cache" / "instances" / safe_stem(stem, "The stem") / concept_filename(concept) / f"{i}.png"
    return inside(dataset.root, path, follow_links=False)


def _write_mask(path: Path, mask: np.ndarray) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L").save(buf, "PNG")
    atomic.write_bytes(path, buf.getvalue())
