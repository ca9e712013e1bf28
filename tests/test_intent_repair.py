"""The LLM parsers' repair turn: an invalid reply is answered with what was wrong, once; twice is one sentence."""

from __future__ import annotations

import json

import pytest

from tuitune.intent.errors import IntentError
from tuitune.intent.llm_reply import ask_with_repair

GOOD = {"trigger_words": ["zxq"], "domain": "object",
        "concepts": [{"name": "shape", "granularity": "instance", "operation": "keep"}]}
FAILURE = "Model m did not return a valid spec, even after a repair ({problem}); try a larger model."


def test_an_invalid_reply_is_repaired_once_with_what_was_wrong_and_the_answer_streams_apart():
    asked: list[list[dict[str, str]]] = []
    replies = iter(['{"concepts": [{"name": "shape", "operation": "grow"}]}', json.dumps(GOOD)])
    tokens: list[str] = []

    def ask(messages):
        asked.append(list(messages))
        reply = next(replies)
        tokens.append(reply)
        return reply

    spec = ask_with_repair(ask, "keep the shape", None, [], FAILURE, tokens.append)
    assert [c.name for c in spec.concepts] == ["shape"] and spec.version == 1
    assert len(asked) == 2
    first_reply, repair = asked[1][-2:]
    assert first_reply["role"] == "assistant" and "grow" in first_reply["content"]
    assert repair["role"] == "user" and "operation" in repair["content"]  # says which field was wrong
    assert tokens[1] == "\n"  # the two streamed replies do not run together


def test_two_invalid_replies_are_one_sentence_naming_the_problem_and_a_valid_first_reply_asks_once():
    with pytest.raises(IntentError) as caught:
        ask_with_repair(lambda messages: "no json here", "keep the shape", None, [], FAILURE)
    said = str(caught.value)
    assert said.startswith("Model m did not return a valid spec, even after a repair (") and "{problem}" not in said
    calls = []
    ask_with_repair(lambda messages: calls.append(1) or json.dumps(GOOD), "keep the shape", None, [], FAILURE)
    assert calls == [1]
