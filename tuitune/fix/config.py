"""What a fix run does (``FixConfig``): the ``[fix]`` table of its run.toml, each bad key one sentence."""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tuitune.errors import UserError
from tuitune.fix.box import Box

# Rewards a package ships, by name; entries are import paths so nothing loads before a run asks for one.
NAMED_REWARDS: dict[str, str] = {"toyworld-critic": "tuitune.toyworld.critic_training:shipped_critic"}
REWARD_KINDS = ("critic", "scorer", "open_clip")


def check_reward_name(name: str, what: str = "reward") -> None:
    """A reward name is a shipped one or KIND:PATH; anything else is one sentence listing what exists."""
    kind, sep, path = name.partition(":")
    if name not in NAMED_REWARDS and not (sep and kind in REWARD_KINDS and path):
        raise UserError(f"Unknown {what} {name!r}; use {', '.join(NAMED_REWARDS)} or one of "
                        f"{', '.join(k + ':PATH' for k in REWARD_KINDS)}.")


class FixConfig(BaseModel):
    """Prompts and seeds, the reward and mask, and the DRaFT-K settings of one Focus-N-Fix run."""

    model_config = ConfigDict(extra="forbid")

    model: str = "toyworld"
    prompts: list[str] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3], min_length=1)
    eval_prompts: list[str] = Field(default_factory=list)  # [] = the training prompts
    eval_seeds: list[int] = Field(default_factory=lambda: [1000, 1001, 1002, 1003], min_length=1)
    reward: str = "toyworld-critic"
    reward_options: dict[str, str] = Field(default_factory=dict)
    # reward (its heatmap, or Grad-CAM of it when it has none) | gradcam | box:x0,y0,x1,y1 | file:PATH.png
    mask: str = "reward"
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    dilation: int = Field(2, ge=0, le=64)
    beta: float = Field(20.0, ge=0.0)  # defaults measured on the toyworld (benchmarks/fix.py)
    k: int = Field(2, ge=1)
    rank: int = Field(4, ge=1)
    alpha: float = Field(4.0, gt=0)
    lr: float = Field(6e-3, gt=0)
    steps: int = Field(150, ge=1)
    batch_size: int = Field(2, ge=1)
    sampler_steps: int = Field(10, ge=1, le=1000)
    guidance: float = Field(3.0, ge=1.0)
    resolution: int = Field(64, ge=16)
    grad_checkpointing: bool = False
    checkpoint_every: int = Field(25, ge=0)  # 0 = only on stop
    keep: int = Field(3, ge=1)
    seed: int = 0
    # The defect rate: a picture is defective when the critic marks at least defect_pixels pixels.
    critic: str = "toyworld-critic"  # "" = no defect rate
    defect_pixels: int = Field(8, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @model_validator(mode="after")
    def _consistent(self) -> FixConfig:
        if self.k > self.sampler_steps:
            raise ValueError(f"k ({self.k}) cannot exceed sampler_steps ({self.sampler_steps})")
        if self.resolution % 8:
            raise ValueError(f"resolution {self.resolution} is not a multiple of 8")
        if not (self.mask in ("reward", "gradcam") or self.mask.startswith(("box:", "file:"))):
            raise ValueError(f"mask {self.mask!r} is not reward, gradcam, box:x0,y0,x1,y1 or file:PATH")
        if any(not p.strip() for p in self.prompts + self.eval_prompts):
            raise ValueError("a prompt is empty")
        return self

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> FixConfig:
        try:
            config = cls.model_validate(table)
        except ValidationError as exc:
            raise UserError(explain(exc)) from None
        check_reward_name(config.reward)
        if config.mask.startswith("box:"):
            Box.parse(config.mask[4:]).check_inside(config.resolution)  # refused now, not when the job starts
        if config.critic:
            check_reward_name(config.critic, "critic")
        return config

    def to_table(self) -> dict[str, Any]:
        return self.model_dump()


def explain(exc: ValidationError) -> str:
    """The first problem of a validation error as one sentence naming the key."""
    error = exc.errors()[0]
    key = ".".join(str(p) for p in error["loc"]) or "fix"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, list(FixConfig.model_fields), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(FixConfig.model_fields)}."
        return f"Unknown fix setting {key!r}{hint}"
    if error["type"] == "missing":
        return f"The fix setting {key!r} is missing; give it (prompts: a list of prompts or a prompts file)."
    return f"The fix setting {key!r} is invalid: {message}; change it and try again."
