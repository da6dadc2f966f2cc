"""`evolve check`: one broken folder per kind of mistake, each with its own precise message."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evolve.config import ConfigError
from evolve.problem import load_problem
from evolve.problem_checks import check_folder

ROOT = Path(__file__).resolve().parent.parent

GOOD_TOML = """\
[problem]
name = "p"
description = "Return a number close to 3 from run()."

[limits]
timeout_s = 5.0
evaluation_timeout_s = 30.0
"""
GOOD_INITIAL = "# EVOLVE-BLOCK-START\ndef guess():\n    return 1.0\n# EVOLVE-BLOCK-END\n\n\ndef run():\n    return guess()\n"
GOOD_EVALUATE = (
    "from evaluators import Evaluation\n\n\ndef evaluate(candidate, context):\n"
    "    value = candidate.call('run')\n    return Evaluation(score=-abs(value - 3), features={'value': value})\n"
)


def folder(tmp_path: Path, toml: str = GOOD_TOML, initial: str = GOOD_INITIAL, evaluate: str = GOOD_EVALUATE,
           baselines: dict[str, str] | None = None) -> Path:
    root = tmp_path / "p"
    root.mkdir()
    (root / "problem.toml").write_text(toml)
    (root / "initial.py").write_text(initial)
    (root / "evaluate.py").write_text(evaluate)
    for name, code in (baselines or {}).items():
        (root / "baselines").mkdir(exist_ok=True)
        (root / "baselines" / f"{name}.py").write_text(code)
    return root


def load_error(root: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_problem(root)
    return str(caught.value)


def findings(root: Path) -> list[tuple[str, str]]:
    return [(f.level, str(f)) for f in check_folder(load_problem(root))]


def test_a_good_folder_has_no_findings(tmp_path):
    assert findings(folder(tmp_path)) == []


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("[search]\nislnds = 2\n", "search.islnds: unknown key 'islnds' in [search]; did you mean 'islands'?"),
        ("[serach]\nislands = 2\n", "serach: unknown table [serach] in the top level of problem.toml; did you mean [search]?"),
        ("[[features]]\nname = 'value'\nmin = 0\nmax = 5\nbin = 4\n", "features[0].bin: unknown key 'bin' in [[features]] number 1; did you mean 'bins'?"),
        ("[limits2]\n", "did you mean [limits]?"),
        ("[run]\nbudget = 'lots'\n", "run.budget: Input should be a valid integer"),
        ("[[features]]\nname = 'value'\nmin = 1\nmax = 0\n", "feature 'value': max (0.0) must be greater than min (1.0)"),
        ("[search]\nparent_selection = 'best'\n", "search.parent_selection: Input should be 'uniform', 'fitness', 'curiosity' or 'go_explore' (got 'best')"),
    ],
)
def test_problem_toml_mistakes_name_the_field_and_the_fix(tmp_path, extra, expected):
    assert expected in load_error(folder(tmp_path, toml=GOOD_TOML + extra))


def test_a_missing_required_key_says_where_it_goes(tmp_path):
    text = load_error(folder(tmp_path, toml=GOOD_TOML.replace('name = "p"\n', "")))
    assert "problem.name: required, but missing; add `name = ...` under [problem]" in text


def test_unbalanced_markers_name_the_line(tmp_path):
    text = load_error(folder(tmp_path, initial="def run():\n    return 1\n# EVOLVE-BLOCK-END\n"))
    assert "initial.py" in text and "EVOLVE-BLOCK-END at line 3 has no matching" in text


def test_a_seed_that_does_not_compile_names_the_line(tmp_path):
    text = load_error(folder(tmp_path, initial="# EVOLVE-BLOCK-START\ndef run(:\n# EVOLVE-BLOCK-END\n"))
    assert "initial.py:2: the seed program does not compile" in text


def test_a_missing_evaluator_is_named(tmp_path):
    root = folder(tmp_path)
    (root / "evaluate.py").unlink()
    assert "evaluate.py: missing" in load_error(root)


@pytest.mark.parametrize(
    "evaluate, expected",
    [
        ("def evaluate(candidate, context):\n    return (\n", "evaluate.py:2: does not compile"),
        ("def score(candidate):\n    pass\n", "evaluate.py: defines no top-level function evaluate"),
        ("def evaluate():\n    pass\n", "evaluate.py:1: evaluate() takes no parameters"),
        ("def evaluate(candidate, context, extra):\n    pass\n", "evaluate(candidate, context, extra) requires 3 arguments"),
        ("async def evaluate(candidate, context):\n    pass\n", "evaluate is `async def`"),
        ("def evaluate(candidate, context, *, mode):\n    pass\n", "keyword-only parameter 'mode' has no default"),
    ],
)
def test_evaluator_signature_mistakes(tmp_path, evaluate, expected):
    found = findings(folder(tmp_path, evaluate=evaluate))
    assert [level for level, _ in found] == ["error"], found
    assert expected in found[0][1]


def test_stages_need_an_evaluator_that_takes_the_context(tmp_path):
    toml = GOOD_TOML + "[[stages]]\nname = 'quick'\nthreshold = -5\n\n[[stages]]\nname = 'full'\n"
    evaluate = GOOD_EVALUATE.replace("def evaluate(candidate, context):", "def evaluate(candidate):")
    (level, text), = findings(folder(tmp_path, toml=toml, evaluate=evaluate))
    assert level == "error" and "declares 2 [[stages]], but evaluate(candidate) takes no context" in text


def test_a_holdout_split_needs_an_evaluator_that_takes_the_context(tmp_path):
    evaluate = GOOD_EVALUATE.replace("def evaluate(candidate, context):", "def evaluate(candidate):")
    (level, text), = findings(folder(tmp_path, toml=GOOD_TOML + "[evaluation]\nholdout = true\n", evaluate=evaluate))
    assert level == "error" and "cannot tell the holdout split from the search split" in text


def test_an_entry_point_the_seed_does_not_define(tmp_path):
    evaluate = GOOD_EVALUATE.replace("candidate.call('run')", "candidate.call('solve')")
    (level, text), = findings(folder(tmp_path, evaluate=evaluate))
    assert level == "error" and "initial.py: defines no top-level solve, which evaluate.py:5 calls" in text


def test_an_entry_point_called_on_a_worker_counts_too(tmp_path):
    evaluate = ("from evaluators import Evaluation\n\n\ndef evaluate(candidate, context):\n"
                "    with candidate.worker() as w:\n        value = w.call('step', 1)\n    return Evaluation(score=value)\n")
    (level, text), = findings(folder(tmp_path, evaluate=evaluate))
    assert level == "error" and "defines no top-level step, which evaluate.py:6 calls" in text


def test_a_baseline_without_the_entry_point(tmp_path):
    (level, text), = findings(folder(tmp_path, baselines={"ref": "def guess():\n    return 3.0\n"}))
    assert level == "error" and "baselines/ref.py: defines no top-level run" in text


def test_a_baseline_that_does_not_compile(tmp_path):
    (level, text), = findings(folder(tmp_path, baselines={"ref": "def run(:\n"}))
    assert level == "error" and "baselines/ref.py:1: does not compile" in text


def test_no_markers_is_a_warning_naming_them(tmp_path):
    (level, text), = findings(folder(tmp_path, initial="def run():\n    return 1.0\n"))
    assert level == "warning" and "has no # EVOLVE-BLOCK-START / # EVOLVE-BLOCK-END markers" in text


def test_an_entry_point_inside_the_block_is_a_warning(tmp_path):
    initial = "# EVOLVE-BLOCK-START\ndef run():\n    return 1.0\n# EVOLVE-BLOCK-END\n"
    (level, text), = findings(folder(tmp_path, initial=initial))
    assert level == "warning" and text.startswith("initial.py:2: run, which evaluate.py calls, is inside the EVOLVE-BLOCK")


def test_a_duplicate_feature_axis(tmp_path):
    axis = "[[features]]\nname = 'value'\nmin = 0\nmax = 5\n"
    (level, text), = findings(folder(tmp_path, toml=GOOD_TOML + axis + axis))
    assert level == "error" and "feature 'value' is declared twice" in text


def test_a_grid_too_large_to_fill(tmp_path):
    axes = "".join(f"[[features]]\nname = 'f{i}'\nmin = 0\nmax = 1\nbins = 100\n" for i in range(3))
    (level, text), = findings(folder(tmp_path, toml=GOOD_TOML + axes))
    assert level == "warning" and "3,000,000 archive cells" in text


@pytest.mark.parametrize(
    "limits, expected",
    [
        ("timeout_s = 40.0\nevaluation_timeout_s = 30.0\n", "timeout_s (40 s) is not below evaluation_timeout_s (30 s)"),
        ("timeout_s = 5.0\nevaluation_timeout_s = 30.0\ncpu_s = 2.0\n", "cpu_s (2 s) is below timeout_s (5 s)"),
    ],
)
def test_limits_that_contradict_each_other(tmp_path, limits, expected):
    toml = GOOD_TOML.split("[limits]")[0] + "[limits]\n" + limits
    (level, text), = findings(folder(tmp_path, toml=toml))
    assert level == "warning" and expected in text


def evolve(*args):
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_the_cli_stops_before_scoring_on_an_error_and_prints_every_finding(tmp_path):
    root = folder(tmp_path, evaluate="def evaluate():\n    pass\n", initial="def run():\n    return 1.0\n")
    result = evolve("check", root)
    assert result.returncode == 2
    assert "error: evaluate.py:1: evaluate() takes no parameters" in result.stderr
    assert "warning: initial.py: has no # EVOLVE-BLOCK-START" in result.stderr
    assert "1 error(s) to fix before the problem can be scored" in result.stderr
    data = json.loads(evolve("check", root, "--json").stdout)
    assert data["valid"] is False and [f["level"] for f in data["findings"]] == ["error", "warning"]


def test_the_cli_warns_about_a_feature_outside_its_range_after_scoring(tmp_path):
    toml = GOOD_TOML + "[[features]]\nname = 'value'\nmin = 2\nmax = 5\n"
    result = evolve("check", folder(tmp_path, toml=toml))
    assert result.returncode == 0, result.stderr
    assert "warning: initial.py: feature value = 1 lies outside its axis range [2, 5]" in result.stderr
