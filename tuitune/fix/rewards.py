"""Rewards behind one small protocol, and loading one by name.

A reward takes images as a float tensor (B, 3, H, W) **in [0, 1]** and their prompts, and returns one
differentiable score per image (B,): higher is better. It may also say where an image is bad: ``heatmap``
returns (B, H, W) in [0, 1] (1 = problem) or None; a reward without one gets a Grad-CAM map (``gradcam.py``)
when it names a convolution layer through ``cam_layer()``.

Names: ``toyworld-critic`` (the shipped critic), ``critic:PATH`` (a critic file), ``scorer:PATH`` (a scorer
file, see ``networks.py``), ``open_clip:CHECKPOINT`` (prompt similarity; options ``model`` and ``config``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from tuitune.errors import UserError
from tuitune.fix.config import NAMED_REWARDS, check_reward_name
from tuitune.fix.networks import CRITIC_KIND, SCORER_KIND, load_network


@runtime_checkable
class Reward(Protocol):
    name: str

    def score(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor: ...

    def heatmap(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor | None: ...


class _NetworkReward:
    """A reward backed by one network file of ``kind`` (``networks.load_network`` checks it), named as the
    ``--reward`` option spells it (``critic:FILE``, ``scorer:FILE``)."""

    kind = ""
    prefix = ""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"{self.prefix}:{self.path.name}"
        self.net = load_network(self.path, self.kind)

    def to(self, device: Any):
        self.net.to(device)
        return self


class CriticReward(_NetworkReward):
    """A defect critic as a reward: minus the mean defect probability; its heatmap is the defect map."""

    kind, prefix = CRITIC_KIND, "critic"

    def defect_map(self, images: torch.Tensor) -> torch.Tensor:
        """Per-pixel defect probability (B, H, W)."""
        return torch.sigmoid(self.net(images))

    def score(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        return -self.defect_map(images).mean(dim=(1, 2))

    def heatmap(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor | None:
        with torch.no_grad():
            return self.defect_map(images)


class ScorerReward(_NetworkReward):
    """A user's scorer file (``networks.Scorer``): its output is the reward; no heatmap of its own."""

    kind, prefix = SCORER_KIND, "scorer"

    def score(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        return self.net(images)

    def heatmap(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor | None:
        return None

    def cam_layer(self) -> torch.nn.Module:
        return self.net.cam_layer()


def load_reward(name: str, **options: Any) -> Reward:
    """The reward ``name`` names; an unknown name or kind is one sentence listing what exists."""
    if name in NAMED_REWARDS:
        module, _, attr = NAMED_REWARDS[name].partition(":")
        return getattr(importlib.import_module(module), attr)(**options)
    check_reward_name(name)
    kind, _, path = name.partition(":")
    if kind == "critic":
        _no_options(name, options)
        return CriticReward(path)
    if kind == "scorer":
        _no_options(name, options)
        return ScorerReward(path)
    from tuitune.fix.clip_reward import OpenClipReward

    return OpenClipReward(path, **options)


def _no_options(name: str, options: dict[str, Any]) -> None:
    if options:
        raise UserError(f"The reward {name!r} takes no options (got {', '.join(sorted(options))}); remove them.")
