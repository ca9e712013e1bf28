"""The Textual app. Never imports torch, diffusers or transformers."""
