"""`evolve init`: each template is a complete problem that loads, checks clean and scores its seed and baseline."""

import subprocess
import sys
from pathlib import Path

import pytest

from evolve.config import ConfigError
from evolve.evaluation import request_for
from evolve.evaluation.scoring import evaluate_program
from evolve.problem import load_problem
from evolve.problem_checks import check_folder
from evolve.scaffold import TEMPLATES, TEMPLATES_DIR, problem_name, scaffold

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_template_loads_checks_clean_and_its_seed_and_baseline_score(tmp_path, template):
    folder = scaffold(tmp_path / f"my-{template}", template)
    problem = load_problem(folder)
    assert problem.name == f"my-{template}"
    assert "{{name}}" not in (folder / "problem.toml").read_text() + (folder / "README.md").read_text()
    assert check_folder(problem) == []
    assert problem.baselines, "every template ships a baseline to beat"
    config = problem.config
    seed = evaluate_program(request_for(config, str(folder), problem.initial_code, "process"))
    baseline = evaluate_program(request_for(config, str(folder), next(iter(problem.baselines.values())), "process"))
    assert seed.complete and baseline.complete, (seed.failure_message, baseline.failure_message)
    better = baseline.score > seed.score if config.objective.maximize else baseline.score < seed.score
    assert better, f"the baseline ({baseline.score}) should beat the seed ({seed.score}): something to find"
    for axis in config.features:  # the seed lands inside every declared axis range
        assert axis.min <= seed.features[axis.name] <= axis.max


def test_each_template_shows_its_pattern():
    function = (TEMPLATES_DIR / "function" / "evaluate.py").read_text()
    simulator = (TEMPLATES_DIR / "simulator" / "evaluate.py").read_text()
    training = TEMPLATES_DIR / "training"
    assert function.count("candidate.call(") == 1
    assert "with candidate.worker() as worker:" in simulator and "from simulator import" in simulator
    assert "timeout=" in (training / "evaluate.py").read_text()
    toml = (training / "problem.toml").read_text()
    assert "[[stages]]" in toml and "holdout = true" in toml


def test_the_folder_must_be_new_or_empty(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists and is not an empty folder"):
        scaffold(tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    scaffold(tmp_path / "empty_ok")  # an empty folder is fine
    (tmp_path / "empty").mkdir()
    scaffold(tmp_path / "empty")
    assert (tmp_path / "empty" / "problem.toml").is_file()


def test_unknown_template_and_bad_names(tmp_path):
    with pytest.raises(ConfigError, match="unknown template 'notebook'; choose one of: function, simulator, training"):
        scaffold(tmp_path / "x", "notebook")
    with pytest.raises(ConfigError, match="letters, digits"):
        scaffold(tmp_path / "y", "function", name="my problem!")
    assert problem_name(Path("/a/My Problem (v2)")) == "My_Problem_v2"


def test_the_cli_creates_and_says_what_to_do_next(tmp_path):
    folder = tmp_path / "tsp"
    result = subprocess.run([sys.executable, "-m", "cli", "init", str(folder)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"next: evolve check {folder}" in result.stdout and (folder / "baselines" / "two_opt.py").is_file()
    again = subprocess.run([sys.executable, "-m", "cli", "init", str(folder), "--template", "nope"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "unknown template 'nope'" in again.stderr
