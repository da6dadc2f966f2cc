"""``evolve init``: a new problem folder from a template, ready for ``evolve check`` and ``evolve run``.

Each template (``evolve/templates/<name>/``, installed as package data) is a complete,
working problem that shows one evaluation pattern:

- ``function``: a function called once per evaluation (input in, answer checked, scored);
- ``simulator``: a function called many times in one persistent sandboxed worker, batched
  (a policy per simulated day), with a trusted helper module beside ``evaluate.py``;
- ``training``: a heavy job run whole in the sandbox, returning an artifact the evaluator
  re-scores (trained weights), with a cascade and a holdout split.

The folder's name becomes the problem's name (``{{name}}`` in the template's
``problem.toml`` and ``README.md``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from evolve.config import ConfigError

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATES = ("function", "simulator", "training")
_PLACEHOLDER = "{{name}}"
_FILLED = ("problem.toml", "README.md")


def problem_name(folder: Path) -> str:
    """A problem name from a folder name: letters, digits, '_' and '-' only."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", folder.name).strip("_")
    return name or "my_problem"


def scaffold(folder: Path | str, template: str = "function", name: str | None = None) -> Path:
    """Create ``folder`` from ``template``; ConfigError if the template is unknown or the folder is not empty."""
    if template not in TEMPLATES:
        raise ConfigError(f"unknown template {template!r}; choose one of: {', '.join(TEMPLATES)}")
    folder = Path(folder).expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder}: already exists and is not an empty folder; choose a new folder name")
    name = name or problem_name(folder.resolve())
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ConfigError(f"problem name {name!r}: use letters, digits, '_' and '-' only")
    source = TEMPLATES_DIR / template
    shutil.copytree(source, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for filename in _FILLED:
        path = folder / filename
        path.write_text(path.read_text().replace(_PLACEHOLDER, name))
    return folder
