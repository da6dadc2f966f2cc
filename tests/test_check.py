"""`evolve check`: the evaluator's own exception in full, the evaluation timeout, JSON output, holdout."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGED = ROOT / "tests" / "fixture_problems" / "staged"


def evolve(*args):
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


def _copy(tiny_problem: Path, tmp_path: Path, evaluate: str, toml_extra: str = "") -> Path:
    folder = tmp_path / "p"
    shutil.copytree(tiny_problem, folder)
    (folder / "evaluate.py").write_text(evaluate)
    if toml_extra:
        (folder / "problem.toml").write_text((folder / "problem.toml").read_text() + toml_extra)
    return folder


def test_the_evaluators_exception_is_printed_with_type_message_and_frames(tiny_problem, tmp_path):
    folder = _copy(tiny_problem, tmp_path, "def evaluate(candidate):\n    return candidate.no_such_method()\n")
    result = evolve("check", folder)
    assert result.returncode == 1
    assert "AttributeError" in result.stderr and "no_such_method" in result.stderr
    assert "evaluate.py" in result.stderr and "line 2" in result.stderr  # the trusted-side frame


def test_the_evaluation_timeout_applies(tiny_problem, tmp_path):
    folder = _copy(tiny_problem, tmp_path, "import time\n\ndef evaluate(candidate):\n    time.sleep(600)\n")
    toml = (folder / "problem.toml").read_text().replace("evaluation_timeout_s = 30.0", "evaluation_timeout_s = 2.0")
    (folder / "problem.toml").write_text(toml)
    result = evolve("check", folder, "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    (seed,) = data["programs"]
    assert seed["failure_kind"] == "timeout" and "evaluation_timeout_s" in seed["failure_message"] and not data["valid"]


def test_json_lists_seed_and_baselines_on_both_splits():
    result = evolve("check", STAGED, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["programs"]
    assert [(r["program"], r["split"]) for r in rows] == [("initial.py", "search"), ("initial.py", "holdout")]
    search, holdout = rows
    assert search["ok"] and search["score"] == -1.0 and search["stage"] == 1
    assert holdout["ok"] and holdout["score"] == -(1.25**2) and holdout["feedback"] == "HOLDOUT-FEEDBACK-7781"


def test_human_output_of_circle_packing_still_lists_the_baseline():
    result = evolve("check", "circle_packing")
    assert result.returncode == 0, result.stderr
    assert "initial.py" in result.stdout and "baselines/square_grid.py" in result.stdout and "2.54" in result.stdout
