"""Turn record indices into a training batch: cached latents and text embeddings, W/P maps, seeded noise."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from tuitune.train.base_model import BaseModel, PromptEmbeds
from tuitune.train.cache import TensorCache, file_digest, module_fingerprint
from tuitune.train.config import TrainConfig
from tuitune.train.dataset import ImageRecord, choose_bucket, crop_corner, resize_crop
from tuitune.train.loss import latent_maps, load_mask, needs_weight_map, pixel_maps

log = logging.getLogger(__name__)


def micro_generator(seed: int, micro: int) -> torch.Generator:
    """The random source of one micro-batch; a pure function of (seed, number) so resume is exact."""
    return torch.Generator().manual_seed(seed * 1_000_003 + micro)


# Tag dropout draws from a stream of its own, so noise and timesteps are the same with it on or off.
TAG_STREAM = 0x7A67


def tag_generator(seed: int, micro: int) -> np.random.Generator:
    """The random source of one micro-batch's tag dropout; a pure function of (seed, number) so resume is exact."""
    return np.random.default_rng([seed & 0xFFFF_FFFF_FFFF_FFFF, micro, TAG_STREAM])


def drop_tags(caption: str, keep_tokens: int, p: float, rng: np.random.Generator) -> str:
    """The caption with each comma-separated tag after the first ``keep_tokens`` left out with probability ``p``.

    The first tags (the trigger words) always stay, so some steps pair the trigger with less and less of the
    description and the trigger alone comes to draw the subject. ``p`` 0 returns the caption untouched.
    """
    if p <= 0:
        return caption
    tags = [t.strip() for t in caption.split(",")]
    kept = tags[:keep_tokens] + [t for t in tags[keep_tokens:] if rng.random() >= p]
    return ", ".join(t for t in kept if t)


def image_tensor(record: ImageRecord, bucket: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """The image resized and centre-cropped to its bucket, as (3, H, W) in [-1, 1], and the crop corner."""
    with Image.open(record.path) as img:
        rgb = img.convert("RGB")
    rgb, crop_tl = resize_crop(rgb, bucket)
    array = np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous(), crop_tl


@dataclass
class Batch:
    latents: torch.Tensor
    embeds: PromptEmbeds | None  # None when the text encoder trains: encode ``captions`` live
    captions: list[str]
    time_ids: torch.Tensor | None
    weight: torch.Tensor | None
    preserve: torch.Tensor | None
    noise: torch.Tensor
    timesteps: torch.Tensor


class BatchMaker:
    """Builds batches for the loop; latents and embeddings come from a content-hash cache."""

    def __init__(self, config: TrainConfig, base: BaseModel, records: list[ImageRecord], device: torch.device,
                 dtype: torch.dtype, cache_text: bool) -> None:
        self.config, self.base, self.records = config, base, records
        self.device, self.dtype, self.cache_text = device, dtype, cache_text
        self.buckets = [choose_bucket(r.size, config.data.resolution, config.data.buckets) for r in records]
        folder = config.cache_folder if config.train.cache_latents else None
        self.latent_cache = TensorCache(folder, "latents")
        self.text_cache = TensorCache(folder, "text")
        self.vae_id = module_fingerprint(base.vae)
        # diffusers' ``.dtype`` walks every parameter (ms per call): read it once, not once per image.
        self.vae_dtype = next(base.vae.parameters()).dtype
        self.text_id = "|".join(module_fingerprint(m) for m in base.text_encoders) + base.kind
        self._digests: dict[int, str] = {}
        self._maps: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.use_weight = needs_weight_map(config.loss, any(r.masks for r in records))
        self.use_preserve = config.loss.preservation > 0
        self.mask_warnings: list[str] = []
        self._record_captions: set[str] | None = None

    # --- cached pieces -----------------------------------------------------------------------------
    def _latent_key(self, index: int) -> str:
        if index not in self._digests:
            self._digests[index] = file_digest(self.records[index].path)
        return self.latent_cache.key(self._digests[index], f"{self.buckets[index]}", self.vae_id)

    def precache_latents(self, indices: list[int], report: Callable[[int, int], None] | None = None,
                         stop: Callable[[], bool] | None = None) -> tuple[int, int]:
        """Encode the latents of ``indices`` now, before the first step (kohya's "caching latents"), so the
        first epoch's steps take as long as the others and the wait before step 1 can show how far it is.

        ``report(done, total)`` after each picture; ``stop()`` true ends early (the rest are encoded when a
        batch needs them, as without this). Returns (encoded now, found in the cache). The latent is the
        posterior mean, so when it is encoded does not change the run.
        """
        encoded = found = 0
        for done, index in enumerate(indices, start=1):
            if stop is not None and stop():
                break
            misses = self.latent_cache.misses
            self.latent(index)
            if self.latent_cache.misses > misses:
                encoded += 1
            else:
                found += 1
            if report is not None:
                report(done, len(indices))
        return encoded, found

    def latent(self, index: int) -> torch.Tensor:
        record, bucket = self.records[index], self.buckets[index]
        key = self._latent_key(index)
        hit = self.latent_cache.get(key)
        if hit is not None:
            return hit["latent"]
        pixels, _ = image_tensor(record, bucket)
        vae = self.base.vae
        with torch.no_grad():
            dist = vae.encode(pixels[None].to(self.device, self.vae_dtype)).latent_dist
        # The posterior mean, not a sample: the cached and uncached paths then agree exactly.
        latent = (dist.mean * vae.config.scaling_factor)[0].float()
        self.latent_cache.put(key, {"latent": latent})
        return self.latent_cache.memory[key]["latent"]

    def text(self, caption: str, keep: bool = True) -> dict[str, torch.Tensor]:
        """The caption's embeddings; ``keep=False`` encodes without caching (a caption unlikely to come back)."""
        key = self.text_cache.key(caption, self.text_id)
        hit = self.text_cache.get(key)
        if hit is not None:
            return hit
        with torch.no_grad():
            embeds = self.base.encode_prompts([caption])
        value = {"hidden": embeds.hidden[0].float()}
        if embeds.pooled is not None:
            value["pooled"] = embeds.pooled[0].float()
        if not keep:
            return value
        self.text_cache.put(key, value)
        return self.text_cache.memory[key]

    def _cacheable(self, caption: str) -> bool:
        """Whether to keep a caption's embeddings: a record's own caption, the empty one, or the one a full tag
        dropout always makes. A partial dropout makes a new tag mix almost every step; caching each would grow
        memory (and the disk cache) without bound."""
        if not 0 < self.config.data.caption_tag_dropout < 1:
            return True
        if self._record_captions is None:
            self._record_captions = {r.caption for r in self.records} | {""}
        return caption in self._record_captions

    def maps(self, index: int, latent_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        if index not in self._maps:
            record, bucket = self.records[index], self.buckets[index]
            masks = {name: load_mask(path, record.size, self.mask_warnings) for name, path in record.masks.items()}
            w, p = pixel_maps(masks, self.config.loss, (record.size[1], record.size[0]))
            crop_tl = crop_corner(record.size, bucket)
            self._maps[index] = latent_maps(w, p, bucket, crop_tl, record.size, latent_hw)
        return self._maps[index]

    # --- one batch -----------------------------------------------------------------------------------
    def make(self, indices: list[int], seed: int, micro: int) -> Batch:
        gen = micro_generator(seed, micro)
        latents = torch.stack([self.latent(i) for i in indices])
        noise = torch.randn(latents.shape, generator=gen)
        if self.config.train.noise_offset > 0:
            noise = noise + self.config.train.noise_offset * torch.randn(
                (latents.shape[0], latents.shape[1], 1, 1), generator=gen)
        timesteps = torch.randint(0, self.base.noise_scheduler.config.num_train_timesteps, (latents.shape[0],),
                                  generator=gen)
        drop = torch.rand(len(indices), generator=gen)
        captions = ["" if float(d) < self.config.data.caption_dropout else self.records[i].caption
                    for i, d in zip(indices, drop, strict=True)]
        data = self.config.data
        if data.caption_tag_dropout > 0:
            tags = tag_generator(seed, micro)
            captions = [drop_tags(c, data.keep_tokens, data.caption_tag_dropout, tags) if c else c
                        for c in captions]
        embeds = None
        if self.cache_text:
            rows = [self.text(c, keep=self._cacheable(c)) for c in captions]
            embeds = PromptEmbeds(hidden=torch.stack([r["hidden"] for r in rows]).to(self.device),
                                  pooled=torch.stack([r["pooled"] for r in rows]).to(self.device)
                                  if "pooled" in rows[0] else None)
        time_ids = None
        if self.base.is_sdxl:
            rows = []
            for i in indices:
                bucket = self.buckets[i]
                top, left = crop_corner(self.records[i].size, bucket)
                w, h = self.records[i].size
                rows.append([h, w, top, left, bucket[1], bucket[0]])
            time_ids = torch.tensor(rows, dtype=torch.float32, device=self.device)
        latent_hw = (latents.shape[-2], latents.shape[-1])
        weight = preserve = None
        if self.use_weight or self.use_preserve:
            pairs = [self.maps(i, latent_hw) for i in indices]
            weight = torch.stack([w for w, _ in pairs]).to(self.device) if self.use_weight else None
            preserve = torch.stack([p for _, p in pairs]).to(self.device) if self.use_preserve else None
        return Batch(latents=latents.to(self.device), embeds=embeds, captions=captions, time_ids=time_ids,
                     weight=weight, preserve=preserve, noise=noise.to(self.device), timesteps=timesteps.to(self.device))
