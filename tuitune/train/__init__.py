"""Training: base-model loading, the region-aware LoRA loop, checkpoints and export."""
