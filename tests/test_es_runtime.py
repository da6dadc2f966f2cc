"""The ES task runtime and the trusted checks on what an ES returns (no sandbox: plain function calls)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evaluators import InvalidOutput  # noqa: E402
from evaluators.es_runtime import ESTask, es_linear, es_members, make_es_task  # noqa: E402
from evaluators.es_workloads import TASKS, check_gradient_free, checked_params, rescore, task_spec  # noqa: E402


def test_low_rank_forward_equals_the_materialised_perturbation():
    """y = x W^T + (x B_i) A_i^T must equal x (W + A_i B_i^T)^T, with x shared or per member."""
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(5, 7, generator=g), torch.randn(5, generator=g)
    a, bb = torch.randn(4, 5, 2, generator=g), torch.randn(4, 7, 2, generator=g)
    dense = a @ bb.transpose(1, 2)
    for x in (torch.randn(3, 7, generator=g), torch.randn(4, 3, 7, generator=g)):
        expected = torch.stack([(x if x.dim() == 2 else x[i]) @ (w + dense[i]).T + b for i in range(4)])
        torch.testing.assert_close(es_linear(x, w, b, (a, bb)), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(es_linear(x, w, b, dense), expected, rtol=1e-5, atol=1e-5)


def test_fitness_counts_members_and_noise_memory():
    task = make_es_task(task_spec("digits", 0))
    params = task.initial_params()
    n = 6
    low = {"W1": (torch.randn(n, 32, 1), torch.randn(n, 64, 1))}
    fitness = task.fitness(params, low)
    assert fitness.shape == (n,) and torch.isfinite(fitness).all()
    assert task.evaluations == n and task.max_population == n
    assert task.noise_fraction == pytest.approx((32 + 64) / task.num_params)
    task.fitness(params, {name: torch.zeros(3, *shape) for name, shape in task.shapes.items()})
    assert task.evaluations == n + 3 and task.noise_fraction == pytest.approx(1.0)
    task.fitness(params)
    assert task.evaluations == n + 4


def test_low_rank_and_dense_members_score_alike_on_the_mlp():
    task = make_es_task(task_spec("digits", 0))
    params = task.initial_params()
    a, b = torch.randn(4, 32, 2) * 0.1, torch.randn(4, 64, 2)
    x = torch.as_tensor(task.x[:50])
    low = task.logits(params, {"W1": (a, b)}, x)
    dense = task.logits(params, {"W1": a @ b.transpose(1, 2)}, x)
    torch.testing.assert_close(low, dense, rtol=1e-4, atol=1e-5)
    assert torch.equal(es_members(params, {}, 2)["W1"][1], params["W1"])


@pytest.mark.parametrize("function", ["sphere", "ellipsoid", "rastrigin"])
def test_black_box_optimum_is_the_hidden_shift(function):
    task = make_es_task(task_spec(function, 0))
    assert float(task.value(task.shift[None])[0]) == pytest.approx(0.0, abs=1e-9)
    start = float(task.value(task.to_vector(task.initial_params())[None])[0])
    assert start > 1.0


def test_balancing_policy_outscores_pushing_one_way():
    """A hand-made controller (push towards the pole's lean) beats a constant push on the trusted rollout."""
    task = make_es_task(task_spec("cartpole", 0))
    params = {name: torch.zeros(shape) for name, shape in task.shapes.items()}
    push_right = {**params, "b2": torch.tensor([0.0, 1.0])}
    balance = dict(params)
    balance["W1"] = torch.zeros(16, 4)
    balance["W1"][0] = torch.tensor([0.0, 0.5, 5.0, 1.0])  # h0 ~ lean + angular velocity
    balance["W2"] = torch.zeros(2, 16)
    balance["W2"][1, 0] = 1.0  # push right when leaning right
    g = torch.Generator().manual_seed(3)
    pushed = float(task.returns(push_right, {}, 1, 8, g).mean())
    balanced = float(task.returns(balance, {}, 1, 8, torch.Generator().manual_seed(3)).mean())
    assert pushed < 20 < 150 < balanced <= task.horizon


def _report(task: ESTask, params):
    task.evaluations = min(task.evaluations, task.budget)
    return task.report(params)


def test_checked_params_accepts_the_runtime_report():
    spec = task_spec("digits", 0)
    task = make_es_task(spec)
    params = checked_params(_report(task, task.initial_params()), spec)
    assert set(params) == set(task.shapes) and all(v.dtype == np.float32 for v in params.values())
    score, details = rescore(spec, params, "search", eval_seed=1)
    assert 0.0 <= score < 0.2 and 0.0 <= details["accuracy"] <= 0.3  # untrained: near chance


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: {**p, "W1": p["W1"].double()}, "dtype torch.float64"),
        (lambda p: {**p, "W1": p["W1"].to("meta")}, "is on meta"),
        (lambda p: {**p, "W1": p["W1"][:3]}, "shape"),
        (lambda p: {**p, "W1": torch.full_like(p["W1"], float("nan"))}, "not finite"),
        (lambda p: {**p, "W1": p["W1"].numpy()}, "is a ndarray"),
        (lambda p: {k: v for k, v in p.items() if k != "b2"}, "no parameter 'b2'"),
        (lambda p: {**p, "W9": p["W1"]}, "unknown parameter 'W9'"),
        (lambda p: list(p.values()), "returned a list"),
    ],
)
def test_checked_params_rejects_bad_parameters(mutate, message):
    spec = task_spec("digits", 0)
    task = make_es_task(spec)
    bad = mutate(task.initial_params())
    try:
        report = _report(task, bad)
    except (NotImplementedError, RuntimeError):  # meta tensors cannot be copied: fake what a report says
        report = _report(task, task.initial_params())
        report["kinds"]["W1"]["device"] = "meta"
    with pytest.raises(InvalidOutput, match=message):
        checked_params(report, spec)


def test_checked_params_rejects_overspending_the_budget():
    spec = task_spec("sphere", 0)
    task = make_es_task(spec)
    report = task.report(task.initial_params())
    report["evaluations"] = spec["budget"] + 1
    with pytest.raises(InvalidOutput, match="more than the budget"):
        checked_params(report, spec)


@pytest.mark.parametrize("line", ["loss.backward()", "torch.autograd.grad(f, x)", "x.requires_grad_(True)",
                                  "with torch.enable_grad():", "g = x.grad", "torch.func.grad(f)"])
def test_gradient_use_is_rejected_naming_the_line(line):
    with pytest.raises(InvalidOutput, match="line 3 uses"):
        check_gradient_free(f"import torch\n\n{line}\n")


def test_names_and_comments_that_only_look_alike_pass():
    check_gradient_free("gradient = 1\ngrad = 2  # no autograd, no .backward() here\ns = 'requires_grad'\n")


def test_every_task_has_a_spec_on_both_scales():
    for task in TASKS:
        cpu, gpu = task_spec(task, 0, "cpu"), task_spec(task, 0, "cuda")
        assert gpu["device"] == "cuda:0" and gpu["budget"] > cpu["budget"]
        assert math.prod(make_es_task(cpu).shapes[next(iter(make_es_task(cpu).shapes))]) > 0


def test_throughput_bench_methods_compute_the_same_network_at_zero_noise():
    """bench/es_throughput.py times three forms of one generation; with sigma = 0 they must agree."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "es_throughput.py"
    spec = importlib.util.spec_from_file_location("es_throughput", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    weights = bench.make_weights(16, torch.device("cpu"), torch.float32)
    x = torch.randn(6, 3, 16)
    reference = bench.inference(x, weights, 0.0, 1).reshape(6, 3, 16)
    for name in ("lowrank", "fullrank"):
        torch.testing.assert_close(bench.METHODS[name](x, weights, 0.0, 2), reference, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(bench.lowrank(x, weights, 0.5, 1), reference)
