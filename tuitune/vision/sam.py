"""Box -> mask with segment-anything from a checkpoint file; the architecture is read off the weights' shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tuitune.vision.protocols import Box
from tuitune.vision.weights import require


@dataclass(frozen=True)
class SamArchitecture:
    image_size: int
    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    window_size: int
    global_attn_indexes: tuple[int, ...]
    prompt_embed_dim: int
    decoder_depth: int
    decoder_mlp_dim: int
    decoder_heads: int = 8  # every released SAM uses 8; not visible in the weights
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    num_multimask_outputs: int = 3
    use_rel_pos: bool = True
    mlp_ratio: float = 4.0
    mask_in_chans: int = 16
    extra: dict[str, Any] = field(default_factory=dict)


def infer_architecture(state: dict[str, Any], decoder_heads: int = 8) -> SamArchitecture:
    """Every SAM size (vit_b/l/h, or a smaller one) from its state dict, so no model type has to be named."""
    patch = state["image_encoder.patch_embed.proj.weight"]
    embed_dim, patch_size = int(patch.shape[0]), int(patch.shape[-1])
    grid = int(state["image_encoder.pos_embed"].shape[1])
    blocks = sorted({int(k.split(".")[2]) for k in state if k.startswith("image_encoder.blocks.")})
    use_rel_pos = "image_encoder.blocks.0.attn.rel_pos_h" in state
    global_idx: list[int] = []
    window = 0
    num_heads = max(1, embed_dim // 64)
    if use_rel_pos:
        head_dim = int(state["image_encoder.blocks.0.attn.rel_pos_h"].shape[1])
        num_heads = embed_dim // head_dim
        for b in blocks:
            span = int(state[f"image_encoder.blocks.{b}.attn.rel_pos_h"].shape[0])
            if span == 2 * grid - 1:
                global_idx.append(b)
            else:
                window = (span + 1) // 2
    prompt_dim = int(state["prompt_encoder.point_embeddings.0.weight"].shape[1])
    dec_layers = {int(k.split(".")[3]) for k in state if k.startswith("mask_decoder.transformer.layers.")}
    iou_layers = {int(k.split(".")[3]) for k in state if k.startswith("mask_decoder.iou_prediction_head.layers.")}
    return SamArchitecture(
        image_size=grid * patch_size,
        patch_size=patch_size,
        embed_dim=embed_dim,
        depth=len(blocks),
        num_heads=num_heads,
        window_size=window,
        global_attn_indexes=tuple(global_idx),
        prompt_embed_dim=prompt_dim,
        decoder_depth=len(dec_layers),
        decoder_mlp_dim=int(state["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0]),
        decoder_heads=decoder_heads,
        iou_head_depth=len(iou_layers),
        iou_head_hidden_dim=int(state["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0]),
        num_multimask_outputs=int(state["mask_decoder.mask_tokens.weight"].shape[0]) - 1,
        use_rel_pos=use_rel_pos,
        mlp_ratio=int(state["image_encoder.blocks.0.mlp.lin1.weight"].shape[0]) / embed_dim,
        mask_in_chans=int(state["prompt_encoder.mask_downscaling.3.weight"].shape[0]),
    )


def build(arch: SamArchitecture) -> Any:
    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    emb = arch.image_size // arch.patch_size
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=arch.image_size, patch_size=arch.patch_size, embed_dim=arch.embed_dim, depth=arch.depth,
            num_heads=arch.num_heads, mlp_ratio=arch.mlp_ratio, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            qkv_bias=True, use_rel_pos=arch.use_rel_pos, global_attn_indexes=arch.global_attn_indexes,
            window_size=arch.window_size, out_chans=arch.prompt_embed_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=arch.prompt_embed_dim, image_embedding_size=(emb, emb),
            input_image_size=(arch.image_size, arch.image_size), mask_in_chans=arch.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=arch.num_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=arch.decoder_depth, embedding_dim=arch.prompt_embed_dim,
                mlp_dim=arch.decoder_mlp_dim, num_heads=arch.decoder_heads,
            ),
            transformer_dim=arch.prompt_embed_dim,
            iou_head_depth=arch.iou_head_depth,
            iou_head_hidden_dim=arch.iou_head_hidden_dim,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )


def load_sam(checkpoint: str | Path | None = None, *, device: str = "cpu", decoder_heads: int = 8) -> Any:
    import torch

    path = require(checkpoint, "sam-vit-b")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    model = build(infer_architecture(state, decoder_heads))
    model.load_state_dict(state)
    return model.to(device).eval()


def box_mask(shape: tuple[int, ...], box: Box) -> np.ndarray:
    h, w = shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    out = np.zeros((h, w), dtype=bool)
    out[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)] = True
    return out


class SamSegmenter:
    """The image embedding is computed once per picture and reused for every box in it."""

    def __init__(self, checkpoint: str | Path | None = None, *, device: str = "cpu", decoder_heads: int = 8) -> None:
        from segment_anything import SamPredictor

        self.predictor = SamPredictor(load_sam(checkpoint, device=device, decoder_heads=decoder_heads))
        self._current: int | None = None

    def segment(self, image: Image.Image, box: Box) -> np.ndarray:
        return self.segment_many(image, [box])[0]

    def segment_many(self, image: Image.Image, boxes: list[Box]) -> list[np.ndarray]:
        import torch

        rgb = image.convert("RGB")
        key = hash((id(image), rgb.size, rgb.tobytes()[:4096]))
        if key != self._current:
            self.predictor.set_image(np.asarray(rgb))
            self._current = key
        masks: list[np.ndarray] = []
        with torch.inference_mode():
            for box in boxes:
                found, scores, _ = self.predictor.predict(box=np.asarray(box, dtype=np.float32), multimask_output=True)
                mask = found[int(np.argmax(scores))].astype(bool)
                # A box prompt names one object inside the box; spill outside it is the model's noise.
                masks.append(mask & box_mask(mask.shape, box))
        return masks
