import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TINY = TESTS / "fixture_problems" / "tiny"


@pytest.fixture
def tiny_problem() -> Path:
    return TINY


@pytest.fixture(autouse=True)
def _no_real_llm_keys(monkeypatch):
    """Tests never reach a paid API: drop real provider keys from the environment."""
    for key in list(os.environ):
        if key.endswith("_API_KEY") and key != "EVOLVE_TEST_API_KEY":
            monkeypatch.delenv(key, raising=False)
