"""Intent: the IntentSpec, the parsers that produce it, and the caption optimiser."""
