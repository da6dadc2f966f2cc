"""spot_scheduling: the lockstep simulator's semantics, the decision validator, the pinned baseline
scores (through the real sandbox), determinism, and the separation of the holdout split."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluators import Candidate, EvaluationContext, InvalidOutput
from evaluators.spot import (
    NONE,
    ON_DEMAND,
    ON_DEMAND_PRICE,
    SPOT,
    SPOT_PRICE,
    Jobs,
    schedule_score,
    simulate,
    validate_decisions,
)
from evaluators.spot_traces import REGIMES, TICK_HOURS, availability_trace
from sandbox import Limits, get_sandbox

FOLDER = Path(__file__).resolve().parents[1] / "problems" / "spot_scheduling"
SEARCH = EvaluationContext(split="search", stage=1, stages=2)
HOLDOUT = EvaluationContext(split="holdout", stage=1, stages=2)


def load_evaluator():
    spec = importlib.util.spec_from_file_location("spot_evaluate_under_test", FOLDER / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(FOLDER))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(FOLDER))
    return module


@pytest.fixture(scope="module")
def evaluator():
    return load_evaluator()


def candidate(source: str) -> Candidate:
    return Candidate(source, get_sandbox("process"), Limits(timeout_s=30))


def one_job(spot: list[bool], task: float = 1.0, deadline: float = 2.0, overhead: float = 0.1) -> Jobs:
    ticks = int(round(deadline / TICK_HOURS)) + 1
    trace = np.array((spot * ticks)[:ticks], dtype=bool)
    return Jobs(np.array([task]), np.array([deadline]), np.array([overhead]), trace[None, :], ("job",))


def constant(choice: int):
    return lambda obs: np.full(len(obs["task"]), choice)


# --- simulator semantics -------------------------------------------------------------------


def test_on_demand_pays_task_plus_one_overhead_and_finishes_then():
    jobs = one_job([False], task=1.0, deadline=2.0, overhead=0.1)
    outcome = simulate(jobs, constant(ON_DEMAND))
    assert outcome.cost[0] == pytest.approx(ON_DEMAND_PRICE * 1.1)
    assert outcome.finish[0] == pytest.approx(1.1)
    assert not outcome.missed[0] and outcome.launches[0] == 1


def test_spot_always_available_costs_spot_price_for_task_plus_overhead():
    outcome = simulate(one_job([True]), lambda obs: np.where(obs["has_spot"], SPOT, ON_DEMAND))
    assert outcome.cost[0] == pytest.approx(SPOT_PRICE * 1.1)


def test_a_preemption_forces_a_new_launch_with_its_overhead():
    # spot for 2 ticks, gone for 1, back: two spot launches, each paying 0.1 h of overhead
    jobs = one_job([True, True, False], task=1.0, deadline=3.0, overhead=0.1)
    seen = []

    def policy(obs):
        seen.append((bool(obs["preempted"][0]), int(obs["running"][0])))
        return np.where(obs["has_spot"], SPOT, NONE)

    outcome = simulate(jobs, policy)
    assert seen[2] == (True, NONE)  # the policy is told about the preemption
    assert outcome.launches[0] >= 2
    spot_hours = outcome.spot_hours[0]
    assert spot_hours == pytest.approx(1.0 + 0.1 * outcome.launches[0])
    assert outcome.cost[0] == pytest.approx(SPOT_PRICE * spot_hours)


def test_idling_past_the_deadline_is_a_miss_and_scores_minus_the_missed_fraction():
    jobs = Jobs(np.array([1.0, 1.0]), np.array([2.0, 2.0]), np.array([0.1, 0.1]), np.zeros((2, 13), bool), ("a", "b"))
    outcome = simulate(jobs, lambda obs: np.array([NONE, ON_DEMAND]))
    assert outcome.missed.tolist() == [True, False]
    assert schedule_score(jobs, outcome) == -0.5


def test_traces_are_deterministic_and_regimes_differ_in_availability():
    assert np.array_equal(availability_trace("flaky", 500, 3), availability_trace("flaky", 500, 3))
    means = {name: np.mean([availability_trace(name, 600, s).mean() for s in range(20)]) for name in REGIMES}
    assert means["stable"] > 0.8 > means["flaky"] > 0.5 > means["scarce"]


# --- the decision validator: one case per kind of invalid output -------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.array([1.0, 2.0]), "dtype float64"),
        (np.array([1, 2, 0]), "shape (3,)"),
        (np.array([1, 7]), "decision 7 for job 1"),
        (np.array([1, 1]), "SPOT chosen for job 1"),
        ({"a": 1}, "dtype object"),
    ],
)
def test_validator_rejects_each_kind_of_invalid_decision(value, message):
    with pytest.raises(InvalidOutput, match="tick 4") as err:
        validate_decisions(value, 2, 4, np.array([True, False]), np.array([True, True]))
    assert message in str(err.value)


def test_decisions_of_inactive_jobs_are_not_checked():
    out = validate_decisions(np.array([9, 1]), 2, 0, np.array([True, True]), np.array([False, True]))
    assert out.tolist() == [9, 1]


def test_spot_without_capacity_is_invalid_output_through_the_sandbox(evaluator):
    source = "import numpy as np\ndef decide(obs):\n    return np.full(len(obs['task']), 1)\n"
    with pytest.raises(InvalidOutput, match="SPOT chosen for job"):
        evaluator.evaluate(candidate(source), SEARCH)


# --- pinned scores, determinism, holdout separation --------------------------------------

PINNED = {  # program: (search saving, holdout saving); see problems/spot_scheduling/README.md
    "initial.py": (0.5571, 0.6593),
    "baselines/always_on_demand.py": (0.0, 0.0),
    "baselines/greedy.py": (0.5780, 0.7005),
    "baselines/uniform_progress.py": (0.5935, 0.7149),
}


@pytest.mark.parametrize("program", sorted(PINNED))
def test_seed_and_baselines_reproduce_their_stated_savings(evaluator, program):
    source = (FOLDER / program).read_text()
    search, holdout = PINNED[program]
    assert evaluator.evaluate(candidate(source), SEARCH).score == pytest.approx(search, abs=2e-3)
    assert evaluator.evaluate(candidate(source), HOLDOUT).score == pytest.approx(holdout, abs=2e-3)


def test_one_argument_call_runs_the_full_search_split(evaluator):
    source = (FOLDER / "baselines" / "greedy.py").read_text()
    assert evaluator.evaluate(candidate(source)).score == pytest.approx(PINNED["baselines/greedy.py"][0], abs=2e-3)


def test_the_quick_stage_is_a_different_smaller_workload(evaluator):
    source = (FOLDER / "initial.py").read_text()
    quick = evaluator.evaluate(candidate(source), EvaluationContext(stage=0, stages=2))
    assert quick.metrics["on_demand_cost"] < 60  # 12-hour jobs, not 48
    assert quick.score > 0.0  # the seed passes the quick stage's threshold


def test_evaluation_is_deterministic(evaluator):
    source = (FOLDER / "baselines" / "uniform_progress.py").read_text()
    first = evaluator.evaluate(candidate(source), SEARCH)
    second = evaluator.evaluate(candidate(source), SEARCH)
    assert (first.score, first.metrics, first.instances) == (second.score, second.metrics, second.instances)


def test_search_verdicts_ignore_and_never_mention_the_holdout_split():
    evaluator = load_evaluator()  # a private copy: its holdout grid is replaced below
    source = (FOLDER / "baselines" / "uniform_progress.py").read_text()
    before = evaluator.evaluate(candidate(source), SEARCH)
    holdout_regimes = evaluator.GRIDS["holdout"].regimes
    changed = evaluator.GRIDS["holdout"].__class__(("scarce",), 2, (55.0,), (0.05,), task=48.0, seed=7)
    evaluator.GRIDS["holdout"] = changed
    after = evaluator.evaluate(candidate(source), SEARCH)
    assert (before.score, before.metrics, before.instances, before.feedback) == (
        after.score, after.metrics, after.instances, after.feedback,
    )
    text = before.feedback + " ".join(before.instances)
    assert not any(regime in text for regime in holdout_regimes)
    assert evaluator.evaluate(candidate(source), HOLDOUT).instances.keys() == {"scarce/d55"}
