"""The run database: every proposal, program, evaluation and LLM call, committed as it happens.

SQLite in WAL mode with ``synchronous=NORMAL``: a committed transaction survives the
controller being killed (only a power loss can roll back the last few), readers such as
``evolve status`` never block the writer, and the controller is the only writer.

Invariant that ``evolve resume`` relies on: a program row is committed before its
evaluation starts, and its evaluation row is committed before the archive sees it. So the
archive is a pure function of the evaluation rows in commit order (``evaluated()``) and a
program without an evaluation row was in flight when the run stopped: resume evaluates it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from evolve.records import EvaluationResult, LLMCall, Program, code_hash

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS proposals (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    island INTEGER NOT NULL,
    parent_id INTEGER,
    inspiration_ids TEXT NOT NULL,
    proposer TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,          -- candidate | edit_failed | duplicate | novelty_rejected
    message TEXT NOT NULL,
    summary TEXT NOT NULL,
    latency_s REAL NOT NULL,
    program_id INTEGER
);
CREATE TABLE IF NOT EXISTS programs (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    proposal_id INTEGER,
    parent_id INTEGER,
    island INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    proposer TEXT NOT NULL,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    code_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS programs_hash ON programs(code_hash);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL UNIQUE REFERENCES programs(id),
    created_at REAL NOT NULL,
    ok INTEGER NOT NULL,
    score REAL,
    metrics TEXT NOT NULL,
    features TEXT NOT NULL,
    feedback TEXT NOT NULL,
    failure_kind TEXT,
    failure_message TEXT NOT NULL,
    output TEXT NOT NULL,
    duration_s REAL NOT NULL,
    candidate_s REAL NOT NULL,
    instances TEXT NOT NULL DEFAULT '{}',
    private TEXT NOT NULL DEFAULT '{}',
    objectives TEXT NOT NULL DEFAULT '{}',
    stage INTEGER NOT NULL DEFAULT 0,
    stages INTEGER NOT NULL DEFAULT 1,
    stage_scores TEXT NOT NULL DEFAULT '[]',
    gpu_peak_mb REAL NOT NULL DEFAULT 0,
    fingerprint TEXT NOT NULL DEFAULT ''
);
-- Holdout verdicts: apart from the search's evaluations, never read by the loop or a prompt.
CREATE TABLE IF NOT EXISTS holdout (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL UNIQUE REFERENCES programs(id),
    created_at REAL NOT NULL,
    reason TEXT NOT NULL,           -- best | cell
    ok INTEGER NOT NULL,
    score REAL,
    metrics TEXT NOT NULL,
    private TEXT NOT NULL,
    instances TEXT NOT NULL,
    objectives TEXT NOT NULL,
    feedback TEXT NOT NULL,
    failure_kind TEXT,
    failure_message TEXT NOT NULL,
    duration_s REAL NOT NULL,
    candidate_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY,
    proposal_id INTEGER,
    created_at REAL NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT,                    -- NULL when the run does not store text
    reply TEXT,
    prompt_sha256 TEXT NOT NULL,
    reply_sha256 TEXT NOT NULL,
    prompt_chars INTEGER NOT NULL,
    reply_chars INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    latency_s REAL NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class RunTotals:
    programs: int
    evaluated: int
    succeeded: int
    proposals: int
    llm_calls: int
    llm_cost: float


class RunDatabase:
    """One run's SQLite file. Not thread-safe: the controller owns the only writing handle."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if _stored_schema(self.path) < SCHEMA_VERSION:  # written by an older evolve: add the new columns first
                RunDatabase(self.path).close()
            uri = f"file:{self.path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
        else:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._migrate()
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        """Bring a database written by an older evolve up to SCHEMA_VERSION (columns added with defaults)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(evaluations)")}
        for name, decl in _EVALUATION_COLUMNS_V2:
            if name not in columns:
                self._db.execute(f"ALTER TABLE evaluations ADD COLUMN {name} {decl}")
        self.set_meta("schema_version", SCHEMA_VERSION)

    # -- meta ---------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- writes -------------------------------------------------------------------------
    def add_proposal(
        self,
        *,
        island: int,
        parent_id: int | None,
        inspiration_ids: list[int],
        proposer: str,
        kind: str,
        outcome: str,
        message: str = "",
        summary: str = "",
        latency_s: float = 0.0,
        program: dict[str, Any] | None = None,
    ) -> tuple[int, Program | None]:
        """Commit a proposal and, when it produced one, its program, in one transaction.

        ``program`` holds code, generation, proposer and kind of the new program.
        """
        now = time.time()
        with self._transaction():
            cur = self._db.execute(
                "INSERT INTO proposals(created_at, island, parent_id, inspiration_ids, proposer, kind, outcome,"
                " message, summary, latency_s) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (now, island, parent_id, json.dumps(inspiration_ids), proposer, kind, outcome, message, summary, latency_s),
            )
            proposal_id = int(cur.lastrowid)
            if program is None:
                return proposal_id, None
            new = self._insert_program(proposal_id=proposal_id, parent_id=parent_id, island=island, now=now, **program)
            self._db.execute("UPDATE proposals SET program_id = ? WHERE id = ?", (new.id, proposal_id))
        return proposal_id, new

    def add_seed(self, code: str, island: int, proposer: str = "seed", kind: str = "seed") -> Program:
        """Commit a program that no proposal produced (the seed, a baseline, a migrant)."""
        with self._transaction():
            return self._insert_program(
                proposal_id=None, parent_id=None, island=island, now=time.time(),
                code=code, generation=0, proposer=proposer, kind=kind,
            )

    def _insert_program(
        self, *, proposal_id: int | None, parent_id: int | None, island: int, now: float,
        code: str, generation: int, proposer: str, kind: str,
    ) -> Program:
        cur = self._db.execute(
            "INSERT INTO programs(created_at, proposal_id, parent_id, island, generation, proposer, kind, code, code_hash)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (now, proposal_id, parent_id, island, generation, proposer, kind, code, code_hash(code)),
        )
        return Program(
            id=int(cur.lastrowid), code=code, parent_id=parent_id, island=island, generation=generation,
            proposer=proposer, kind=kind, created_at=now,
        )

    def add_evaluation(self, program_id: int, result: EvaluationResult) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO evaluations(program_id, created_at, ok, score, metrics, features, feedback, failure_kind,"
                " failure_message, output, duration_s, candidate_s, instances, private, objectives, stage, stages,"
                " stage_scores, gpu_peak_mb, fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    program_id, time.time(), int(result.ok), result.score, json.dumps(result.metrics),
                    json.dumps(result.features), result.feedback, result.failure_kind, result.failure_message,
                    result.output, result.duration_s, result.candidate_s, json.dumps(result.instances),
                    json.dumps(result.private), json.dumps(result.objectives), result.stage, result.stages,
                    json.dumps(result.stage_scores), result.gpu_peak_mb, result.fingerprint,
                ),
            )

    def add_holdout(self, program_id: int, result: EvaluationResult, reason: str) -> None:
        """Commit a holdout verdict (one per program; a later one for the same program replaces it)."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO holdout(program_id, created_at, reason, ok, score, metrics, private, instances,"
                " objectives, feedback, failure_kind, failure_message, duration_s, candidate_s)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    program_id, time.time(), reason, int(result.ok), result.score, json.dumps(result.metrics),
                    json.dumps(result.private), json.dumps(result.instances), json.dumps(result.objectives),
                    result.feedback, result.failure_kind, result.failure_message, result.duration_s, result.candidate_s,
                ),
            )

    def add_llm_calls(self, proposal_id: int | None, calls: list[LLMCall], *, store_text: bool) -> None:
        """Store one row per LLM call; with ``store_text`` False only hashes and sizes of the texts."""
        with self._transaction():
            for call in calls:
                prompt, reply = call.prompt or "", call.reply or ""
                self._db.execute(
                    "INSERT INTO llm_calls(proposal_id, created_at, model, prompt, reply, prompt_sha256, reply_sha256,"
                    " prompt_chars, reply_chars, prompt_tokens, completion_tokens, cost, latency_s, outcome, error)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        proposal_id, call.created_at, call.model,
                        prompt if store_text else None, reply if store_text else None,
                        _sha256(prompt), _sha256(reply), len(prompt), len(reply),
                        int(call.prompt_tokens), int(call.completion_tokens),
                        float(call.cost), float(call.latency_s), str(call.outcome), str(call.error),
                    ),
                )

    # -- reads --------------------------------------------------------------------------
    def evaluated(self, after: int = 0) -> Iterator[Program]:
        """Evaluated programs in the order their evaluations were committed (archive replay order),
        from the evaluation after row ``after`` on (a checkpoint's tail)."""
        rows = self._db.execute(
            f"SELECT {_PROGRAM_COLS}, {_EVAL_COLS} FROM evaluations e JOIN programs p ON p.id = e.program_id"
            " WHERE e.id > ? ORDER BY e.id",
            (after,),
        )
        for row in rows:
            yield _program_from_row(row)

    def last_evaluation(self) -> int:
        """The row id of the last committed evaluation (0 when none): what a checkpoint covers."""
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM evaluations").fetchone()[0])

    def programs(self, ids: list[int]) -> dict[int, Program]:
        """Programs (with their evaluations) by id, in one query per 500 ids."""
        found: dict[int, Program] = {}
        for at in range(0, len(ids), 500):
            chunk = ids[at : at + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT {_PROGRAM_COLS}, {_EVAL_COLS} FROM programs p LEFT JOIN evaluations e ON e.program_id = p.id"
                f" WHERE p.id IN ({marks})",
                chunk,
            )
            found.update((row["id"], _program_from_row(row)) for row in rows)
        return found

    def unevaluated(self) -> list[Program]:
        """Programs committed but never evaluated: in flight when the run stopped."""
        rows = self._db.execute(
            f"SELECT {_PROGRAM_COLS} FROM programs p WHERE NOT EXISTS"
            " (SELECT 1 FROM evaluations e WHERE e.program_id = p.id) ORDER BY p.id"
        ).fetchall()
        return [_program_from_row(r, with_eval=False) for r in rows]

    def program(self, program_id: int) -> Program | None:
        row = self._db.execute(
            f"SELECT {_PROGRAM_COLS}, {_EVAL_COLS} FROM programs p LEFT JOIN evaluations e ON e.program_id = p.id"
            " WHERE p.id = ?",
            (program_id,),
        ).fetchone()
        return _program_from_row(row) if row else None

    def best(self, *, maximize: bool, limit: int = 1) -> list[Program]:
        """The best complete evaluations (a cascade's last stage), best first."""
        order = "DESC" if maximize else "ASC"
        rows = self._db.execute(
            f"SELECT {_PROGRAM_COLS}, {_EVAL_COLS} FROM evaluations e JOIN programs p ON p.id = e.program_id"
            f" WHERE e.ok = 1 AND e.stage >= e.stages - 1 ORDER BY e.score {order}, p.id ASC LIMIT ?",
            (limit,),
        )
        return [_program_from_row(r) for r in rows]

    def holdout(self, program_id: int) -> tuple[EvaluationResult, str] | None:
        """A program's holdout verdict and why it was scored (best | cell), if it has one."""
        row = self._db.execute("SELECT * FROM holdout WHERE program_id = ?", (program_id,)).fetchone()
        return (_holdout_from_row(row), row["reason"]) if row else None

    def holdout_results(self) -> dict[int, EvaluationResult]:
        """Every holdout verdict, by program id."""
        return {row["program_id"]: _holdout_from_row(row) for row in self._db.execute("SELECT * FROM holdout ORDER BY id")}

    def has_code(self, code: str) -> int | None:
        row = self._db.execute("SELECT id FROM programs WHERE code_hash = ? LIMIT 1", (code_hash(code),)).fetchone()
        return int(row[0]) if row else None

    def totals(self) -> RunTotals:
        q = self._db.execute
        programs = q("SELECT COUNT(*) FROM programs").fetchone()[0]
        evaluated, succeeded = q(
            "SELECT COUNT(*), COALESCE(SUM(ok AND stage >= stages - 1), 0) FROM evaluations"
        ).fetchone()
        proposals = q("SELECT COUNT(*) FROM proposals").fetchone()[0]
        calls, cost = q("SELECT COUNT(*), COALESCE(SUM(cost), 0) FROM llm_calls").fetchone()
        return RunTotals(programs, evaluated, int(succeeded), proposals, calls, float(cost))

    def failure_counts(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT failure_kind, COUNT(*) FROM evaluations WHERE ok = 0 GROUP BY failure_kind ORDER BY 2 DESC"
        )
        return {str(kind): int(n) for kind, n in rows}

    def fingerprints(self) -> dict[str, int]:
        """Behavioural fingerprint -> the first evaluated program that has it."""
        rows = self._db.execute("SELECT fingerprint, MIN(program_id) FROM evaluations WHERE fingerprint != '' GROUP BY fingerprint")
        return {str(fp): int(pid) for fp, pid in rows}

    def cascade_counts(self) -> dict[str, int]:
        """Evaluations the cascade stopped early, and the later stage runs that saved."""
        stopped, saved = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(stages - 1 - stage), 0) FROM evaluations WHERE ok = 1 AND stage < stages - 1"
        ).fetchone()
        return {"stopped": int(stopped), "saved": int(saved)}

    def proposal_outcomes(self) -> dict[str, int]:
        rows = self._db.execute("SELECT outcome, COUNT(*) FROM proposals GROUP BY outcome ORDER BY 2 DESC")
        return {str(outcome): int(n) for outcome, n in rows}

    def llm_calls(self) -> list[sqlite3.Row]:
        return self._db.execute("SELECT * FROM llm_calls ORDER BY id").fetchall()

    # -- plumbing -----------------------------------------------------------------------
    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error (autocommit mode outside it)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _stored_schema(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:  # no meta table yet
            return 0
    return int(json.loads(row[0])) if row else 0


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_PROGRAM_COLS = "p.id, p.code, p.parent_id, p.island, p.generation, p.proposer, p.kind, p.created_at"
_EVAL_COLS = (
    "e.ok, e.score, e.metrics, e.features, e.feedback, e.failure_kind, e.failure_message, e.output,"
    " e.duration_s, e.candidate_s, e.instances, e.private, e.objectives, e.stage, e.stages, e.stage_scores,"
    " e.gpu_peak_mb, e.fingerprint"
)
_EVALUATION_COLUMNS_V2 = (
    ("instances", "TEXT NOT NULL DEFAULT '{}'"),
    ("private", "TEXT NOT NULL DEFAULT '{}'"),
    ("objectives", "TEXT NOT NULL DEFAULT '{}'"),
    ("stage", "INTEGER NOT NULL DEFAULT 0"),
    ("stages", "INTEGER NOT NULL DEFAULT 1"),
    ("stage_scores", "TEXT NOT NULL DEFAULT '[]'"),
    ("gpu_peak_mb", "REAL NOT NULL DEFAULT 0"),
    ("fingerprint", "TEXT NOT NULL DEFAULT ''"),
)


def _program_from_row(row: sqlite3.Row, with_eval: bool = True) -> Program:
    program = Program(
        id=row["id"], code=row["code"], parent_id=row["parent_id"], island=row["island"],
        generation=row["generation"], proposer=row["proposer"], kind=row["kind"], created_at=row["created_at"],
    )
    if with_eval and row["ok"] is not None:
        program.evaluation = EvaluationResult(
            ok=bool(row["ok"]), score=row["score"], metrics=json.loads(row["metrics"]),
            features=json.loads(row["features"]), feedback=row["feedback"], failure_kind=row["failure_kind"],
            failure_message=row["failure_message"], output=row["output"], duration_s=row["duration_s"],
            candidate_s=row["candidate_s"], instances=json.loads(row["instances"]), private=json.loads(row["private"]),
            objectives=json.loads(row["objectives"]), stage=row["stage"], stages=row["stages"],
            stage_scores=json.loads(row["stage_scores"]), gpu_peak_mb=row["gpu_peak_mb"], fingerprint=row["fingerprint"],
        )
    return program


def _holdout_from_row(row: sqlite3.Row) -> EvaluationResult:
    return EvaluationResult(
        ok=bool(row["ok"]), score=row["score"], metrics=json.loads(row["metrics"]), private=json.loads(row["private"]),
        instances=json.loads(row["instances"]), objectives=json.loads(row["objectives"]), feedback=row["feedback"],
        failure_kind=row["failure_kind"], failure_message=row["failure_message"], duration_s=row["duration_s"],
        candidate_s=row["candidate_s"],
    )
