"""Text -> boxes with a transformers zero-shot detector (OWLv2, OWL-ViT or Grounding DINO) from a local folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from tuitune.vision.protocols import Detection
from tuitune.vision.weights import require


class ZeroShotDetector:
    """One model, many images: ``detect_batch`` runs a batch in one forward pass."""

    def __init__(
        self,
        folder: str | Path | None = None,
        *,
        model: str = "owlv2-base",
        threshold: float = 0.1,
        text_threshold: float = 0.25,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 4,
    ) -> None:
        import torch
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        path = require(folder, model, folder=True)
        self.processor = AutoProcessor.from_pretrained(path)
        self.model = AutoModelForZeroShotObjectDetection.from_pretrained(path, dtype=getattr(torch, dtype))
        self.model.to(device).eval()
        self.device = device
        self.dtype = getattr(torch, dtype)
        self.threshold = threshold
        self.text_threshold = text_threshold
        self.batch_size = batch_size
        # OWL models pad the picture to a square before predicting, so their boxes are in the padded frame.
        self.pads_to_square = self.model.config.model_type in {"owlv2"}
        self.grounding = self.model.config.model_type in {"grounding-dino", "mm-grounding-dino"}

    def detect(self, image: Image.Image, text: str) -> list[Detection]:
        return self.detect_batch([image], text)[0]

    def detect_batch(self, images: Sequence[Image.Image], text: str) -> list[list[Detection]]:
        results: list[list[Detection]] = []
        for start in range(0, len(images), self.batch_size):
            results.extend(self._run([im.convert("RGB") for im in images[start : start + self.batch_size]], text))
        return results

    def _run(self, images: list[Image.Image], text: str) -> list[list[Detection]]:
        import torch

        if self.grounding:
            # Grounding DINO reads phrases ending in a period, lower case.
            prompt: object = [text.strip().lower().rstrip(".") + "."] * len(images)
        else:
            prompt = [[text]] * len(images)
        inputs = self.processor(text=prompt, images=images, return_tensors="pt", padding=True)
        inputs = {
            k: (v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device))
            for k, v in inputs.items()
        }
        with torch.inference_mode():
            outputs = self.model(**inputs)
        sizes = []
        for im in images:
            side = max(im.width, im.height)
            sizes.append((side, side) if self.pads_to_square else (im.height, im.width))
        if self.grounding:
            post = self.processor.post_process_grounded_object_detection(
                outputs, inputs["input_ids"], threshold=self.threshold, text_threshold=self.text_threshold,
                target_sizes=sizes,
            )
        else:
            post = self.processor.post_process_grounded_object_detection(
                outputs, threshold=self.threshold, target_sizes=sizes
            )
        detections: list[list[Detection]] = []
        for im, found in zip(images, post, strict=True):
            rows = []
            for box, score in zip(found["boxes"].float().tolist(), found["scores"].float().tolist(), strict=True):
                x0, y0, x1, y1 = box
                x0, x1 = max(0.0, x0), min(float(im.width), x1)
                y0, y1 = max(0.0, y0), min(float(im.height), y1)
                if x1 - x0 < 1 or y1 - y0 < 1:
                    continue  # a box wholly inside the padding has nothing of the picture in it
                rows.append(Detection(box=(x0, y0, x1, y1), score=float(score), label=text))
            rows.sort(key=lambda d: d.score, reverse=True)
            detections.append(rows)
        return detections
