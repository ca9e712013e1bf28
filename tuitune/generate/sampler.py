"""Swap a pipeline's scheduler for the named sampler, built from the model's own scheduler config."""

from __future__ import annotations

from typing import Any


def scheduler_for(name: str, config: Any) -> Any:
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
    )

    classes = {
        "euler": EulerDiscreteScheduler,
        "euler_a": EulerAncestralDiscreteScheduler,
        "ddim": DDIMScheduler,
        "dpmpp_2m": DPMSolverMultistepScheduler,
    }
    if name not in classes:
        raise ValueError(f"unknown sampler {name!r}; use one of {', '.join(classes)}")
    return classes[name].from_config(config)
