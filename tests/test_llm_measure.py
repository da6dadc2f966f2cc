"""``evolve models`` measures each model on a real prompt and prints the settings that fit it."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

from evolve.config.llm import ModelSpec
from evolve.proposers.llm.measure import Measurement, suggest
from evolve.proposers.llm.reply_length import derived_max_tokens
from llm_server import LLMServer, Reply

ROOT = Path(__file__).resolve().parent.parent
SEED = (ROOT / "problems" / "circle_packing" / "initial.py").read_text()


def evolve(*args, timeout=120):
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_suggested_settings_follow_the_measurement():
    slow = suggest(Measurement(1000, 128, first_token_s=15.5, tokens_per_s=18.8, total_s=22.3), SEED, 1)
    assert slow.timeout_s == 50 and slow.max_concurrent == 1  # 3 x 15.5 s, rounded up to 5 s
    assert slow.max_tokens == derived_max_tokens("diff", SEED) and round(slow.reply_s) == round(slow.max_tokens / 18.8)
    assert round(slow.proposals_per_hour) == round(3600 / (15.5 + slow.max_tokens / 18.8))
    fast = suggest(Measurement(1000, 128, first_token_s=0.4, tokens_per_s=90.0, total_s=1.8), SEED, None, stream=False)
    assert fast.timeout_s == 5 * math.ceil((30 + fast.max_tokens / 90.0) / 5)  # not streamed: the whole reply too
    assert fast.max_concurrent is None
    toml = slow.toml(ModelSpec(name="openai/gemma", api_base="http://127.0.0.1:8080/v1"))
    assert toml.splitlines() == ["[[llm.models]]", 'name = "openai/gemma"', 'api_base = "http://127.0.0.1:8080/v1"',
                                 "timeout_s = 50", "max_concurrent = 1", f"max_tokens = {slow.max_tokens}"]


def test_models_measures_speed_and_slots_and_suggests_settings():
    reply = "def f():\n    return 1\n" * 40
    with LLMServer(slots=1, responder=lambda req: Reply("ready") if "single word" in req.prompt
                   else Reply(reply, delay_s=0.4, tokens_per_s=40)) as server:
        result = evolve("models", "--model", "openai/loopback-model", "--api-base", server.base_url,
                        "--timeout", 10, "--tokens", 32)
        chat = server.chat_requests()
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if "openai/loopback-model" in line and "│" in line]
    cells = [c.strip() for c in row.split("│")[1:-1]]
    rate, first, slots = cells[-3:]
    assert 0 < float(rate) <= 40 * 1.2 and float(first.split()[0]) >= 0.4 and slots == "1"
    measured = chat[1]
    assert measured.body["max_tokens"] == 32 and measured.body["stream"] is True
    assert "circle_packing" in measured.prompt and "EVOLVE-BLOCK" in measured.prompt  # a real first prompt
    assert "suggested settings for openai/loopback-model" in result.stdout
    assert "timeout_s = 30" in result.stdout and "max_concurrent = 1" in result.stdout
    assert re.search(r"max_tokens = \d+", result.stdout)


def test_models_without_measuring_only_pings():
    with LLMServer(responder=lambda req: Reply("ready")) as server:
        result = evolve("models", "--model", "openai/loopback-model", "--api-base", server.base_url, "--no-measure")
        assert len(server.chat_requests()) == 1
    assert result.returncode == 0 and "tokens/s" not in result.stdout and "suggested" not in result.stdout
