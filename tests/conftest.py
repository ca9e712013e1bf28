import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture
def anyio_backend() -> str:
    """The async UI tests (marked ``anyio``) run on asyncio, the loop Textual uses."""
    return "asyncio"
