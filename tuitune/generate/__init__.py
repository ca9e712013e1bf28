"""Generation: base and LoRA images with the same seed, side by side."""
