"""The trusted LR-schedule trainer: batched runs, LR validation, divergence, references, shape features."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evaluators import InvalidOutput  # noqa: E402
from evaluators import lr_harness as H  # noqa: E402
from evaluators.lr_workloads import WORKLOADS, prepare  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_runs_of_a_sweep_do_not_interact():
    """Seed 0's runs train the same whether seed 1's runs share the batch or not."""
    both = H.train(prepare("logistic", 60, (0, 1)), H.LINEAR(prepare("logistic", 60, (0, 1))))
    alone_sweep = prepare("logistic", 60, (0,))
    alone = H.train(alone_sweep, H.LINEAR(alone_sweep))
    per_lr = len(WORKLOADS["logistic"].base_lrs)
    torch.testing.assert_close(both.val_loss[:per_lr], alone.val_loss, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["logistic", "mlp", "transformer"])
def test_every_workload_trains_towards_its_bayes_loss(name):
    sweep = prepare(name, 40, (0,))
    with torch.no_grad():
        before = sweep.val_loss(sweep.params).clone()
    result = H.train(sweep, H.LINEAR(sweep))
    bayes = float(sweep.bayes[0])
    assert result.diverged == 0
    assert (result.val_loss < before).any()
    assert (result.val_loss >= bayes - 1e-4).all()  # expected CE is never below the teacher's entropy


def test_linear_decay_beats_constant_on_the_convex_workload():
    """The ordering the problem rests on (Defazio et al.), with a wide margin at this budget."""
    losses = {}
    for label, make in (("linear", H.LINEAR), ("constant", H.CONSTANT)):
        sweep = prepare("logistic", 300, (0, 1))
        losses[label], _ = H.best_of_grid(sweep, H.train(sweep, make(sweep)))
    bayes = float(prepare("logistic", 300, (0, 1)).bayes.mean())
    assert H.relative_improvement(losses["constant"], losses["linear"], bayes) == pytest.approx(-0.70, abs=0.1)


def test_a_blown_up_run_scores_no_better_than_its_initial_loss():
    sweep = prepare("logistic", 50, (0,))
    with torch.no_grad():
        initial = sweep.val_loss(sweep.params).clone()
    result = H.train(sweep, H.multiplier_schedule(lambda t, T: np.full(t.shape, 1e4))(sweep))
    assert torch.isfinite(result.val_loss).all() and (result.val_loss <= initial + 1e-6).all()


def test_a_run_whose_loss_stops_being_finite_is_frozen_and_counted():
    sweep = prepare("mlp", 20, (0,))
    with torch.no_grad():
        initial = sweep.val_loss(sweep.params).clone()
    result = H.train(sweep, H.multiplier_schedule(lambda t, T: np.where(t == 3, np.inf, 1.0))(sweep))
    assert result.diverged == sweep.runs
    torch.testing.assert_close(result.val_loss, initial)
    assert (result.lrs[5:] == 0).all()  # frozen: no further steps


@pytest.mark.parametrize(
    "values, message",
    [
        ([0.1] * 7, "expected 8 learning rates"),
        ("0.1", "expected 8 learning rates"),
        ([0.1] * 7 + [float("nan")], "run 7 .*not a finite number"),
        ([0.1] * 7 + [float("inf")], "not a finite number"),
        ([-0.1] + [0.1] * 7, "run 0 .*negative"),
        ([1e3] + [0.1] * 7, "more than 100 x base_lr"),
        ([True] + [0.1] * 7, "returned a bool"),
        (["fast"] + [0.1] * 7, "returned a str"),
        ([[0.1]] + [0.1] * 7, "returned a list"),
    ],
)
def test_invalid_learning_rates_are_rejected_naming_the_step(values, message):
    sweep = prepare("logistic", 20, (0, 1))
    with pytest.raises(InvalidOutput, match=message) as info:
        H.checked_rates(values, 17, sweep)
    assert "step 17" in str(info.value)


def test_valid_learning_rates_pass_as_float32():
    sweep = prepare("logistic", 20, (0, 1))
    rates = H.checked_rates([0, 0.5, 1, 2.0, 0.1, 0.3, 1.0, 3.0], 0, sweep)
    assert rates.dtype == torch.float32 and rates.shape == (8,)


@pytest.mark.parametrize(
    "multiplier, warmup, anneal",
    [
        (lambda t, T: 1 - t / T, 0.0, 0.95),
        (lambda t, T: np.ones(t.shape), 0.0, 0.0),
        (lambda t, T: np.minimum(1.0, (T - t) / (0.2 * T)), 0.0, 0.19),
        (lambda t, T: np.minimum((t + 1) / (0.1 * T), 1 - t / T), 0.095, 0.85),
    ],
)
def test_schedule_shape_features(multiplier, warmup, anneal):
    steps, base = 200, np.array([0.1, 1.0])
    lrs = np.outer(multiplier(np.arange(steps), steps), base)
    got = H.schedule_shape(lrs, base)
    assert got == pytest.approx((warmup, anneal), abs=0.011)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["logistic", "mlp", "transformer"])
def test_workloads_train_on_cuda(name):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: torch.cuda.is_available() is False")
    sweep = prepare(name, 30, (0, 1), "cuda:0")
    assert sweep.base_lrs.device.type == "cuda"
    result = H.train(sweep, H.LINEAR(sweep))
    assert result.diverged == 0 and torch.isfinite(result.val_loss).all()
    assert (result.val_loss.cpu() >= sweep.bayes.cpu().repeat_interleave(4) - 1e-4).all()
