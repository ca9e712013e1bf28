"""The two small CNNs tuitune reads from safetensors files: a per-pixel defect critic and a scalar scorer.

Both take images in [0, 1] (B, 3, H, W) and say in a file's metadata what they are and how wide they are, so a
file carries everything needed to rebuild the network; nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from tuitune.errors import UserError

CRITIC_KIND = "defect_critic"
SCORER_KIND = "scorer"


def _conv(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation), nn.ReLU())


class DefectCritic(nn.Module):
    """A tiny U-Net: image in [0, 1] -> per-pixel defect logits (B, H, W); H and W divisible by 4."""

    def __init__(self, channels: tuple[int, int, int] = (8, 16, 24)) -> None:
        super().__init__()
        a, b, c = channels
        self.channels = (a, b, c)
        self.enc1 = _conv(3, a)  # one layer at full size: the small maps do the seeing, cheaply
        self.enc2 = nn.Sequential(_conv(a, b, stride=2), _conv(b, b))
        self.enc3 = nn.Sequential(_conv(b, c, stride=2), _conv(c, c, dilation=2), _conv(c, c, dilation=4))
        self.dec2 = _conv(c + b, b)
        self.dec1 = _conv(b + a, a)
        self.head = nn.Conv2d(a, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images * 2 - 1
        f1 = self.enc1(x)
        f2 = self.enc2(f1)
        f3 = self.enc3(f2)
        up = nn.functional.interpolate(f3, size=f2.shape[-2:], mode="bilinear", align_corners=False)
        d2 = self.dec2(torch.cat([up, f2], 1))
        up = nn.functional.interpolate(d2, size=f1.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.dec1(torch.cat([up, f1], 1)))[:, 0]


class Scorer(nn.Module):
    """Strided convolutions, a global average and a linear layer: image in [0, 1] -> one score per image."""

    def __init__(self, channels: tuple[int, ...] = (16, 32)) -> None:
        super().__init__()
        self.channels = tuple(channels)
        layers, c_in = [], 3
        for c_out in self.channels:
            layers.append(_conv(c_in, c_out, stride=2))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images * 2 - 1).mean(dim=(2, 3)))[:, 0]

    def cam_layer(self) -> nn.Module:
        """The last convolution block, whose activations Grad-CAM weighs."""
        return self.features[-1]


def save_network(net: DefectCritic | Scorer, path: Path, notes: dict[str, str] | None = None) -> Path:
    """Write ``net`` as safetensors with its kind and channels in the metadata (atomically)."""
    from tuitune.train.export import write_safetensors

    kind = CRITIC_KIND if isinstance(net, DefectCritic) else SCORER_KIND
    meta = {"tuitune_kind": kind, "channels": json.dumps(list(net.channels)), **(notes or {})}
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    write_safetensors(state, Path(path), meta)
    return Path(path)


def load_network(path: str | Path, kind: str) -> DefectCritic | Scorer:
    """Rebuild the network a safetensors file holds; a file of another kind or shape is one sentence."""
    from safetensors import safe_open

    path = Path(path).expanduser()
    what = "critic" if kind == CRITIC_KIND else "scorer"
    if not path.is_file():
        raise UserError(f"The {what} file {path} does not exist; check the path.")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises several kinds for a damaged file
        raise UserError(f"{path} is not a readable safetensors file ({exc}); give a {what} tuitune wrote.") from None
    if meta.get("tuitune_kind") != kind:
        raise UserError(f"{path} is not a tuitune {what} (its metadata says tuitune_kind="
                        f"{meta.get('tuitune_kind')!r}, expected {kind!r}); see the fix README for the format.")
    try:
        channels = tuple(int(c) for c in json.loads(meta["channels"]))
        net = DefectCritic(channels) if kind == CRITIC_KIND else Scorer(channels)  # type: ignore[arg-type]
        net.load_state_dict(state)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UserError(f"{path} does not match the {what} its metadata describes ({first}); write it again "
                        "with tuitune.") from None
    return net.eval().requires_grad_(False)
