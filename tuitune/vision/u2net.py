"""Subject-vs-background masks with the u2netp ONNX model bundled in the rembg package, run by onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tuitune.vision.protocols import Box

INPUT_SIZE = 320
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class ForegroundSegmenter:
    """``foreground(image)`` is the salient subject; ``segment(image, box)`` is that subject inside ``box``."""

    def __init__(self, weights: str | Path | None = None, *, threshold: float = 0.5, threads: int = 2) -> None:
        import onnxruntime as ort

        from tuitune.vision.weights import bundled_weights, require

        path = require(weights or bundled_weights(), "u2netp")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.threshold = threshold
        self._cache: tuple[int, np.ndarray] | None = None

    def saliency(self, image: Image.Image) -> np.ndarray:
        """Foreground probability in [0, 1], HxW of ``image``."""
        rgb = image.convert("RGB")
        x = np.asarray(rgb.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
        x = ((x - MEAN) / STD).transpose(2, 0, 1)[None]
        pred = self.session.run(None, {self.input_name: x.astype(np.float32)})[0][0, 0]
        lo, hi = float(pred.min()), float(pred.max())
        pred = (pred - lo) / (hi - lo) if hi > lo else np.zeros_like(pred)
        prob = Image.fromarray((pred * 255).astype(np.uint8), "L").resize(rgb.size, Image.Resampling.BILINEAR)
        return np.asarray(prob, dtype=np.float32) / 255.0

    def foreground(self, image: Image.Image) -> np.ndarray:
        key = hash((image.size, image.convert("RGB").tobytes()))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.saliency(image) >= self.threshold)
        return self._cache[1]

    def segment(self, image: Image.Image, box: Box) -> np.ndarray:
        mask = self.foreground(image).copy()
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        inside = np.zeros_like(mask)
        inside[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
        return mask & inside
