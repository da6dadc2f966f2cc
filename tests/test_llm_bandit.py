import random

import pytest

from evolve.proposers.llm.bandit import ModelBandit


def test_untried_models_go_first_by_weight():
    bandit = ModelBandit({"a": 1.0, "b": 3.0, "c": 2.0})
    rng = random.Random(0)
    assert [bandit.choose(rng) for _ in range(3)] == ["b", "c", "a"]


def test_concurrent_choices_spread_before_any_outcome():
    bandit = ModelBandit({"a": 1.0, "b": 1.0})
    rng = random.Random(1)
    picks = [bandit.choose(rng) for _ in range(10)]
    assert picks.count("a") == picks.count("b") == 5


def test_prefers_the_model_with_more_improvement_per_dollar():
    bandit = ModelBandit({"cheap": 1.0, "dear": 1.0}, c=0.3)
    rng = random.Random(2)
    for _ in range(300):
        name = bandit.choose(rng)
        # both improve equally often by the same amount, but "dear" costs 20x more
        gain = 1.0 if rng.random() < 0.3 else 0.0
        bandit.record(name, 0.001 if name == "cheap" else 0.02, gain)
    assert bandit.arms["cheap"].pulls > 3 * bandit.arms["dear"].pulls


def test_prefers_the_model_that_improves_when_costs_are_equal():
    bandit = ModelBandit({"good": 1.0, "bad": 1.0}, c=0.3)
    rng = random.Random(3)
    for _ in range(300):
        name = bandit.choose(rng)
        bandit.record(name, 0.01, (0.5 if rng.random() < 0.5 else 0.0) if name == "good" else 0.0)
    assert bandit.arms["good"].pulls > 3 * bandit.arms["bad"].pulls


def test_regressions_and_nan_are_zero_reward():
    bandit = ModelBandit({"a": 1.0})
    assert bandit.record("a", 0.01, -5.0) == 0.0
    assert bandit.record("a", 0.01, float("nan")) == 0.0
    assert bandit.record("a", 0.0, 1.0) == pytest.approx(1.0 / bandit.cost_floor)
    assert bandit.record("unknown", 0.01, 1.0) == 0.0


def test_weighted_mode_follows_weights_and_zero_weight_is_never_chosen():
    bandit = ModelBandit({"a": 4.0, "b": 1.0, "off": 0.0}, mode="weighted")
    rng = random.Random(4)
    picks = [bandit.choose(rng) for _ in range(2000)]
    assert "off" not in picks and 0.75 < picks.count("a") / len(picks) < 0.85
    assert bandit.choose(rng, allowed=["off"]) is None
    with pytest.raises(ValueError, match="ucb"):
        ModelBandit({"a": 1}, mode="greedy")


def test_state_round_trip_continues_the_same_choices():
    a = ModelBandit({"x": 1.0, "y": 1.0})
    rng = random.Random(5)
    for _ in range(20):
        a.record(a.choose(rng), 0.01, rng.random())
    b = ModelBandit({"x": 1.0, "y": 1.0, "new": 1.0})
    b.restore(a.state())
    assert b.arms["x"] == a.arms["x"] and b.r_max == a.r_max
    assert b.choose(random.Random(0)) == "new"  # a newly configured model is tried first
    c = ModelBandit({"x": 1.0, "y": 1.0})
    c.restore(a.state())
    assert [c.choose(random.Random(9)) for _ in range(5)] == [a.choose(random.Random(9)) for _ in range(5)]
