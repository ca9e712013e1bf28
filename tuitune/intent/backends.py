"""The intent parser for a backend name (rules, ollama or local); the parsers' heavy imports wait until chosen."""

from __future__ import annotations

from tuitune.intent.errors import IntentError
from tuitune.intent.parser import IntentParser

BACKENDS = ("rules", "ollama", "local")


def make_parser(
    backend: str = "rules",
    model: str | None = None,
    host: str | None = None,
    timeout: float = 120.0,
) -> IntentParser:
    """The parser for ``backend`` (rules, ollama or local); heavy imports happen inside the parsers."""
    if backend == "rules":
        from tuitune.intent.rules import RuleParser

        return RuleParser()
    if backend == "ollama":
        from tuitune.intent.ollama_parser import DEFAULT_HOST, DEFAULT_MODEL, OllamaParser

        return OllamaParser(model=model or DEFAULT_MODEL, host=host or DEFAULT_HOST, timeout=timeout)
    if backend in {"local", "transformers"}:
        from tuitune.intent.local_llm import LocalLLMParser

        return LocalLLMParser(model)
    raise IntentError(f"Unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
