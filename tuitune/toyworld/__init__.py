"""The toyworld: a procedural world of shapes and a tiny Stable Diffusion model trained on it."""
