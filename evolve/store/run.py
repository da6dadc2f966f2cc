"""A run on disk: a private directory holding the database and a snapshot of the problem.

``runs/<problem>-<timestamp>/`` (mode 0700, so a sandboxed candidate running under another
uid cannot read the database) contains ``evolve.db`` and ``problem/``, a copy of the
problem folder taken at start: resuming scores with exactly the evaluator the run began
with, even if the original folder has changed since.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from evolve.config import ConfigError, ProblemConfig
from evolve.store.database import RunDatabase
from evolve.problem import Problem, load_problem

DB_NAME = "evolve.db"
SNAPSHOT = "problem"


@dataclass
class Run:
    directory: Path
    problem: Problem
    config: ProblemConfig
    db: RunDatabase

    def close(self) -> None:
        self.db.close()


def create_run(problem: Problem, config: ProblemConfig, out: Path) -> Run:
    """Make a new run directory under ``out`` and store the resolved config in its database."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    directory = out / f"{problem.root.name}-{stamp}"
    suffix = 1
    while directory.exists():
        suffix += 1
        directory = out / f"{problem.root.name}-{stamp}-{suffix}"
    directory.mkdir(mode=0o700)
    shutil.copytree(problem.root, directory / SNAPSHOT, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    db = RunDatabase(directory / DB_NAME)
    db.set_meta("config", config.model_dump(mode="json"))
    db.set_meta("problem_source", str(problem.root))
    db.set_meta("created_at", time.time())
    db.set_meta("status", "created")
    return Run(directory, load_problem(directory / SNAPSHOT), config, db)


def open_run(directory: Path, *, readonly: bool = False) -> Run:
    """Open an existing run; ConfigError when ``directory`` is not one."""
    directory = Path(directory)
    db_path = directory / DB_NAME
    if not db_path.is_file():
        raise ConfigError(f"{directory}: not a run directory (no {DB_NAME}); pass the folder `evolve run` printed")
    db = RunDatabase(db_path, readonly=readonly)
    stored = db.get_meta("config")
    if stored is None:
        raise ConfigError(f"{db_path}: the run has no stored configuration")
    config = ProblemConfig.model_validate(stored)
    return Run(directory, load_problem(directory / SNAPSHOT), config, db)
