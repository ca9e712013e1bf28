"""Evaluation: intent-aware metrics per checkpoint and the best-checkpoint recommendation."""
