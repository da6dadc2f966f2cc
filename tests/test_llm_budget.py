import asyncio
import random

import pytest

from evolve.proposers.llm.budget import Budget, BudgetExhausted, Reservation


def test_call_cap_is_exact_even_with_calls_in_flight():
    budget = Budget(max_calls=2)
    a, b = budget.try_reserve(0.0), budget.try_reserve(0.0)
    assert isinstance(a, Reservation) and isinstance(b, Reservation)
    assert budget.try_reserve(0.0) is None  # wait: both may still fail to be sent
    budget.settle(a, 0.0, sent=False)
    c = budget.try_reserve(0.0)
    assert isinstance(c, Reservation)
    budget.settle(b, 0.0)
    budget.settle(c, 0.0)
    assert "max-calls 2" in budget.try_reserve(0.0)
    assert budget.calls == 2


def test_cost_cap_allows_one_call_when_idle_and_then_stops():
    budget = Budget(max_cost=1.0)
    r = budget.try_reserve(5.0)  # estimate above the cap, but nothing in flight: go
    assert isinstance(r, Reservation)
    assert budget.try_reserve(0.1) is None  # would exceed with the in-flight estimate: wait
    budget.settle(r, 0.7)
    r2 = budget.try_reserve(0.1)
    budget.settle(r2, 0.6)
    assert budget.spent == pytest.approx(1.3)
    assert "max-cost" in budget.exhausted_reason()
    with pytest.raises(BudgetExhausted, match=r"\$1.3000 of --max-cost \$1.0000"):
        asyncio.run(budget.reserve(0.1))


def test_concurrent_spenders_overshoot_by_at_most_one_call():
    async def main(seed):
        rng = random.Random(seed)
        budget = Budget(max_cost=1.0)
        made = []

        async def worker():
            while True:
                cost = rng.uniform(0.05, 0.1)
                try:
                    r = await budget.reserve(0.1, poll_s=0.001)
                except BudgetExhausted:
                    return
                await asyncio.sleep(rng.uniform(0, 0.003))
                budget.settle(r, cost)
                made.append(cost)

        await asyncio.gather(*(worker() for _ in range(8)))
        return budget, made

    for seed in range(5):
        budget, made = asyncio.run(main(seed))
        assert budget.spent >= 1.0
        assert budget.spent - 1.0 <= max(made)
        assert budget.spent == pytest.approx(sum(made)) and budget.calls == len(made)


def test_restore_continues_from_recorded_totals():
    budget = Budget(max_cost=1.0, max_calls=10)
    budget.restore(0.4, 9)
    r = budget.try_reserve(0.0)
    budget.settle(r, 0.1)
    assert budget.exhausted_reason().startswith("LLM call budget reached: 10 of --max-calls 10")
    budget.restore(0.1, 3)  # never lowers
    assert (budget.spent, budget.calls) == (pytest.approx(0.5), 10)


def test_unlimited_budget_never_refuses():
    budget = Budget()
    assert not budget.limited
    for _ in range(100):
        budget.settle(budget.try_reserve(1e6), 1e6)
    assert budget.exhausted_reason() is None
