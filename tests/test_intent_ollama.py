"""The Ollama parser against a small fake Ollama server on 127.0.0.1 (no real model needed)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tuitune.intent.errors import BackendUnavailable, IntentError, IntentQuestion
from tuitune.intent.ollama_parser import OllamaParser
from tuitune.intent.spec import Granularity, IntentSpec, Operation

GOOD = {
    "trigger_words": ["zxq"],
    "domain": "character",
    "concepts": [
        {"name": "face", "granularity": "instance", "operation": "keep"},
        {"name": "watermark", "granularity": "instance", "operation": "delete"},
    ],
}


class FakeOllama:
    """Serves /api/tags and /api/chat; replies are taken from ``replies`` in order."""

    def __init__(self, replies: list[str], models: tuple[str, ...] = ("tiny:latest",), delay: float = 0.0):
        self.replies = list(replies)
        self.models = models
        self.delay = delay
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, body: bytes, content_type: str = "application/json", status: int = 200):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/api/tags":
                    models = [{"name": m, "model": m, "size": 1, "digest": "x"} for m in fake.models]
                    self._send(json.dumps({"models": models}).encode())
                else:
                    self._send(b'{"error": "not found"}', status=404)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                if fake.delay:
                    time.sleep(fake.delay)
                if body["model"] not in fake.models and body["model"] + ":latest" not in fake.models:
                    self._send(json.dumps({"error": f"model '{body['model']}' not found"}).encode(), status=404)
                    return
                content = fake.replies.pop(0)
                base = {"model": body["model"], "created_at": "2024-01-01T00:00:00Z"}
                if body.get("stream"):
                    pieces = [content[i : i + 7] for i in range(0, len(content), 7)]
                    lines = [{**base, "message": {"role": "assistant", "content": p}, "done": False} for p in pieces]
                    lines.append({**base, "message": {"role": "assistant", "content": ""}, "done": True})
                    self._send("".join(json.dumps(x) + "\n" for x in lines).encode(), "application/x-ndjson")
                else:
                    self._send(json.dumps({**base, "message": {"role": "assistant", "content": content},
                                           "done": True}).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_valid_spec_streams_tokens_to_the_callback():
    with FakeOllama([json.dumps(GOOD)]) as fake:
        tokens: list[str] = []
        spec = OllamaParser("tiny", fake.host, timeout=5).parse("keep face, no watermark", None, [], tokens.append)
    assert [(c.name, c.operation) for c in spec.concepts] == [("face", Operation.KEEP),
                                                               ("watermark", Operation.DELETE)]
    assert spec.trigger_words == ["zxq"] and spec.version == 1
    assert len(tokens) > 3 and "".join(tokens) == json.dumps(GOOD)
    request = fake.requests[0]
    assert request["options"]["temperature"] == 0
    assert request["format"] == IntentSpec.model_json_schema()


def test_invalid_json_is_repaired_with_the_validation_error_shown_to_the_model():
    bad = {"trigger_words": ["zxq"], "concepts": [{"name": "face", "granularity": "part", "operation": "keep"}]}
    with FakeOllama([json.dumps(bad), json.dumps(GOOD)]) as fake:
        spec = OllamaParser("tiny", fake.host, timeout=5).parse("keep the face", None, [])
    assert spec.concept("watermark").operation is Operation.DELETE
    repair = fake.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and "part" in repair[-2]["content"]
    assert "granularity" in repair[-1]["content"]


def test_prose_twice_is_one_clear_error():
    with FakeOllama(["Sure! Here is your spec.", "I think you want to keep the face."]) as fake:
        with pytest.raises(IntentError, match="did not return a valid spec.*--backend rules"):
            OllamaParser("tiny", fake.host, timeout=5).parse("keep the face", None, [])


def test_follow_up_gets_the_current_spec_and_bumps_the_version():
    current = IntentSpec.model_validate(GOOD)
    updated = {**GOOD, "concepts": GOOD["concepts"] + [
        {"name": "hair colour", "granularity": "attribute", "operation": "modify", "alternatives": ["blue"]}]}
    with FakeOllama([json.dumps(updated)]) as fake:
        spec = OllamaParser("tiny", fake.host, timeout=5).parse("hair can be blue", current, [])
    assert spec.version == 2
    assert spec.concept("hair colour").granularity is Granularity.ATTRIBUTE
    assert '"face"' in fake.requests[0]["messages"][1]["content"]


def test_conflicting_operations_become_a_question():
    twice = {"trigger_words": ["zxq"], "concepts": [
        {"name": "logo", "granularity": "instance", "operation": "keep"},
        {"name": "Logo", "granularity": "instance", "operation": "delete"}]}
    with FakeOllama([json.dumps(twice)]) as fake:
        with pytest.raises(IntentQuestion, match="which one"):
            OllamaParser("tiny", fake.host, timeout=5).parse("keep and remove the logo", None, [])


def test_no_server_suggests_the_offline_parser():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendUnavailable, match="--backend rules"):
        OllamaParser("tiny", f"http://127.0.0.1:{port}", timeout=5).parse("keep the face", None, [])


def test_model_not_pulled_names_the_pull_command():
    with FakeOllama([], models=("other:latest",)) as fake:
        with pytest.raises(BackendUnavailable, match="ollama pull llama3.2"):
            OllamaParser("llama3.2", fake.host, timeout=5).parse("keep the face", None, [])


def test_timeout_is_reported():
    with FakeOllama([json.dumps(GOOD)], delay=1.5) as fake:
        with pytest.raises(BackendUnavailable, match="did not answer within"):
            OllamaParser("tiny", fake.host, timeout=0.3).parse("keep the face", None, [])
