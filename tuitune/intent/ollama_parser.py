"""The Ollama parser: a local Ollama server answers in the spec's JSON schema, validated and repaired once.

Whatever the server on the host port does (answers something that is not Ollama's reply, a 404 of its own,
hangs up mid-reply), the parser raises ``BackendUnavailable`` with one sentence naming what happened, what to
check and the offline rules parser, so the intent flow can always go on without Ollama.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Generator, Sequence
from typing import Any, NoReturn, TypeVar

from tuitune.intent.errors import BackendUnavailable
from tuitune.intent.llm_reply import ask_with_repair, schema
from tuitune.intent.parser import TokenCallback, check_text
from tuitune.intent.regions import Region
from tuitune.intent.spec import IntentSpec

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "llama3.2"
DEFAULT_PORT = 11434  # when the host names no scheme, as Ollama's own OLLAMA_HOST reads it

OFFLINE = "or use the offline rules parser (--backend rules, or ctrl+b in the app)"
HOST_SETTING = "the host (--host, or ollama_host under [intent] in project.toml)"

T = TypeVar("T")


def base_url(host: str) -> str:
    """``host`` as the URL the client will use (``localhost`` -> ``http://localhost:11434``); one sentence
    naming the setting when it is not an http(s) address."""
    text = host.strip()
    if not text:
        return DEFAULT_HOST

    def unusable(reason: str) -> BackendUnavailable:
        return BackendUnavailable(
            f"The Ollama host {host!r} {reason}; set {HOST_SETTING} to one like {DEFAULT_HOST}, {OFFLINE}."
        )

    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "http", text
    scheme = scheme.lower()
    if scheme not in {"http", "https"}:
        raise unusable(f"starts with {scheme}://, but Ollama answers on http:// or https://")
    if any(ch.isspace() for ch in rest):
        raise unusable("contains a space")
    try:
        split = urllib.parse.urlsplit(f"{scheme}://{rest}")
        name, port = split.hostname, split.port
    except ValueError as exc:
        said = str(exc).lower()
        if "port" in said:
            raise unusable("has a port that is not a number from 0 to 65535") from None
        if "ipv6" in said:
            raise unusable("has an unclosed or malformed [IPv6] address") from None
        raise unusable(f"does not parse as an address ({said})") from None
    if not name:
        raise unusable("names no server")
    default_port = DEFAULT_PORT if not separator else {"http": 80, "https": 443}[scheme]
    netloc = f"[{name}]" if ":" in name else name
    path = split.path.strip("/")
    return f"{scheme}://{netloc}:{port or default_port}" + (f"/{path}" if path else "")


def _brief(text: object, limit: int = 100) -> str:
    """A server's words squeezed onto one short line, for quoting inside a sentence."""
    words = " ".join(str(text).split()).rstrip(".")
    return words if len(words) <= limit else words[: limit - 1] + "…"


class OllamaParser:
    """Talks to ``host`` with the ``ollama`` client; temperature 0, JSON-schema constrained output."""

    name = "ollama"

    def __init__(self, model: str = DEFAULT_MODEL, host: str = DEFAULT_HOST, timeout: float = 120.0) -> None:
        self.model = model
        self.host = base_url(host)
        self.timeout = timeout
        try:
            import ollama
        except ImportError as exc:
            raise BackendUnavailable(
                f"The ollama Python package is not installed here; install tuitune with it, {OFFLINE}."
            ) from exc
        self._client = ollama.Client(host=self.host, timeout=timeout)

    def parse(
        self,
        text: str,
        current: IntentSpec | None,
        regions: Sequence[Region],
        on_token: TokenCallback | None = None,
    ) -> IntentSpec:
        text = check_text(text)
        self._check_model()
        return ask_with_repair(
            lambda messages: self._chat(messages, on_token), text, current, regions,
            f"Model {self.model} did not return a valid spec, even after a repair ({{problem}}); "
            f"try again, try a larger model, {OFFLINE}.", on_token)

    def _check_model(self) -> None:
        """Fail early, with the command that fixes it, when the model is not pulled."""
        listing = self._call("/api/tags", self._client.list)
        names: set[str] = set()
        for entry in listing.models:
            name = entry.model or ""
            names |= {name, name.removesuffix(":latest")}
        if self.model not in names:
            self._not_pulled()

    def _chat(self, messages: list[dict[str, str]], on_token: TokenCallback | None) -> str:
        options = {"temperature": 0}
        if on_token is None:
            response = self._call(
                "/api/chat",
                lambda: self._client.chat(self.model, messages=messages, format=schema(), options=options),
            )
            return self._content(response)
        chunks: Generator[Any, None, None] = self._call(
            "/api/chat",
            lambda: self._client.chat(self.model, messages=messages, format=schema(), options=options, stream=True),
        )
        pieces: list[str] = []
        received = done = False
        try:
            while not done:
                # Only the client's reading is mapped to transport sentences; on_token's own errors stay bugs.
                chunk = self._call("/api/chat", lambda: next(chunks, None))
                if chunk is None:
                    break
                received, done = True, bool(chunk.done)
                piece = self._content(chunk)
                if piece:
                    pieces.append(piece)
                    on_token(piece)
        finally:
            chunks.close()  # ends the HTTP response when we stop early (a done line, or on_token raising)
        if not received:
            raise BackendUnavailable(
                f"Ollama at {self.host} sent an empty reply to /api/chat; check that Ollama is running there "
                f"and {HOST_SETTING}, then try again, {OFFLINE}."
            )
        if not done:
            self._cut("/api/chat")
        return "".join(pieces)

    def _content(self, response: Any) -> str:
        """The reply text of one chat response; Ollama always sends message.content (empty while thinking)."""
        content = response.message.content
        if not isinstance(content, str):
            self._not_ollama("/api/chat", "it has no message content")
        return content

    def _call(self, path: str, request: Callable[[], T]) -> T:
        """Run one request, turning transport failures and replies that are not Ollama's into one sentence."""
        import httpx
        import ollama
        from pydantic import ValidationError

        try:
            return request()
        except ollama.ResponseError as exc:
            self._refused(path, exc)
        except (ConnectionError, httpx.ConnectError) as exc:
            raise BackendUnavailable(
                f"No Ollama server answers at {self.host}; start it with `ollama serve`, check {HOST_SETTING}, "
                f"{OFFLINE}."
            ) from exc
        except httpx.TimeoutException as exc:
            raise BackendUnavailable(
                f"Ollama at {self.host} did not answer within {self.timeout:g} s; "
                f"try a smaller model or a longer timeout, {OFFLINE}."
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise base_url_error(self.host, exc) from exc
        except httpx.TransportError as exc:
            self._cut(path, exc)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(
                f"The exchange with Ollama at {self.host} on {path} failed ({_brief(exc) or type(exc).__name__}); "
                f"check that Ollama is running there and {HOST_SETTING}, {OFFLINE}."
            ) from exc
        except json.JSONDecodeError as exc:
            self._not_ollama(path, "its body is empty" if not exc.doc.strip() else "it is not JSON", exc)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the reply"
            self._not_ollama(path, f"{where}: {first['msg'].lower()}", exc)
        except (TypeError, AttributeError) as exc:
            # The client unpacks each reply with ``cls(**part)`` / ``part.get``: a JSON value that is not an
            # object fails there with these.
            self._not_ollama(path, "it is not a JSON object", exc)

    def _refused(self, path: str, exc: Any) -> NoReturn:
        """An error status (or an in-stream error): only Ollama's own "model not found" means not pulled."""
        said = _brief(exc.error)
        lower = said.lower()
        bare_model = self.model.split(":")[0].lower()
        if exc.status_code in {404, -1} and "model" in lower and "not found" in lower and bare_model in lower:
            self._not_pulled(exc)
        if exc.status_code == 404:
            raise BackendUnavailable(
                f"The server at {self.host} answered {path} with HTTP 404 ({said}), so it is not Ollama "
                f"or not a version tuitune knows; check {HOST_SETTING} and that Ollama is running there, "
                f"{OFFLINE}."
            ) from exc
        status = f"HTTP {exc.status_code}" if exc.status_code > 0 else "an error"
        raise BackendUnavailable(
            f"Ollama at {self.host} answered {path} with {status} ({said}); check Ollama's log and try again, "
            f"{OFFLINE}."
        ) from exc

    def _not_pulled(self, cause: BaseException | None = None) -> NoReturn:
        raise BackendUnavailable(
            f"Model {self.model!r} is not pulled on the Ollama server at {self.host}; "
            f"run `ollama pull {self.model}`, pick another with --model (or model under [intent]), {OFFLINE}."
        ) from cause

    def _not_ollama(self, path: str, detail: str, cause: BaseException | None = None) -> NoReturn:
        raise BackendUnavailable(
            f"The server at {self.host} sent a reply to {path} that is not Ollama's ({detail}), so it is "
            f"not Ollama or not a version tuitune knows; check {HOST_SETTING} and that Ollama is running there, "
            f"{OFFLINE}."
        ) from cause

    def _cut(self, path: str, cause: BaseException | None = None) -> NoReturn:
        raise BackendUnavailable(
            f"The connection to Ollama at {self.host} closed before its reply to {path} was complete; "
            f"check that Ollama is still running (its log says why it stopped) and {HOST_SETTING}, then try "
            f"again, {OFFLINE}."
        ) from cause


def base_url_error(host: str, exc: BaseException) -> BackendUnavailable:
    """The client refused the URL after all (base_url lets only http(s) addresses through)."""
    return BackendUnavailable(
        f"The Ollama host {host!r} is not an address the client can use ({_brief(exc)}); set {HOST_SETTING} "
        f"to one like {DEFAULT_HOST}, {OFFLINE}."
    )
