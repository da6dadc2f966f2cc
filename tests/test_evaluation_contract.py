"""The evaluator contract on the trusted side: context, cascade stages, holdout, richer verdicts,
failure classification, and the trusted process's own memory cap. Real sandboxes throughout."""

import asyncio
import textwrap
from pathlib import Path

import pytest

from evolve.evaluation import evaluate_program, request_for
from evolve.evaluation.executor import LocalExecutor
from evolve.evaluation.request import evaluation_seed
from evolve.problem import load_problem

STAGED = Path(__file__).resolve().parent / "fixture_problems" / "staged"


def _request(problem_dir: Path, code: str | None = None, **kwargs):
    problem = load_problem(problem_dir)
    return request_for(problem.config, str(problem.root), code or problem.initial_code, "process", **kwargs)


def _folder(tmp_path: Path, evaluate: str, toml: str = "", initial: str = "def run():\n    return 2.0\n") -> Path:
    folder = tmp_path / "problem"
    folder.mkdir()
    (folder / "problem.toml").write_text('[problem]\nname = "p"\ndescription = "d"\n' + textwrap.dedent(toml))
    (folder / "initial.py").write_text(initial)
    (folder / "evaluate.py").write_text(textwrap.dedent(evaluate))
    return folder


def test_both_stages_run_and_the_verdict_carries_instances_private_and_objectives():
    result = evaluate_program(_request(STAGED, program_id=7))
    assert result.ok and result.complete and (result.stage, result.stages) == (1, 2)
    assert result.stage_scores == pytest.approx([-1.0, -1.0])
    assert result.instances == {"near": pytest.approx(-1.0), "far": pytest.approx(-4.0)}
    assert result.private == {"secret_gauge": 515151.0} and result.objectives == {"distance": 1.0}
    assert result.metrics["seed_mod_1000"] == evaluation_seed(0, 7) % 1000  # the context's seed


def test_a_stage_score_below_its_bar_stops_the_cascade():
    far = "def run():\n    return -5.0\n"  # quick: -|(-5) - 3| = -8 < -1.5
    result = evaluate_program(_request(STAGED, far))
    assert result.ok and not result.complete and result.stage == 0 and result.stage_scores == [-8.0]
    assert result.score == -8.0 and "quick look" in result.feedback


def test_a_top_fraction_bar_is_passed_in_by_the_caller():
    result = evaluate_program(_request(STAGED, stage_bars=(-0.5, None)))  # seed's quick score -1 misses it
    assert result.ok and not result.complete and result.stage == 0


def test_holdout_runs_only_the_last_stage_on_other_data():
    result = evaluate_program(_request(STAGED, split="holdout"))
    assert result.ok and result.complete and result.stage_scores == [pytest.approx(-(1.25**2))]
    assert result.feedback == "HOLDOUT-FEEDBACK-7781" and result.private == {"secret_gauge": 424242.0}


def test_evaluation_seed_depends_on_run_seed_and_program_only():
    assert evaluation_seed(3, 10) == evaluation_seed(3, 10)
    assert len({evaluation_seed(3, 10), evaluation_seed(3, 11), evaluation_seed(4, 10)}) == 3


def test_one_argument_evaluators_still_work(tiny_problem):
    result = evaluate_program(_request(tiny_problem))
    assert result.ok and result.complete and result.stages == 1


def test_stages_without_a_context_parameter_is_an_evaluator_error(tmp_path):
    folder = _folder(
        tmp_path,
        "from evaluators import Evaluation\n\ndef evaluate(candidate):\n    return Evaluation(score=1.0)\n",
        '[[stages]]\nname = "a"\nthreshold = 0\n[[stages]]\nname = "b"\n',
    )
    result = evaluate_program(_request(folder))
    assert result.failure_kind == "evaluator_error" and "takes no context" in result.failure_message


def test_a_huge_int_from_the_candidate_is_invalid_output_not_an_evaluator_error(tmp_path):
    folder = _folder(
        tmp_path,
        """
        from evaluators import Evaluation

        def evaluate(candidate):
            value = candidate.call("run")
            return Evaluation(score=-(float(value) - 3.0) ** 2)
        """,
        initial="def run():\n    return 10 ** 400\n",
    )
    result = evaluate_program(_request(folder))
    assert result.failure_kind == "invalid_output" and "out of range" in result.failure_message


def test_a_huge_int_score_is_invalid_output(tmp_path):
    folder = _folder(
        tmp_path,
        "from evaluators import Evaluation\n\ndef evaluate(candidate):\n    return Evaluation(score=candidate.call('run'))\n",
        initial="def run():\n    return 10 ** 400\n",
    )
    result = evaluate_program(_request(folder))
    assert result.failure_kind == "invalid_output" and "score" in result.failure_message


def test_a_runaway_trusted_evaluation_is_a_memory_failure_and_the_slot_goes_on(tmp_path):
    folder = _folder(
        tmp_path,
        """
        from evaluators import Evaluation

        def evaluate(candidate):
            if candidate.call("run") > 1:
                hog = bytearray(3 << 30)  # 3 GB on the trusted side
            return Evaluation(score=1.0)
        """,
    )
    executor = LocalExecutor(1, 60, evaluator_memory_mb=512)

    async def two():
        hog = await executor.evaluate(_request(folder))
        fine = await executor.evaluate(_request(folder, "def run():\n    return 0\n"))
        return hog, fine

    try:
        hog, fine = asyncio.run(two())
    finally:
        executor.close()
    assert hog.failure_kind == "memory" and "evaluator_memory_mb" in hog.failure_message
    assert fine.ok and fine.score == 1.0


def test_the_context_names_split_stage_device_and_a_private_scratch_dir(tmp_path):
    folder = _folder(
        tmp_path,
        """
        import os
        from evaluators import Evaluation

        def evaluate(candidate, context):
            assert os.path.isdir(context.scratch_dir) and not os.listdir(context.scratch_dir)
            open(os.path.join(context.scratch_dir, "checkpoint"), "w").write("x")
            return Evaluation(score=1.0, metrics={"stage": context.stage, "cpu": float(context.device == "cpu"),
                                                  "holdout": float(context.is_holdout), "gpus": len(context.gpus)})
        """,
    )
    result = evaluate_program(_request(folder))
    assert result.ok and result.metrics == {"stage": 0.0, "cpu": 1.0, "holdout": 0.0, "gpus": 0.0}


def test_an_evaluator_may_define_dataclasses(tmp_path):
    folder = _folder(
        tmp_path,
        """
        from dataclasses import dataclass
        from evaluators import Evaluation

        @dataclass
        class Workload:
            name: str
            target: float

        def evaluate(candidate):
            load = Workload("w", 2.0)
            return Evaluation(score=-abs(candidate.call("run") - load.target))
        """,
    )
    result = evaluate_program(_request(folder))
    assert result.ok and result.score == 0.0
