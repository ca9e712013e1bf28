"""The Ollama parser: a local Ollama server answers in the spec's JSON schema, validated and repaired once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tuitune.intent.errors import BackendUnavailable, IntentError
from tuitune.intent.llm_reply import ReplyInvalid, build_messages, repair_message, schema, spec_from_reply
from tuitune.intent.parser import TokenCallback, check_text
from tuitune.intent.regions import Region
from tuitune.intent.spec import IntentSpec

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "llama3.2"


class OllamaParser:
    """Talks to ``host`` with the ``ollama`` client; temperature 0, JSON-schema constrained output."""

    name = "ollama"

    def __init__(self, model: str = DEFAULT_MODEL, host: str = DEFAULT_HOST, timeout: float = 120.0) -> None:
        import ollama

        self.model = model
        self.host = host
        self.timeout = timeout
        self._client = ollama.Client(host=host, timeout=timeout)

    def parse(
        self,
        text: str,
        current: IntentSpec | None,
        regions: Sequence[Region],
        on_token: TokenCallback | None = None,
    ) -> IntentSpec:
        text = check_text(text)
        self._check_model()
        messages = build_messages(text, current, regions)
        reply = self._chat(messages, on_token)
        try:
            return spec_from_reply(reply, current, regions)
        except ReplyInvalid as first:
            messages += [{"role": "assistant", "content": reply}, repair_message(str(first))]
            if on_token is not None:
                on_token("\n")
            reply = self._chat(messages, on_token)
            try:
                return spec_from_reply(reply, current, regions)
            except ReplyInvalid as second:
                raise IntentError(
                    f"Model {self.model} did not return a valid spec, even after a repair ({second}); "
                    "try again, try a larger model, or use --backend rules."
                ) from second

    def _check_model(self) -> None:
        """Fail early, with the command that fixes it, when the model is not pulled."""
        names: set[str] = set()
        for entry in self._call(lambda: self._client.list()).models:
            name = entry.model or ""
            names |= {name, name.removesuffix(":latest")}
        if self.model not in names:
            raise BackendUnavailable(
                f"Model {self.model!r} is not pulled on the Ollama server at {self.host}; "
                f"run `ollama pull {self.model}` or pick one with --model."
            )

    def _chat(self, messages: list[dict[str, str]], on_token: TokenCallback | None) -> str:
        options = {"temperature": 0}
        if on_token is None:
            response = self._call(
                lambda: self._client.chat(self.model, messages=messages, format=schema(), options=options)
            )
            return response.message.content or ""

        def stream() -> str:
            pieces: list[str] = []
            for chunk in self._client.chat(
                self.model, messages=messages, format=schema(), options=options, stream=True
            ):
                piece = chunk.message.content or ""
                if piece:
                    pieces.append(piece)
                    on_token(piece)
            return "".join(pieces)

        return self._call(stream)

    def _call(self, request: Any) -> Any:
        """Run one request, turning transport failures into one-sentence errors."""
        import httpx
        import ollama

        try:
            return request()
        except (ConnectionError, httpx.ConnectError) as exc:
            raise BackendUnavailable(
                f"No Ollama server answers at {self.host}; start it with `ollama serve`, "
                "pass --host, or use the offline parser with --backend rules."
            ) from exc
        except httpx.TimeoutException as exc:
            raise BackendUnavailable(
                f"Ollama at {self.host} did not answer within {self.timeout:g} s; "
                "try a smaller model, a longer timeout, or --backend rules."
            ) from exc
        except ollama.ResponseError as exc:
            if exc.status_code == 404 or "not found" in str(exc).lower():
                raise BackendUnavailable(
                    f"Model {self.model!r} is not on the Ollama server at {self.host}; "
                    f"run `ollama pull {self.model}`."
                ) from exc
            raise IntentError(f"Ollama refused the request: {exc}.") from exc
