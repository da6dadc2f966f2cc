import random

from evolve.proposers.llm.reliability import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, RetryPolicy


def test_backoff_is_jittered_exponential_and_capped():
    policy = RetryPolicy(retries=5, backoff_s=1.0, max_backoff_s=5.0)
    rng = random.Random(0)
    for retry, base in enumerate([1, 2, 4, 5, 5]):
        delays = [policy.delay(retry, None, rng) for _ in range(200)]
        assert base * 0.5 <= min(delays) and max(delays) <= base
        assert max(delays) - min(delays) > base * 0.3  # jitter actually spreads retries


def test_retry_after_wins_but_is_capped():
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=10.0)
    rng = random.Random(0)
    assert policy.delay(0, 3.0, rng) == 3.0
    assert policy.delay(0, 3600.0, rng) == 10.0


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_breaker_opens_after_threshold_and_probes_once_half_open():
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == CLOSED
    breaker.record_failure()
    assert breaker.state == OPEN and not breaker.allow()
    assert breaker.seconds_until_trial() == 10
    clock.now = 10
    assert breaker.state == HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # a single trial at a time
    breaker.record_success()
    assert breaker.state == CLOSED and breaker.allow()


def test_failed_trial_reopens_with_a_longer_cooldown():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=10, clock=clock)
    breaker.record_failure()
    clock.now = 10
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN and breaker.seconds_until_trial() == 20
    clock.now = 30
    assert breaker.allow()
    breaker.cancel()  # the trial was not made after all: the next caller may probe
    assert breaker.allow()


def test_success_resets_the_consecutive_count():
    breaker = CircuitBreaker(threshold=2, cooldown_s=10, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == CLOSED
