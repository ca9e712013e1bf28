"""Whatever a server on the Ollama port answers, the Ollama parser says what happened in one sentence and the
offline rules parser stays offered; run against a scripted HTTP server on 127.0.0.1, never a real Ollama."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tuitune.intent.backends import make_parser
from tuitune.intent.errors import BackendUnavailable, IntentError
from tuitune.intent.ollama_parser import OllamaParser

GOOD = {
    "trigger_words": ["zxq"],
    "domain": "object",
    "concepts": [{"name": "shape", "granularity": "instance", "operation": "keep"}],
}
MAX_REQUESTS = 12  # a parser in a retry loop is stopped by the server instead of hanging the test
TIMEOUT = 5.0


@dataclass
class Answer:
    """One scripted HTTP answer: ``length`` overrides Content-Length (None: no header, the body ends at close);
    ``drop`` closes the connection without answering at all."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/json"
    length: int | None | str = "exact"
    drop: bool = False


def tags(*models: str) -> Answer:
    return Answer(json.dumps({"models": [{"name": m, "model": m, "size": 1, "digest": "x"} for m in models]}).encode())


def chat(content: str) -> Answer:
    """Ollama's non-streamed chat reply."""
    return Answer(json.dumps({"model": "tiny", "message": {"role": "assistant", "content": content},
                              "done": True}).encode())


def chat_stream(content: str, done: bool = True) -> Answer:
    """Ollama's streamed chat reply: NDJSON pieces, then the ``done`` line."""
    lines = [{"model": "tiny", "message": {"role": "assistant", "content": content[i: i + 5]}, "done": False}
             for i in range(0, len(content), 5)]
    if done:
        lines.append({"model": "tiny", "message": {"role": "assistant", "content": ""}, "done": True})
    return Answer("".join(json.dumps(x) + "\n" for x in lines).encode(), content_type="application/x-ndjson")


class ScriptedServer:
    """Answers ``/api/tags`` and ``/api/chat`` from per-path scripts, in order; anything unscripted is a 500."""

    def __init__(self, script: dict[str, list[Answer]]) -> None:
        self.script = {path: list(answers) for path, answers in script.items()}
        self.requests: list[tuple[str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = TIMEOUT  # a client that stops talking cannot hold the thread

            def log_message(self, *args):
                pass

            def _answer(self, body: dict) -> None:
                server.requests.append((self.path, body))
                answers = server.script.get(self.path) or []
                if len(server.requests) > MAX_REQUESTS or not answers:
                    answer = Answer(b'{"error": "unscripted request"}', status=500)
                else:
                    answer = answers.pop(0)
                if answer.drop:
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                if answer.length == "exact":
                    self.send_header("Content-Length", str(len(answer.body)))
                elif answer.length is not None:
                    self.send_header("Content-Length", str(answer.length))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer.body)
                self.wfile.flush()
                self.close_connection = True

            def do_GET(self):
                self._answer({})

            def do_POST(self):
                self._answer(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(TIMEOUT)


def one_sentence(message: str) -> str:
    """The checks every reply shares: one line, one sentence, the offline parser offered."""
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith("."), message
    assert not re.search(r"[.!?] [A-Z]", message), f"more than one sentence: {message}"
    assert "--backend rules" in message, message
    return message


def failure(script: dict[str, list[Answer]], stream: bool, model: str = "tiny") -> tuple[str, ScriptedServer]:
    """Parse one message against the scripted server; the IntentError's text (any other exception fails)."""
    tokens: list[str] = []
    with ScriptedServer(script) as server:
        with pytest.raises(IntentError) as caught:
            parser = make_parser("ollama", model=model, host=server.host, timeout=TIMEOUT)
            parser.parse("keep the shape", None, [], tokens.append if stream else None)
    return one_sentence(str(caught.value)), server


def not_ollama(message: str) -> None:
    assert "not Ollama" in message and "ollama_host" in message and "ollama pull" not in message, message


@pytest.mark.parametrize("body", [b"<html><body>It works!</body></html>", b""], ids=["html", "empty"])
def test_model_list_that_is_not_json_says_the_host_is_not_ollama(body: bytes) -> None:
    message, _ = failure({"/api/tags": [Answer(body, content_type="text/html")]}, stream=True)
    not_ollama(message)
    assert "/api/tags" in message


@pytest.mark.parametrize("body", [{"models": 5}, {"version": "0.1.0"}, [1, 2], {"models": [5]}, None],
                         ids=["models-not-a-list", "no-models", "a-list", "model-not-an-object", "null"])
def test_model_list_in_the_wrong_envelope_says_the_host_is_not_ollama(body) -> None:
    message, _ = failure({"/api/tags": [Answer(json.dumps(body).encode())]}, stream=False)
    not_ollama(message)


def test_a_404_from_something_else_on_the_port_is_not_reported_as_a_missing_model() -> None:
    page = Answer(b"404 page not found", status=404, content_type="text/plain")
    message, _ = failure({"/api/tags": [page]}, stream=True)
    not_ollama(message)
    assert "404" in message
    html = Answer(b"<html><h1>Not Found</h1>The requested model URL was not found.</html>", status=404,
                  content_type="text/html")
    message, _ = failure({"/api/tags": [tags("tiny:latest")], "/api/chat": [html]}, stream=False)
    not_ollama(message)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("error", ["model 'tiny' not found", 'model "tiny" not found, try pulling it first'])
def test_ollamas_own_model_not_found_names_the_pull_command(stream: bool, error: str) -> None:
    # Listed a moment ago, gone when the chat asks for it (removed in between).
    gone = Answer(json.dumps({"error": error}).encode(), status=404)
    message, _ = failure({"/api/tags": [tags("tiny:latest")], "/api/chat": [gone]}, stream=stream)
    assert "ollama pull tiny" in message and "not Ollama" not in message


def test_a_model_missing_from_the_list_names_the_pull_command_and_the_rules_parser() -> None:
    message, server = failure({"/api/tags": [tags("other:latest")]}, stream=True, model="llama3.2")
    assert "ollama pull llama3.2" in message
    assert [path for path, _ in server.requests] == ["/api/tags"]  # no chat with a model that is not there


CHAT_BODIES = {
    "html": Answer(b"<html>hello</html>", content_type="text/html"),
    "empty": Answer(b""),
    "no-message": Answer(json.dumps({"model": "tiny", "done": True}).encode()),
    "message-without-content": Answer(json.dumps({"model": "tiny", "message": {"role": "assistant"},
                                                  "done": True}).encode()),
    "message-not-an-object": Answer(json.dumps({"model": "tiny", "message": "hi", "done": True}).encode()),
    "a-list": Answer(b"[1, 2]\n"),
    "a-number": Answer(b"5\n"),
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", list(CHAT_BODIES))
def test_chat_reply_that_is_not_ollamas_is_one_sentence(stream: bool, name: str) -> None:
    message, server = failure({"/api/tags": [tags("tiny:latest")], "/api/chat": [CHAT_BODIES[name]]},
                              stream=stream)
    assert "/api/chat" in message and "ollama_host" in message and "ollama pull" not in message
    assert len(server.requests) == 2  # not retried as if the model had answered badly


def test_an_error_status_from_ollama_is_quoted_briefly() -> None:
    busy = Answer(json.dumps({"error": "model requires more system memory (9 GiB) than is available"}).encode(),
                  status=500)
    message, _ = failure({"/api/tags": [tags("tiny:latest")], "/api/chat": [busy]}, stream=True)
    assert "HTTP 500" in message and "more system memory" in message


CUTS = {
    # Content-Length promises more than is sent, then the server hangs up.
    "whole-short-body": (False, Answer(chat(json.dumps(GOOD)).body[:30], length=400)),
    "streamed-short-body": (True, Answer(chat_stream(json.dumps(GOOD)).body[:90], length=4000,
                                         content_type="application/x-ndjson")),
    # No length: the body ends at close, after some pieces and before the done line.
    "streamed-no-done-line": (True, Answer(b"".join(chat_stream(json.dumps(GOOD), done=False).body.splitlines(True)[:3]),
                                           length=None, content_type="application/x-ndjson")),
    "whole-dropped": (False, Answer(drop=True)),
    "streamed-dropped": (True, Answer(drop=True)),
}


@pytest.mark.parametrize("name", list(CUTS))
def test_a_connection_closed_mid_reply_says_so(name: str) -> None:
    stream, answer = CUTS[name]
    message, _ = failure({"/api/tags": [tags("tiny:latest")], "/api/chat": [answer]}, stream=stream)
    assert "closed" in message and "running" in message, message


def test_a_model_list_cut_short_says_so() -> None:
    message, _ = failure({"/api/tags": [Answer(tags("tiny").body[:10], length=300)]}, stream=False)
    assert "closed" in message and "/api/tags" in message


def test_a_streamed_reply_with_no_lines_is_an_empty_reply() -> None:
    empty = Answer(b"", content_type="application/x-ndjson", length=None)
    message, _ = failure({"/api/tags": [tags("tiny:latest")], "/api/chat": [empty]}, stream=True)
    assert "empty" in message


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_spec_of_the_wrong_shape_is_repaired_once_then_one_sentence(stream: bool) -> None:
    wrong = json.dumps({"concepts": 5})
    reply = chat_stream if stream else chat
    message, server = failure({"/api/tags": [tags("tiny:latest")], "/api/chat": [reply(wrong), reply(wrong)]},
                              stream=stream)
    assert "did not return a valid spec" in message and "concepts" in message
    chats = [body for path, body in server.requests if path == "/api/chat"]
    assert len(chats) == 2  # one repair, no more
    repair = chats[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": wrong}
    assert "concepts" in repair[-1]["content"] and "valid list" in repair[-1]["content"]


def test_a_spec_of_the_wrong_shape_is_repaired_when_the_model_corrects_it() -> None:
    with ScriptedServer({"/api/tags": [tags("tiny:latest")],
                         "/api/chat": [chat_stream(json.dumps({"concepts": 5})), chat_stream(json.dumps(GOOD))]}) as s:
        spec = OllamaParser("tiny", s.host, timeout=TIMEOUT).parse("keep the shape", None, [], lambda _: None)
    assert [c.name for c in spec.concepts] == ["shape"]


@pytest.mark.parametrize("host", ["http://[::1", "localhost:abc", "ftp://x", "localhost:99999", "http://",
                                  "http://local host:11434", "[::1]:port"])
def test_a_host_that_does_not_parse_is_one_sentence_naming_the_setting(host: str) -> None:
    with pytest.raises(BackendUnavailable) as caught:
        make_parser("ollama", model="tiny", host=host, timeout=TIMEOUT).parse("keep the shape", None, [])
    message = one_sentence(str(caught.value))
    assert repr(host) in message and "ollama_host" in message and "--host" in message


@pytest.mark.parametrize(("host", "url"), [("localhost", "http://localhost:11434"),
                                           ("127.0.0.1:8080", "http://127.0.0.1:8080"),
                                           ("https://ollama.example", "https://ollama.example:443"),
                                           ("http://[::1]:11434/", "http://[::1]:11434"),
                                           ("  ", "http://127.0.0.1:11434")])
def test_hosts_ollama_accepts_are_kept(host: str, url: str) -> None:
    assert OllamaParser("tiny", host, timeout=TIMEOUT).host == url


def test_the_parser_still_works_against_a_well_behaved_server() -> None:
    with ScriptedServer({"/api/tags": [tags("tiny:latest"), tags("tiny:latest")],
                         "/api/chat": [chat(json.dumps(GOOD)), chat_stream(json.dumps(GOOD))]}) as server:
        parser = OllamaParser("tiny", server.host, timeout=TIMEOUT)
        whole = parser.parse("keep the shape", None, [])
        tokens: list[str] = []
        streamed = parser.parse("keep the shape", None, [], tokens.append)
    assert whole == streamed and whole.concepts[0].name == "shape"
    assert "".join(tokens) == json.dumps(GOOD)



@pytest.mark.anyio
async def test_the_intent_screen_shows_the_sentence_and_the_rules_parser_still_answers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_ui import SIZE, app_for, make_project, press_to_focus, switch_to, wait_for

    monkeypatch.setenv("TUITUNE_IMAGE_PROTOCOL", "halfcell")
    root = make_project(tmp_path / "proj")
    with ScriptedServer({"/api/tags": [Answer(b"<html>router login</html>", content_type="text/html")]}) as server:
        settings = root / "project.toml"
        settings.write_text(settings.read_text(encoding="utf-8")
                            + f'\n[intent]\nparser = "ollama"\nmodel = "tiny"\nollama_host = "{server.host}"\n',
                            encoding="utf-8")
        app = app_for(root)
        async with app.run_test(size=SIZE) as pilot:
            await switch_to(pilot, "1", "intent")
            screen = app.screen
            assert screen.backend == "ollama"
            versions = len(screen.dialogue.versions)
            await press_to_focus(pilot, "ctrl+l", focused="chat-input")
            await pilot.press(*"keep the shape", "enter")
            await wait_for(pilot, lambda: not screen.busy and screen.dialogue.turns
                           and "not Ollama" in screen.dialogue.turns[-1].text)
            shown = [str(m.content) for m in screen.query("ChatMessage")]
            assert one_sentence(shown[-1]) == screen.dialogue.turns[-1].text
            assert len(screen.dialogue.versions) == versions  # the spec is left as it was
            # The user is not stuck: switch to the rules parser (ollama -> local -> rules) and say it again.
            await press_to_focus(pilot, "escape", focused="chat-log")
            await pilot.press("ctrl+b", "ctrl+b")
            assert screen.backend == "rules"
            await press_to_focus(pilot, "ctrl+l", focused="chat-input")
            await pilot.press(*"keep the shape", "enter")
            await wait_for(pilot, lambda: not screen.busy and len(screen.dialogue.versions) == versions + 1)
            assert app.is_running
