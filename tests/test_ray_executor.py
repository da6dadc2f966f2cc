"""The Ray executor on a real local Ray cluster: a whole search through it, a worker killed mid-evaluation.

One Ray instance (``ray.init`` with local resources: Ray's local_mode is gone, so these are
real worker processes) serves the module. The test problem's trusted evaluator marks which
process scored each candidate and SIGKILLs its own Ray worker the first time it scores a
non-seed candidate, and always for the candidate that returns 13: the first must be
retried and scored, the second recorded as a failure, and neither lost.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

from evolve.evaluation import request_for  # noqa: E402
from evolve.evaluation.ray_executor import RETRIES, RayExecutor, pack  # noqa: E402
from evolve.loop.engine import execute  # noqa: E402
from evolve.problem import load_problem  # noqa: E402
from evolve.store.run import create_run  # noqa: E402
from sandbox import resolve  # noqa: E402

TINY = Path(__file__).resolve().parent / "fixture_problems" / "tiny"
EVALUATE = '''"""tiny, scored in a Ray worker that marks its pid and kills itself when told to."""

import os
import signal

from evaluators import Evaluation

MARKS = os.environ["EVOLVE_TEST_RAY_MARKS"]


def evaluate(candidate):
    value = float(candidate.call("run"))
    open(os.path.join(MARKS, f"pid-{os.getpid()}"), "a").close()
    if value == 13.0:  # this candidate's evaluation always kills its worker
        os.kill(os.getpid(), signal.SIGKILL)
    sentinel = os.path.join(MARKS, "killed-once")
    if value != 0.75 and not os.path.exists(sentinel):  # the first non-seed evaluation dies mid-way once
        with open(sentinel, "w") as handle:
            handle.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return Evaluation(score=-(value - 3.0) ** 2, metrics={"value": value})
'''


@pytest.fixture(scope="module")
def marks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray-marks")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"EVOLVE_TEST_RAY_MARKS": str(folder)}})
    yield folder
    ray.shutdown()


def dying_problem(tmp_path: Path) -> Path:
    folder = tmp_path / "dying"
    shutil.copytree(TINY, folder)
    (folder / "evaluate.py").write_text(EVALUATE)
    return folder


@pytest.mark.slow
def test_a_search_runs_through_ray_and_a_killed_worker_is_retried(marks, tmp_path):
    problem = load_problem(dying_problem(tmp_path))
    sandbox, _ = resolve("auto")
    config = problem.config.with_overrides("run", budget=8, seed=5, executor="ray", sandbox=sandbox)
    run = create_run(problem, config, tmp_path / "runs")
    progress = execute(run)
    totals = run.db.totals()
    assert totals.programs == 9 and totals.evaluated == 9 and run.db.unevaluated() == []
    failures = {p.id: p.evaluation.failure_kind for p in run.db.evaluated() if not p.evaluation.ok}
    assert failures == {}, failures  # the killed evaluation was retried and scored, not recorded as lost
    assert progress.succeeded == 9 and run.db.get_meta("status") == "finished"
    killed = int((marks / "killed-once").read_text())
    pids = {int(p.name.split("-")[1]) for p in marks.glob("pid-*")}
    assert killed in pids and os.getpid() not in pids  # scored in Ray workers, one of which died
    run.close()


@pytest.mark.slow
def test_an_evaluation_that_always_kills_its_worker_is_recorded(marks, tmp_path):
    problem = load_problem(dying_problem(tmp_path))
    sandbox, _ = resolve("auto")
    code = problem.initial_code.replace("return a * b + 0.25", "return 13.0")
    request = request_for(problem.config, str(problem.root), code, sandbox)
    executor = RayExecutor(max_in_flight=1, evaluation_timeout_s=120, check_sandbox=sandbox)
    try:
        result = asyncio.run(executor.evaluate(request))
    finally:
        executor.close()  # Ray itself belongs to the fixture: not shut down here
    assert not result.ok and result.failure_kind == "evaluator_error"
    assert f"died {RETRIES + 1} times" in result.failure_message
    assert ray.is_initialized()


def test_the_problem_bundle_is_deterministic(tmp_path):
    first = pack(TINY)
    copy = tmp_path / "copy"
    shutil.copytree(TINY, copy)
    os.utime(copy / "evaluate.py", (1, 1))
    assert pack(copy) == first  # same content, same bytes: nodes unpack a problem once per content hash
    (copy / "evaluate.py").write_text("changed\n")
    assert pack(copy) != first
