"""The router harness on a torch device (run here on the CPU device: the code path a GPU takes)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from evaluators import InvalidOutput
from evaluators.routing import RouterStream, balance_score

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[test]' installs it)")
from evaluators.routing_torch import run_stream_torch  # noqa: E402

TINY = RouterStream("tiny", 8, 2, tokens=512, steps=30, hot=1, seed=5)
FOLDER = Path(__file__).resolve().parents[1] / "problems" / "moe_router_bias"


def keep(bias, load, step, state):
    return bias, state


def push(bias, load, step, state):
    return bias + 0.05 * np.sign(load.mean() - load), state


def test_without_bias_retention_is_one_and_loads_count_every_assignment():
    seen = []

    def record(bias, load, step, state):
        seen.append(load)
        return bias, state

    outcome = run_stream_torch(TINY, record, "cpu")
    assert outcome.retention == pytest.approx(1.0)
    assert all(load.sum() == TINY.tokens * TINY.k for load in seen) and len(seen) == TINY.steps
    total = np.sum(seen, axis=0)
    assert outcome.maxvio_global == pytest.approx(total.max() / total.mean() - 1)
    assert outcome.maxvio_batch == pytest.approx(np.mean([l.max() / l.mean() - 1 for l in seen]))


def test_a_balancing_rule_trades_retention_for_balance_and_runs_are_deterministic():
    plain, balanced = run_stream_torch(TINY, keep, "cpu"), run_stream_torch(TINY, push, "cpu")
    assert balanced.maxvio_global < plain.maxvio_global and balanced.retention < 1.0
    assert balance_score(run_stream_torch(TINY, push, "cpu")) == balance_score(balanced)


def test_device_path_validates_updates_too():
    with pytest.raises(InvalidOutput, match="bias has shape"):
        run_stream_torch(TINY, lambda b, l, s, st: (b[:3], st), "cpu")


def test_a_cuda_context_selects_the_larger_configuration():
    spec = importlib.util.spec_from_file_location("router_evaluate_torch_test", FOLDER / "evaluate.py")
    evaluator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluator)
    cpu, gpu = evaluator.streams_for("search", "cpu"), evaluator.streams_for("search", "cuda:0")
    assert [s.tokens * 8 for s in cpu] == [s.tokens for s in gpu]
    assert [s.steps * 2 for s in cpu] == [s.steps for s in gpu]
