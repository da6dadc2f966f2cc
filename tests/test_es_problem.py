"""problems/es end to end: real sandboxed workers run the candidate's ES, the evaluator re-scores.

The candidate needs torch inside the sandbox. A worker started from a virtual environment
sees only the base interpreter's site-packages today (sandbox/worker_main.py adds
site.getsitepackages() under -S, where sys.prefix is the base prefix), so where the default
sandbox cannot import torch these tests start spawned workers with PYTHONPATH set to this
interpreter's site-packages (plain directories: no .pth hooks run, the engine's packages stay
unimportable). Once workers see their environment's packages the shim is unused.
"""

import importlib.util
import os
import site
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from evaluators import Candidate, EvaluationContext, InvalidOutput  # noqa: E402
from sandbox import CandidateFailure, Limits, get_sandbox  # noqa: E402

PROBLEM = Path(__file__).resolve().parents[1] / "problems" / "es"
QUICK = EvaluationContext(split="search", stage=0, stages=2)
FULL = EvaluationContext(split="search", stage=1, stages=2)
HOLDOUT = EvaluationContext(split="holdout", stage=1, stages=2)
LIMITS = Limits(timeout_s=300, memory_mb=4096)
SEED = (PROBLEM / "initial.py").read_text()


def _load_evaluator():
    spec = importlib.util.spec_from_file_location("es_evaluate", PROBLEM / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def evaluator():
    return _load_evaluator()


@pytest.fixture(scope="module")
def make_candidate():
    """Candidates whose workers can import torch (natively, or through the PYTHONPATH shim)."""
    warm = get_sandbox("process", preload=("numpy", "torch"))
    try:
        with warm.start("import torch\nimport cma\n", LIMITS):
            pass
        return lambda source: Candidate(source, warm, LIMITS)
    except CandidateFailure:
        path = os.pathsep.join(site.getsitepackages())
        spawned = get_sandbox("process", warm=False)
        return lambda source: Candidate(source, spawned, LIMITS, extra_env={"PYTHONPATH": path})


def test_seed_quick_stage(evaluator, make_candidate):
    verdict = evaluator.evaluate(make_candidate(SEED), QUICK)
    assert list(verdict.instances) == ["sphere/seed0"]
    assert verdict.score == pytest.approx(0.355, abs=0.05)
    assert verdict.features["log10_noise_per_member"] == 0.0  # full-rank noise
    assert verdict.features["log2_population"] == pytest.approx(6.9, abs=0.1)  # 120 members
    assert verdict.objectives["members_per_second"] > 0
    assert "sphere" in verdict.feedback


def test_low_rank_seed_variant_reports_its_memory(evaluator, make_candidate):
    verdict = evaluator.evaluate(make_candidate(SEED.replace("RANK = 0 ", "RANK = 1 ")), QUICK)
    assert verdict.features["log10_noise_per_member"] == pytest.approx(-0.7, abs=0.01)  # (10 + 10) / 100


@pytest.mark.parametrize(
    "edit, message",
    [
        (("    return params\n", "    return {k: v.double() for k, v in params.items()}\n"), "dtype torch.float64"),
        (("    return params\n", "    return {k: v * float('nan') for k, v in params.items()}\n"), "not finite"),
        (("    return params\n", "    task.fitness(params)\n    return params\n"), "more than the budget"),
        (("    return params\n", "    return [params]\n"), "returned a list"),
        (("    return params\n", "    return {k: v.cpu().numpy() for k, v in params.items()}\n"), "is a ndarray"),
        (("    step = 0\n", "    step = 0\n    params['x'].requires_grad_(True)\n"), "uses .requires_grad_"),
    ],
)
def test_invalid_results_are_rejected_with_the_reason(evaluator, make_candidate, edit, message):
    old, new = edit
    assert old in SEED
    with pytest.raises(InvalidOutput, match=message):
        evaluator.evaluate(make_candidate(SEED.replace(old, new)), QUICK)


def test_a_reported_fitness_is_never_believed(evaluator, make_candidate):
    """A candidate that returns its start point unchanged scores zero progress, whatever it prints or claims."""
    lazy = SEED.replace("def train(task, params, generator):\n", "def train(task, params, generator):\n    print('fitness 1e9')\n    return params\n", 1)
    verdict = evaluator.evaluate(make_candidate(lazy), QUICK)
    assert verdict.score == 0.0


# Pinned on the development machine (python problems/es/evaluate.py --split search|holdout ...). An ES
# trajectory amplifies rounding differences, and a CartPole instance can flip between balancing and
# falling, so a BLAS build with other kernels may move one instance a lot: the tolerance allows one
# such flip in ten instances; the sphere instances, smooth and far apart, pin the ordering tightly.
@pytest.mark.slow
@pytest.mark.parametrize(
    "program, search, sphere",
    [("initial.py", 0.620, 0.37), ("baselines/eggroll.py", 0.619, 0.37), ("baselines/cma_es.py", 0.791, 0.94)],
)
def test_baseline_scores_on_the_search_split(evaluator, make_candidate, program, search, sphere):
    verdict = evaluator.evaluate(make_candidate((PROBLEM / program).read_text()), FULL)
    assert len(verdict.instances) == 10
    assert verdict.score == pytest.approx(search, abs=0.08)
    assert verdict.metrics["sphere"] == pytest.approx(sphere, abs=0.05)


@pytest.mark.slow
def test_seed_score_on_the_holdout_split(evaluator, make_candidate):
    verdict = evaluator.evaluate(make_candidate(SEED), HOLDOUT)
    assert sorted(verdict.instances)[:2] == ["cartpole/seed1000", "cartpole/seed1001"]  # other instance seeds
    assert verdict.score == pytest.approx(0.647, abs=0.08)


@pytest.mark.gpu
def test_seed_quick_stage_on_cuda(evaluator):
    """The GPU configuration: same code, larger task, candidate and re-scoring on the device."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: torch.cuda.is_available() is False")
    limits = Limits(timeout_s=600, memory_mb=32768, gpu_devices=("0",))
    source = SEED
    try:
        cand = Candidate(source, get_sandbox("process", warm=False), limits)
        verdict = evaluator.evaluate(cand, EvaluationContext(split="search", stage=0, stages=2, device="cuda:0", gpus=("0",)))
    except CandidateFailure as failure:  # the venv shim (module docstring) for workers that cannot import torch
        if "No module named 'torch'" not in failure.message:
            raise
        path = os.pathsep.join(site.getsitepackages())
        cand = Candidate(source, get_sandbox("process", warm=False), limits, extra_env={"PYTHONPATH": path})
        verdict = evaluator.evaluate(cand, EvaluationContext(split="search", stage=0, stages=2, device="cuda:0", gpus=("0",)))
    assert 0.1 < verdict.score <= 1.0
    assert verdict.features["log2_population"] > 11  # the GPU budget scales the seed's population
