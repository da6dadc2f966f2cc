"""evolve from Python (a notebook, a script): start or resume a run, then read what it found.

::

    from evolve import api

    api.init("my_tsp", template="function")              # optional: a new problem folder
    run = api.start("my_tsp", budget=50, seed=1, out="runs")   # or api.open_run("runs/my_tsp-...")
    run.best().score, run.best().code
    table = run.archive()       # a pandas DataFrame when pandas is installed, else a list of dicts
    run.report("report.html")   # the same report as `evolve report`

Everything reads the run's database read-only, so a run still in progress (another
process, ``evolve run`` in a terminal) can be inspected while it goes on. ``start`` and
``resume`` block until the budget is spent; inside a running event loop (Jupyter) they run
the search on a worker thread, because the loop owns the notebook's thread.

The tables (``archive``, ``evaluations``) are lists of flat dicts; ``frame=None`` returns a
``pandas.DataFrame`` when pandas is importable, ``frame=True`` insists on one,
``frame=False`` never makes one. pandas is not a dependency of evolve.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from evolve.config import ConfigError, ProblemConfig
from evolve.problem import load_problem
from evolve.records import Program
from evolve.report.archive import archive_view
from evolve.report.data import HoldoutRow, ReportData, gather
from evolve.report.failures import FailureGroup, evaluation_failures, last_line
from evolve.report.lineage import Step, lineage
from evolve.report.queries import RunQueries
from evolve.scaffold import scaffold
from evolve.store import run as store
from evolve.store.run import Run
from evolve.views import summary as summary_views
from evolve.views.progress import RunProgress

T = TypeVar("T")
Rows = list[dict[str, Any]]
ProgressCallback = Callable[[RunProgress], None]

__all__ = ["RunView", "as_table", "init", "open_run", "resume", "start"]


def as_table(rows: Rows, frame: bool | None = None) -> Any:
    """``rows`` as a pandas DataFrame (``frame`` True, or None with pandas installed), else as they are."""
    if frame is False:
        return rows
    try:
        import pandas
    except ImportError:
        if frame:
            raise ImportError("frame=True needs pandas: pip install pandas (or pass frame=False for a list of dicts)") from None
        return rows
    return pandas.DataFrame(rows)


class RunView:
    """A run opened read-only: its programs, evaluations, archive, lineages, failures and report."""

    def __init__(self, directory: Path | str) -> None:
        self._run: Run = store.open_run(Path(directory), readonly=True)

    def __enter__(self) -> "RunView":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunView({str(self.directory)!r}: {self.config.problem.name}, {self.status})"

    def close(self) -> None:
        self._run.close()

    @property
    def directory(self) -> Path:
        return self._run.directory

    @property
    def config(self) -> ProblemConfig:
        return self._run.config

    @property
    def status(self) -> str:
        return self._run.live_status()

    def summary(self) -> dict[str, Any]:
        """What ``evolve status --json`` prints."""
        return summary_views.run_summary(self._run)

    def program(self, program_id: int) -> Program:
        found = self._run.db.program(program_id)
        if found is None:
            raise KeyError(f"the run has no program {program_id}")
        return found

    def programs(self) -> Iterator[Program]:
        """Evaluated programs in evaluation order, then those not evaluated yet."""
        yield from self._run.db.evaluated()
        yield from self._run.db.unevaluated()

    def best(self) -> Program | None:
        """The best program whose evaluation completed, or None."""
        found = self.top(1)
        return found[0] if found else None

    def top(self, k: int = 10) -> list[Program]:
        return self._run.db.best(maximize=self.config.objective.maximize, limit=k)

    def evaluations(self, frame: bool | None = None) -> Any:
        """One row per evaluation in commit order: ids, proposer, outcome, score, time, metrics, features."""
        rows = []
        for index, program in enumerate(self._run.db.evaluated(), start=1):
            ev = program.evaluation
            assert ev is not None
            row: dict[str, Any] = {
                "index": index, "program_id": program.id, "parent_id": program.parent_id, "island": program.island,
                "generation": program.generation, "proposer": program.proposer, "kind": program.kind,
                "ok": ev.ok, "complete": ev.complete, "score": ev.score, "failure_kind": ev.failure_kind,
                "failure": last_line(ev.failure_message) if not ev.ok else "", "duration_s": ev.duration_s,
            }  # fmt: skip
            row.update({f"metric.{k}": v for k, v in ev.metrics.items()})
            row.update({f"feature.{k}": v for k, v in ev.features.items()})
            rows.append(row)
        return as_table(rows, frame)

    def archive(self, frame: bool | None = None) -> Any:
        """One row per occupied cell of each island: the elite, its score and the cell's feature ranges."""
        view = archive_view(self._run)
        rows = []
        for cell in view.cells:
            row: dict[str, Any] = {"island": cell.island, "cell": cell.cell, "program_id": cell.program_id,
                                   "score": cell.score}  # fmt: skip
            for axis, (low, high) in zip(view.axes, cell.ranges):
                row[f"{axis.name}.low"] = low
                row[f"{axis.name}.high"] = high
            rows.append(row)
        return as_table(rows, frame)

    def lineage(self, program_id: int | None = None) -> list[Step]:
        """The steps from the seed to ``program_id`` (default: the best), each with its diff."""
        if program_id is None:
            best = self.best()
            if best is None:
                return []
            program_id = best.id
        with RunQueries(self.directory) as queries:
            return lineage(self._run, program_id, queries)

    def failures(self, messages: int = 3) -> list[FailureGroup]:
        """Failed evaluations grouped by kind, each with its most common messages and example ids."""
        with RunQueries(self.directory) as queries:
            return evaluation_failures(queries.evaluations(), messages)

    def holdout(self) -> list[HoldoutRow]:
        """Programs scored on the holdout split, with their search score and gap."""
        return list(self.data(score_baselines=False).holdout)

    def data(self, score_baselines: bool = False) -> ReportData:
        """Everything the report shows, as one record (baselines scored only if asked)."""
        return gather(self._run, score_baselines=score_baselines)

    def report(self, out: Path | str = "report.html", format: str = "html", baselines: bool = True) -> Path:
        """Write the report (``format`` html: a file; md: a folder with report.md and figures); return its path."""
        from evolve.report import write_report

        path, _ = write_report(self._run, Path(out), format=format, score_baselines=baselines,  # type: ignore[arg-type]
                               command=f"evolve.api RunView({str(self.directory)!r}).report()")
        return path


def open_run(directory: Path | str) -> RunView:
    """Open an existing run directory read-only."""
    return RunView(directory)


def init(folder: Path | str, template: str = "function", name: str | None = None) -> Path:
    """A new problem folder from a template (function, simulator, training); see ``evolve.scaffold``."""
    return scaffold(folder, template, name)


def start(
    problem: str | Path, *, budget: int | None = None, seed: int | None = None, out: Path | str = "runs",
    islands: int | None = None, workers: int | None = None, sandbox: str | None = None,
    models: list[str] | None = None, api_base: str | None = None, price: str | None = None,
    max_cost: float | None = None, on_progress: ProgressCallback | None = None,
) -> RunView:
    """Start a run of ``problem`` (a folder or a built-in name) and run it to its budget.

    The arguments are the CLI's options of ``evolve run``; ``models`` (``provider/name[:weight]``)
    switches from the built-in mutator to LLM proposals, ``price`` (``"IN,OUT"`` dollars per 1M
    tokens) prices models without a known price. ``on_progress`` is called with the
    run's ``RunProgress`` after every event. Returns the finished run, opened read-only.
    """
    from evolve.proposers import llm as llm_options

    loaded = load_problem(problem)
    config = loaded.config.with_overrides(
        "run", budget=budget, seed=seed, max_concurrent_evaluations=workers, sandbox=sandbox
    ).with_overrides("search", islands=islands)
    llm = llm_options.apply_cli_options(config.llm, models, api_base, price, max_cost=max_cost)
    config = config.model_copy(update={"llm": llm})
    config = config.with_overrides("run", sandbox=_concrete_sandbox(config.run.sandbox))
    if config.llm.enabled:
        for name in llm_options.check_models(config.llm):
            warnings.warn(f"model {name} has no known price; its calls are recorded with cost 0", stacklevel=2)

    def run_new() -> Path:
        handle = store.create_run(loaded, config, Path(out))
        _drive(handle, on_progress)
        return handle.directory

    return RunView(_outside_event_loop(run_new))


def resume(directory: Path | str, *, budget: int | None = None, on_progress: ProgressCallback | None = None) -> RunView:
    """Continue a stopped, interrupted or killed run (``budget`` raises its total); returns it read-only."""

    def run_on() -> Path:
        handle = store.open_run(Path(directory))
        if budget is not None:
            handle.config = handle.config.with_overrides("run", budget=budget)
            handle.db.set_meta("config", handle.config.model_dump(mode="json"))
        _drive(handle, on_progress)
        return handle.directory

    return RunView(_outside_event_loop(run_on))


def _drive(handle: Run, on_progress: ProgressCallback | None) -> None:
    """Execute a writable run and close it; SQLite handles stay on the thread that opened them."""
    from evolve.loop import execute

    try:
        execute(handle, on_progress)
    finally:
        handle.close()


def _outside_event_loop(work: Callable[[], T]) -> T:
    """Run ``work`` here, or on a worker thread when this thread runs an event loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # re-raised on the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="evolve-run")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _concrete_sandbox(name: str) -> str:
    """The backend ``name`` runs as here (``auto`` resolved once, with a warning when it falls back)."""
    from sandbox import SandboxError, get_sandbox, resolve

    try:
        concrete, why = resolve(name)
        info = get_sandbox(concrete).info()
    except SandboxError as exc:
        raise ConfigError(str(exc)) from None
    if not info.available:
        raise ConfigError(f"sandbox {name!r} cannot run here: {info.reason}")
    if why:
        warnings.warn(f"sandbox {name!r}: {why}", stacklevel=3)
    return concrete
