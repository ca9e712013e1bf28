"""tuitune: intent-driven, region-aware LoRA fine-tuning in the terminal."""
__version__ = "0.1.0"

# The shipped toyworld model is the base model named "toyworld" in every tuitune process: the toyworld
# registers it with the model loader, which itself names no model.
from tuitune import toyworld as _toyworld  # noqa: E402, F401
