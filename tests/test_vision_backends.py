"""Each real vision backend, on a tiny randomly initialised model built here: coordinates, masks, batching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuitune.cli import UserError
from tuitune.vision.protocols import Detector, Embedder, Segmenter
from tuitune.vision.registry import load_detector, load_embedder, load_segmenter
from tuitune.vision.weights import MissingWeights

torch = pytest.importorskip("torch")


def _tiny_owlv2(folder: Path) -> None:
    from transformers import (
        CLIPTokenizer,
        Owlv2Config,
        Owlv2ForObjectDetection,
        Owlv2ImageProcessor,
        Owlv2Processor,
    )

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab: dict[str, int] = {}
    for ch in letters:
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    # As in CLIP's vocabulary the special tokens come last: OWL treats token id 0 first as padding.
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    config = Owlv2Config(
        text_config={"vocab_size": len(vocab), "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 16,
                     "bos_token_id": len(vocab) - 2, "eos_token_id": len(vocab) - 1, "pad_token_id": len(vocab) - 1},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    model = Owlv2ForObjectDetection(config)
    # A silent box head leaves OWLv2's built-in prior: one box per patch, centred on the patch's far corner,
    # one patch in size. That makes the expected boxes known exactly.
    with torch.no_grad():
        model.box_head.dense2.weight.zero_()
        model.box_head.dense2.bias.zero_()
    model.save_pretrained(folder)
    processor = Owlv2Processor(
        image_processor=Owlv2ImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    processor.save_pretrained(folder)


@pytest.mark.slow
def test_owlv2_boxes_lie_in_the_picture_frame_and_batches_match_singles(tmp_path: Path) -> None:
    folder = tmp_path / "owl"
    _tiny_owlv2(folder)
    detector = load_detector("owlv2", folder=folder, threshold=0.0, batch_size=2)
    assert isinstance(detector, Detector)
    wide = Image.new("RGB", (96, 48), (200, 30, 30))
    tall = Image.new("RGB", (40, 80), (30, 30, 200))
    batch = detector.detect_batch([wide, tall, wide], "cat")
    assert len(batch) == 3
    for image, found in zip([wide, tall, wide], batch, strict=True):
        assert found, "threshold 0 keeps every box that overlaps the picture"
        for det in found:
            x0, y0, x1, y1 = det.box
            assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
            assert det.label == "cat"
        assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    # 96x48 is padded to 96x96; the 4x4 patch prior gives boxes centred at 24, 48, 72, 96 px, 24 px wide.
    expected = set()
    for cy in (24, 48, 72, 96):
        for cx in (24, 48, 72, 96):
            x0, x1, y0, y1 = max(0, cx - 12), min(96, cx + 12), max(0, cy - 12), min(48, cy + 12)
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                expected.add((x0, y0, x1, y1))
    assert {tuple(round(v) for v in d.box) for d in batch[0]} == expected
    single = detector.detect(tall, "cat")
    assert [d.box for d in single] == pytest.approx([d.box for d in batch[1]], abs=1e-3)


def _tiny_sam_checkpoint(path: Path) -> object:
    from functools import partial

    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(0)
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=64, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=(1,), window_size=4, out_chans=32,
        ),
        prompt_encoder=PromptEncoder(embed_dim=32, image_embedding_size=(8, 8), input_image_size=(64, 64),
                                     mask_in_chans=4),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=1, embedding_dim=32, mlp_dim=64, num_heads=8),
            transformer_dim=32, iou_head_depth=2, iou_head_hidden_dim=16,
        ),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375],
    ).eval()
    torch.save(sam.state_dict(), path)
    return sam


@pytest.mark.slow
def test_sam_checkpoint_loads_by_shape_and_masks_stay_in_their_box(tmp_path: Path) -> None:
    from tuitune.vision.sam import infer_architecture

    ckpt = tmp_path / "tiny_sam.pth"
    original = _tiny_sam_checkpoint(ckpt)
    arch = infer_architecture(torch.load(ckpt, weights_only=True))
    assert (arch.image_size, arch.embed_dim, arch.depth, arch.num_heads) == (64, 32, 2, 2)
    assert (arch.window_size, arch.global_attn_indexes, arch.decoder_depth) == (4, (1,), 1)
    segmenter = load_segmenter("sam", checkpoint=ckpt)
    assert isinstance(segmenter, Segmenter)
    loaded = segmenter.predictor.model
    for name, tensor in original.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 120, 3), dtype=np.uint8))
    boxes = [(10.0, 5.0, 60.0, 40.0), (70.0, 0.0, 120.0, 50.0)]
    masks = segmenter.segment_many(image, boxes)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes, strict=True):
        assert mask.shape == (50, 120) and mask.dtype == bool
        outside = mask.copy()
        outside[int(y0) : int(y1), int(x0) : int(x1)] = False
        assert not outside.any()


def test_sam_missing_checkpoint_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(MissingWeights, match=r"tuitune models get sam-vit-b"):
        load_segmenter("sam", checkpoint=tmp_path / "nope.pth")


def test_unknown_backend_name_lists_choices() -> None:
    with pytest.raises(UserError, match="owlv2"):
        load_detector("yolo")


@pytest.mark.slow
def test_open_clip_tiny_model_from_local_folder(tmp_path: Path) -> None:
    import open_clip
    from safetensors.torch import save_file

    model_cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
    }
    folder = tmp_path / "clip"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}))
    torch.manual_seed(0)
    model = open_clip.create_model(f"local-dir:{folder}", load_weights=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "open_clip_model.safetensors")

    embedder = load_embedder("open_clip", weights=folder, batch_size=2)
    assert isinstance(embedder, Embedder)
    red = Image.new("RGB", (50, 30), (220, 20, 20))
    blue = Image.new("RGB", (30, 50), (20, 20, 220))
    rows = embedder.embed_images([red, blue, red])
    assert rows.shape == (3, 16) and rows.dtype == np.float32
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert np.allclose(rows[0], rows[2], atol=1e-5) and not np.allclose(rows[0], rows[1], atol=1e-3)
    assert np.allclose(embedder.embed_image(blue), rows[1], atol=1e-5)
    text = embedder.embed_text("a red square")
    assert text.shape == (16,) and abs(np.linalg.norm(text) - 1) < 1e-5


def test_u2netp_bundled_weights_find_a_subject_on_a_plain_background() -> None:
    segmenter = load_segmenter("u2netp")
    image = Image.new("RGB", (160, 120), (235, 235, 235))
    yy, xx = np.mgrid[:120, :160]
    disc = (xx - 80) ** 2 + (yy - 60) ** 2 < 35**2
    arr = np.asarray(image).copy()
    arr[disc] = (200, 40, 40)
    image = Image.fromarray(arr)
    full = segmenter.segment(image, (0, 0, 160, 120))
    assert full.shape == (120, 160)
    iou = (full & disc).sum() / (full | disc).sum()
    assert iou > 0.7
    left = segmenter.segment(image, (0, 0, 80, 120))
    assert not left[:, 80:].any() and left[:, :80].sum() > 0.3 * disc[:, :80].sum()
