"""Dataset: import, concept masks, augmentation by operation, export."""
