import pytest

from evolve.config import ConfigError, FeatureAxis, parse_problem_config
from evolve.problem import load_problem

BASE = {"problem": {"name": "p", "description": "d"}}


def test_defaults_and_generic_code_size_axis():
    config = parse_problem_config(BASE)
    assert config.objective.maximize
    assert [a.name for a in config.feature_axes()] == ["code_size"]


def test_two_declared_axes_suppress_code_size():
    data = {**BASE, "features": [{"name": "a", "min": 0, "max": 1}, {"name": "b", "min": 0, "max": 2, "bins": 4}]}
    assert [a.name for a in parse_problem_config(data).feature_axes()] == ["a", "b"]


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(ConfigError, match=r"run\.budgett"):
        parse_problem_config({**BASE, "run": {"budgett": 3}})


def test_bad_axis_range_names_the_feature():
    with pytest.raises(ValueError, match="feature 'x'"):
        FeatureAxis(name="x", min=1, max=1)


def test_overrides_validate_and_ignore_none():
    config = parse_problem_config(BASE)
    updated = config.with_overrides("run", budget=7, seed=None)
    assert updated.run.budget == 7 and updated.run.seed == config.run.seed
    with pytest.raises(ValueError):
        config.with_overrides("run", budget=0)


def test_missing_problem_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a built-in problem"):
        load_problem(tmp_path / "nope")


def test_malformed_toml_names_the_file(tmp_path):
    (tmp_path / "problem.toml").write_text("[problem\nname=")
    with pytest.raises(ConfigError, match="problem.toml: not valid TOML"):
        load_problem(tmp_path)


def test_builtin_circle_packing_loads():
    problem = load_problem("circle_packing")
    assert problem.name == "circle_packing"
    assert "square_grid" in problem.baselines
    assert {a.name for a in problem.config.feature_axes()} == {"radius_cv", "border_fraction"}
