"""Built-in problems: one folder each (problem.toml, initial.py, evaluate.py, baselines/, README.md)."""
