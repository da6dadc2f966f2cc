"""Reference scores a run is judged against: its seed, and the problem's baselines.

The seed's score is the run's own first evaluation (stored). Baselines are not part of a
run, so the report scores them with the run's problem *snapshot* (the evaluator the run
used, not the folder as it is now) in the same trusted evaluator and sandbox as the run,
and stores the verdicts beside the database (``report-baselines.json``; a run that ends
scores and stores them too, to compare its best program with them), keyed by a hash
of the snapshot's ``evaluate.py``, ``problem.toml`` and baseline sources: the next report
reads them instead of scoring again, and says which it did. Verdicts with an
``evaluator_error`` (the trusted side failed, not the baseline), or scored with another
backend because the run's cannot run here, are never stored.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from evolve.records import EvaluationResult
from evolve.store.run import Run

CACHE_NAME = "report-baselines.json"
SCORED = "scored now from the run's problem snapshot"
STORED = "stored (scored from the run's problem snapshot when the run ended, or by an earlier report)"
SKIPPED = "not scored (--no-baselines)"
NONE = "the problem has no baselines/"


@dataclass(frozen=True)
class Reference:
    name: str  # "seed" or "baselines/<name>.py"
    split: str  # search | holdout
    score: float | None  # None: it did not complete
    failure: str = ""  # kind and last line of the message when it did not complete


@dataclass(frozen=True)
class References:
    items: tuple[Reference, ...]
    baselines: str  # how the baseline scores were obtained (one of the constants above)
    scored_at: float | None = None

    def search(self) -> list[Reference]:
        return [r for r in self.items if r.split == "search"]

    def holdout(self) -> list[Reference]:
        return [r for r in self.items if r.split == "holdout"]


def references(run: Run, *, score_baselines: bool = True) -> References:
    """The seed's stored scores and the baselines' (stored, scored now, or skipped)."""
    items = _seed(run)
    if not run.problem.baselines:
        return References(tuple(items), NONE)
    if not score_baselines:
        return References(tuple(items), SKIPPED)
    key = _snapshot_key(run)
    cached = _read_cache(run.directory / CACHE_NAME, key)
    if cached is not None:
        rows, scored_at = cached
        return References(tuple(items + rows), STORED, scored_at)
    rows, note = _score(run)
    scored_at = time.time()
    if not note and not any(r.failure.startswith("evaluator_error") for r in rows):  # retried next time otherwise
        _write_cache(run.directory / CACHE_NAME, key, rows, scored_at)
    return References(tuple(items + rows), SCORED + note, scored_at)


def _seed(run: Run) -> list[Reference]:
    seed = run.db.program(1)
    if seed is None or seed.kind != "seed" or seed.evaluation is None:
        return []
    items = [_reference("seed", "search", seed.evaluation)]
    held = run.db.holdout(seed.id)
    if held is not None:
        items.append(_reference("seed", "holdout", held[0]))
    return items


def _reference(name: str, split: str, result: EvaluationResult) -> Reference:
    if result.complete:
        return Reference(name, split, result.score)
    lines = (result.failure_message or "").strip().splitlines()
    detail = result.failure_kind or f"stopped at stage {result.stage}"
    return Reference(name, split, None, f"{detail}: {lines[-1]}" if lines else detail)


def _score(run: Run) -> tuple[list[Reference], str]:
    """The baselines' verdicts, and a note when they could not use the run's own sandbox backend."""
    from evolve.loop.engine import score_problem

    backend, note = _sandbox_for(run.config.run.sandbox)
    scored = score_problem(run.problem, backend)
    return [_reference(row.name, row.split, row.result) for row in scored if row.name != "initial.py"], note


def _sandbox_for(stored: str) -> tuple[str, str]:
    """The run's backend if it runs here, else what ``auto`` resolves to (with a note saying so)."""
    from sandbox import SandboxError, get_sandbox, resolve

    try:
        concrete, _ = resolve(stored)
        if get_sandbox(concrete).info().available:
            return concrete, ""
    except (SandboxError, ValueError):
        pass
    fallback, _ = resolve("auto")
    return fallback, f" (the run's {stored} sandbox cannot run here: scored with {fallback})"


def _snapshot_key(run: Run) -> str:
    digest = hashlib.sha256()
    root = run.problem.root
    for name in ("evaluate.py", "problem.toml"):
        path = root / name
        digest.update(path.read_bytes() if path.is_file() else b"")
    for name, code in sorted(run.problem.baselines.items()):
        digest.update(name.encode() + b"\0" + code.encode() + b"\0")
    return digest.hexdigest()


def _read_cache(path: Path, key: str) -> tuple[list[Reference], float] | None:
    try:
        data = json.loads(path.read_text())
        if data.get("key") != key:
            return None
        return [Reference(**row) for row in data["references"]], float(data["scored_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(path: Path, key: str, rows: list[Reference], scored_at: float) -> None:
    try:
        path.write_text(json.dumps({"key": key, "scored_at": scored_at, "references": [asdict(r) for r in rows]}, indent=1))
    except OSError:  # a read-only run directory: the next report scores again
        pass
