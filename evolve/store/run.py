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
from evolve.problem import Problem, load_problem
from evolve.records import RunStatus
from evolve.store.database import RunDatabase
from evolve.store.lock import RunLock, held_by

DB_NAME = "evolve.db"
SNAPSHOT = "problem"


@dataclass
class Run:
    """An open run. A writable one holds the run's lock (``evolve.store.lock``) until closed."""

    directory: Path
    problem: Problem
    config: ProblemConfig
    db: RunDatabase
    lock: RunLock | None = None

    def close(self) -> None:
        self.db.close()
        if self.lock is not None:
            self.lock.release()

    def live_status(self) -> str:
        """The stored status, corrected by whether a controller is alive: a run whose database says
        'running' but whose lock nobody holds was killed ('killed'); resume continues it."""
        stored = str(self.db.get_meta("status") or RunStatus.CREATED)
        holder = held_by(self.directory)
        if holder is not None:
            return RunStatus.RUNNING.value
        return "killed" if stored == RunStatus.RUNNING else stored


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
    lock = RunLock(directory)
    lock.acquire()
    shutil.copytree(problem.root, directory / SNAPSHOT, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    db = RunDatabase(directory / DB_NAME)
    db.set_meta("config", config.model_dump(mode="json"))
    db.set_meta("problem_source", str(problem.root))
    db.set_meta("created_at", time.time())
    db.set_meta("status", RunStatus.CREATED)
    return Run(directory, load_problem(directory / SNAPSHOT), config, db, lock)


def open_run(directory: Path, *, readonly: bool = False) -> Run:
    """Open an existing run; ConfigError when ``directory`` is not one.

    A writable open takes the run's lock first: RunLocked (naming the live holder) when
    another process writes the run.
    """
    directory = Path(directory)
    db_path = directory / DB_NAME
    if not db_path.is_file():
        raise ConfigError(f"{directory}: not a run directory (no {DB_NAME}); pass the folder `evolve run` printed")
    lock = None
    if not readonly:
        lock = RunLock(directory)
        lock.acquire()
    try:
        return _open(directory, db_path, readonly, lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _open(directory: Path, db_path: Path, readonly: bool, lock: RunLock | None) -> Run:
    db = RunDatabase(db_path, readonly=readonly)
    stored = db.get_meta("config")
    if stored is None:
        raise ConfigError(f"{db_path}: the run has no stored configuration")
    config = ProblemConfig.model_validate(stored)
    return Run(directory, load_problem(directory / SNAPSHOT), config, db, lock)
