"""What the LLM parsers share: the instruction prompt, turning a model's reply into a checked spec, and the one
repair turn when it is not one."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from tuitune.intent.errors import IntentError, IntentQuestion
from tuitune.intent.parser import check_references, next_version
from tuitune.intent.regions import Region, describe
from tuitune.intent.spec import IntentSpec

SYSTEM = """You turn a person's description of what a LoRA fine-tune should learn into JSON.
Reply with one JSON object only, no prose, shaped like this example:
{example}

Rules:
- trigger_words: the made-up token(s) the person calls the subject ("call it zxq" -> ["zxq"]).
- domain: "character", "style", "object", "animal" or "scene" when clear, else "".
- One concept per thing named. granularity: "attribute" for properties (hair colour, length, texture),
  "instance" for things (face, jacket, logo, watermark), "imagery" for the whole picture (background,
  lighting, style).
- operation: "keep" = learn it as it is; "modify" = it may change (list values in alternatives, current value
  in value, values it must never take in excluded: "any colour but green" -> excluded ["green"]);
  "delete" = remove it from what is learned (watermarks, logos, text they want gone).
- Something that "doesn't matter" (e.g. the background): operation "modify", loss_weight 0.1, preserve 1.
- references: the numbers of regions the text cites as [1], [2].
- When a current spec is given, return the whole updated spec: change only what the message asks.
"""

EXAMPLE = {
    "trigger_words": ["zxq"],
    "domain": "character",
    "concepts": [
        {"name": "face", "granularity": "instance", "operation": "keep", "references": [1]},
        {"name": "hair colour", "granularity": "attribute", "operation": "modify", "value": "red",
         "alternatives": ["blue", "green"]},
        {"name": "watermark", "granularity": "instance", "operation": "delete"},
        {"name": "background", "granularity": "imagery", "operation": "modify", "loss_weight": 0.1,
         "preserve": 1.0},
    ],
}

REPAIR = """That reply was not a valid spec: {error}
Reply again with one JSON object only that matches the schema."""


class ReplyInvalid(ValueError):
    """The model's reply is not a valid spec; the message is shown to the model in the repair turn."""


def schema() -> dict[str, Any]:
    return IntentSpec.model_json_schema()


def build_messages(text: str, current: IntentSpec | None, regions: Sequence[Region]) -> list[dict[str, str]]:
    system = SYSTEM.format(example=json.dumps(EXAMPLE))
    parts = []
    if current is not None:
        parts.append("Current spec:\n" + current.model_dump_json(exclude={"version"}))
    if regions:
        parts.append("Reference regions:\n" + describe(list(regions)))
    parts.append("Message:\n" + text)
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def repair_message(error: str) -> dict[str, str]:
    return {"role": "user", "content": REPAIR.format(error=error)}


def _json_object(reply: str) -> dict[str, Any]:
    """The first JSON object in ``reply`` (models wrap JSON in prose or ``` fences)."""
    fenced = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", reply, re.S)
    candidates = [fenced.group(1)] if fenced else []
    start = reply.find("{")
    if start >= 0:
        candidates.append(reply[start : reply.rfind("}") + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    snippet = " ".join(reply.split())[:80]
    raise ReplyInvalid(f"the reply is not JSON (it begins {snippet!r})")


def _check_conflicts(data: dict[str, Any]) -> None:
    """The same concept twice with different operations is the person's ambiguity, not the model's."""
    concepts = data.get("concepts")
    if not isinstance(concepts, list):
        return  # the wrong shape is the model's mistake: validation names it for the repair turn
    seen: dict[str, str] = {}
    for concept in concepts:
        if not isinstance(concept, dict):
            continue
        name = " ".join(str(concept.get("name", "")).split()).casefold()
        operation = str(concept.get("operation", ""))
        if name in seen and seen[name] != operation:
            raise IntentQuestion(
                f"The message asks to {seen[name]} and to {operation} {name!r}; which one do you mean?",
                concept=name,
                options=(seen[name], operation),
            )
        seen[name] = operation


def spec_from_reply(reply: str, current: IntentSpec | None, regions: Sequence[Region]) -> IntentSpec:
    """A validated spec, numbered after ``current``; ReplyInvalid names what is wrong for the repair turn."""
    data = _json_object(reply)
    data.pop("version", None)
    _check_conflicts(data)
    if not data.get("trigger_words") and current is not None:
        data["trigger_words"] = current.trigger_words
    try:
        spec = IntentSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise ReplyInvalid(problems) from exc
    check_references(spec, regions, current)
    return next_version(spec, current)


def ask_with_repair(ask: Callable[[list[dict[str, str]]], str], text: str, current: IntentSpec | None,
                    regions: Sequence[Region], failure: str,
                    on_token: Callable[[str], None] | None = None) -> IntentSpec:
    """Ask the model (``ask(messages) -> reply``) for the spec; a reply that is not a valid spec gets one repair
    turn saying what was wrong. A second invalid reply is an IntentError: ``failure`` with ``{problem}`` filled in.
    A streamed answer (``on_token``) gets a line break between the two replies."""
    messages = build_messages(text, current, regions)
    reply = ask(messages)
    try:
        return spec_from_reply(reply, current, regions)
    except ReplyInvalid as first:
        messages += [{"role": "assistant", "content": reply}, repair_message(str(first))]
    if on_token is not None:
        on_token("\n")
    reply = ask(messages)
    try:
        return spec_from_reply(reply, current, regions)
    except ReplyInvalid as second:
        raise IntentError(failure.format(problem=second)) from second
