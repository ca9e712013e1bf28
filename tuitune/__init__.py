"""tuitune: intent-driven, region-aware LoRA fine-tuning in the terminal."""
__version__ = "0.1.0"

# Base models known by name in every tuitune process, registered with the model loader, which itself names
# no model: the shipped toyworld model ("toyworld") and the real-size architectures with random weights
# ("arch:sd15", "arch:sd21", "arch:sdxl"). Neither import loads torch.
from tuitune import toyworld as _toyworld  # noqa: E402, F401
from tuitune.train import architectures as _architectures  # noqa: E402, F401
