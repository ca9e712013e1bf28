"""Pivotal tuning: the trigger words' token embeddings train with the LoRA.

A trigger word the base model has never seen ("zxq") is only a few sub-word tokens with embeddings that mean
nothing; a LoRA alone has to teach every attention layer what those vectors stand for. Training the vectors
themselves (textual inversion) alongside the LoRA binds the word to the subject in far fewer steps. kohya,
ai-toolkit and the diffusers examples know it as pivotal tuning or "TI + LoRA".

The trained vectors replace the rows of the word's tokens in each text encoder's token table while the LoRA is
on. They are written beside the LoRA (``lora_embeddings.safetensors``, one ``<encoder>.<word>`` tensor of
shape (tokens, width) each) and bundled into the kohya file the way A1111 reads embeddings that ship in a LoRA
(``bundle_emb.<word>.string_to_param.*``, SDXL ``bundle_emb.<word>.clip_l`` / ``.clip_g``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from tuitune.train.errors import TrainError

ENCODER_NAMES = ("text_encoder", "text_encoder_2")
KOHYA_SDXL_KEYS = ("clip_l", "clip_g")


def embeddings_path(lora_file: Path) -> Path:
    """Where a LoRA file's trained embeddings live: ``lora.safetensors`` -> ``lora_embeddings.safetensors``."""
    lora_file = Path(lora_file)
    return lora_file.with_name(f"{lora_file.stem}_embeddings.safetensors")


def word_token_ids(tokenizer: Any, word: str) -> list[int]:
    """The token ids ``word`` becomes inside a prompt (no start/end tokens)."""
    if not word.strip() or word != word.strip():
        raise TrainError(f"pivotal word {word!r} must be a word without leading or trailing spaces.")
    ids = tokenizer(word, add_special_tokens=False).input_ids
    if not ids:
        raise TrainError(f"pivotal word {word!r} becomes no tokens for this model's tokenizer.")
    return [int(i) for i in ids]


def initial_ids(tokenizer: Any, word: str, text: str) -> list[int]:
    """The token ids of the words a pivotal word starts from (its ``pivotal_init`` text)."""
    ids = tokenizer(text, add_special_tokens=False).input_ids if text.strip() else []
    if not ids:
        raise TrainError(f"pivotal_init for {word!r} is {text!r}, which holds no word to start from; "
                         "name the words it means (e.g. \"ring\") or take it out of pivotal_init.")
    return [int(i) for i in ids]


class PivotalEmbeddings(torch.nn.Module):
    """The trained rows of the trigger words' tokens, one table per text encoder.

    ``rows[e]`` has one row per distinct token id of all words (``ids[e]``); while installed, each encoder's
    token embedding returns those rows wherever the prompt holds one of the ids.
    """

    def __init__(self, words: list[str], tokenizers: list[Any], encoders: list[Any],
                 init: dict[str, str] | None = None) -> None:
        super().__init__()
        if len(set(words)) != len(words):
            raise TrainError("each pivotal word may be named only once under [lora] pivotal.")
        init = dict(init or {})  # [lora] pivotal_init; its words are checked against ``words`` by the config
        self.words = list(words)
        self.word_ids: list[dict[str, list[int]]] = []
        self.rows = torch.nn.ParameterList()
        self._ids: list[list[int]] = []
        for tokenizer, encoder in zip(tokenizers, encoders, strict=True):
            per_word = {w: word_token_ids(tokenizer, w) for w in words}
            ids = sorted({i for v in per_word.values() for i in v})
            table = encoder.get_input_embeddings().weight
            rows = table.detach()[ids].clone().float()
            for word, text in init.items():
                start = table.detach()[initial_ids(tokenizer, word, text)].float().mean(dim=0)
                for token in per_word[word]:
                    owners = [w for w, v in per_word.items() if token in v and w != word]
                    if owners:
                        raise TrainError(f"pivotal words {word!r} and {owners[0]!r} share a token, so "
                                         f"pivotal_init cannot start {word!r} apart; pick another trigger word.")
                    rows[ids.index(token)] = start
            self.word_ids.append(per_word)
            self._ids.append(ids)
            self.rows.append(torch.nn.Parameter(rows))
        self._handles: list[Any] = []

    def install(self, encoders: list[Any]) -> None:
        """Make each encoder's token embedding return the trained rows (a forward hook; ``remove`` undoes)."""
        self.remove()
        for e, encoder in enumerate(encoders):
            self._handles.append(encoder.get_input_embeddings().register_forward_hook(self._hook(e)))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, e: int) -> Any:
        def replace(_module: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
            input_ids = inputs[0] if inputs else None
            if input_ids is None:
                return output
            rows = self.rows[e].to(output.dtype)
            for k, token in enumerate(self._ids[e]):
                output = torch.where((input_ids == token)[..., None], rows[k], output)
            return output

        return replace

    def tensors(self, names: list[str]) -> dict[str, torch.Tensor]:
        """``{"<encoder>.<word>": (tokens, width)}`` in the word's token order, for the embeddings file."""
        out: dict[str, torch.Tensor] = {}
        for e, name in enumerate(names):
            index = {token: k for k, token in enumerate(self._ids[e])}
            for word, ids in self.word_ids[e].items():
                out[f"{name}.{word}"] = self.rows[e].detach()[[index[i] for i in ids]].cpu().contiguous()
        return out


def kohya_bundle(tensors: dict[str, torch.Tensor], sdxl: bool) -> dict[str, torch.Tensor]:
    """The embeddings in A1111's bundled-embedding keys of a kohya LoRA file."""
    out: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        encoder, _, word = key.partition(".")
        if sdxl:
            out[f"bundle_emb.{word}.{KOHYA_SDXL_KEYS[ENCODER_NAMES.index(encoder)]}"] = value
        else:
            out[f"bundle_emb.{word}.string_to_param.*"] = value
    return out


def unbundle(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A kohya LoRA file's bundled embeddings in the embeddings file's ``<encoder>.<word>`` keys."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not key.startswith("bundle_emb."):
            continue
        word, _, part = key[len("bundle_emb."):].rpartition(".")
        if part == "*" and word.endswith(".string_to_param"):
            out[f"{ENCODER_NAMES[0]}.{word[: -len('.string_to_param')]}"] = value
        elif part in KOHYA_SDXL_KEYS:
            out[f"{ENCODER_NAMES[KOHYA_SDXL_KEYS.index(part)]}.{word}"] = value
        else:
            raise ValueError(f"bundled embedding {key!r} is neither string_to_param.* nor clip_l/clip_g")
    return out


def diffusers_lora(lora_file: Path) -> Any:
    """What to hand diffusers' ``load_lora_weights``: the file's path, or its tensors without the bundled
    embeddings (diffusers refuses keys that are not LoRA weights)."""
    from safetensors import safe_open

    with safe_open(str(lora_file), "pt") as fh:
        keys = list(fh.keys())
        if not any(k.startswith("bundle_emb.") for k in keys):
            return str(lora_file)
        return {k: fh.get_tensor(k) for k in keys if not k.startswith("bundle_emb.")}


def save_embeddings(path: Path, tensors: dict[str, torch.Tensor], save: Any) -> None:
    """Write the embeddings file with ``save(state, path, metadata)`` (the caller's atomic writer)."""
    words = sorted({k.partition(".")[2] for k in tensors})
    save(tensors, path, {"format": "pt", "tuitune_pivotal_words": json.dumps(words)})


def read_embeddings(path: Path, tokenizers: list[Any], widths: list[int],
                    state: dict[str, torch.Tensor] | None = None) -> list[tuple[list[int], torch.Tensor]]:
    """Per text encoder: (token ids, rows) to put into its token table; a file that does not fit this model
    (an encoder it lacks, a width or token count that differ) raises ValueError saying so."""
    from safetensors.torch import load_file

    state = load_file(str(path)) if state is None else state
    out: list[tuple[list[int], torch.Tensor]] = [([], torch.empty(0)) for _ in tokenizers]
    grouped: dict[int, list[tuple[list[int], torch.Tensor]]] = {}
    for key, value in state.items():
        encoder, _, word = key.partition(".")
        if encoder not in ENCODER_NAMES or not word:
            raise ValueError(f"{path.name} holds {key!r}, which is not <text_encoder>.<word>")
        e = ENCODER_NAMES.index(encoder)
        if e >= len(tokenizers):
            raise ValueError(f"{path.name} has embeddings for {encoder}, which this base model does not have")
        ids = tokenizers[e](word, add_special_tokens=False).input_ids
        if value.ndim != 2 or value.shape[0] != len(ids) or value.shape[1] != widths[e]:
            raise ValueError(f"{path.name}: {word!r} has shape {tuple(value.shape)} but this model's {encoder} "
                             f"needs ({len(ids)}, {widths[e]})")
        grouped.setdefault(e, []).append((list(ids), value))
    for e, parts in grouped.items():
        ids = [i for part_ids, _ in parts for i in part_ids]
        out[e] = (ids, torch.cat([rows for _, rows in parts]))
    return out


def pipeline_encoders(pipe: Any) -> tuple[list[Any], list[Any]]:
    """(tokenizers, text encoders) of a diffusers pipeline, in ENCODER_NAMES order."""
    tokenizers, encoders = [pipe.tokenizer], [pipe.text_encoder]
    if getattr(pipe, "text_encoder_2", None) is not None:
        tokenizers.append(pipe.tokenizer_2)
        encoders.append(pipe.text_encoder_2)
    return tokenizers, encoders


class TokenTables:
    """Puts a LoRA's trained token rows into a pipeline's token tables and takes them out again."""

    def __init__(self, pipe: Any) -> None:
        self.tokenizers, self.encoders = pipeline_encoders(pipe)
        self._original: dict[tuple[int, int], torch.Tensor] = {}
        self.active: str | None = None

    def read(self, lora_file: Path) -> list[tuple[list[int], torch.Tensor]] | None:
        """The rows of ``lora_file``'s embeddings file, None when it has none; ValueError when it does not fit."""
        from safetensors import safe_open

        widths = [int(e.get_input_embeddings().weight.shape[1]) for e in self.encoders]
        path = embeddings_path(lora_file)
        if path.is_file():
            return read_embeddings(path, self.tokenizers, widths)
        with safe_open(str(lora_file), "pt") as fh:  # a kohya file may bundle them
            bundled = unbundle({k: fh.get_tensor(k) for k in fh.keys() if k.startswith("bundle_emb.")})
        return read_embeddings(Path(lora_file), self.tokenizers, widths, bundled) if bundled else None

    def put(self, name: str | None, rows: list[tuple[list[int], torch.Tensor]] | None) -> None:
        """Make the tables hold ``rows`` (the base model's own rows everywhere else); ``name`` labels them."""
        if self.active == name and (name is None or rows is not None):
            return
        with torch.no_grad():
            for (e, token), row in self._original.items():
                self.encoders[e].get_input_embeddings().weight[token] = row
            self._original.clear()
            for e, (ids, values) in enumerate(rows or []):
                table = self.encoders[e].get_input_embeddings().weight
                for token, row in zip(ids, values, strict=True):
                    self._original[(e, token)] = table[token].clone()
                    table[token] = row.to(table.device, table.dtype)
        self.active = name if rows else None
