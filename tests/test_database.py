import sqlite3

from evolve.store.database import RunDatabase
from evolve.records import EvaluationResult, LLMCall


def _db(tmp_path):
    return RunDatabase(tmp_path / "evolve.db")


def test_wal_mode_and_meta_round_trip(tmp_path):
    db = _db(tmp_path)
    assert db._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.set_meta("config", {"a": [1, 2]})
    assert db.get_meta("config") == {"a": [1, 2]}
    assert db.get_meta("missing", 5) == 5


def test_programs_evaluations_and_replay_order(tmp_path):
    db = _db(tmp_path)
    seed = db.add_seed("print(1)", island=0)
    _, child = db.add_proposal(
        island=1, parent_id=seed.id, inspiration_ids=[seed.id], proposer="mutator", kind="mutation",
        outcome="candidate", summary="c", program=dict(code="print(2)", generation=1, proposer="mutator", kind="mutation"),
    )
    _, third = db.add_proposal(
        island=2, parent_id=seed.id, inspiration_ids=[], proposer="mutator", kind="mutation",
        outcome="candidate", program=dict(code="print(3)", generation=1, proposer="mutator", kind="mutation"),
    )
    assert [p.id for p in db.unevaluated()] == [seed.id, child.id, third.id]
    # evaluate out of creation order: replay follows evaluation commit order
    db.add_evaluation(third.id, EvaluationResult(ok=True, score=3.0, metrics={"m": 1.0}, features={"f": 0.5}))
    db.add_evaluation(seed.id, EvaluationResult(ok=True, score=1.0))
    db.add_evaluation(child.id, EvaluationResult(ok=False, failure_kind="timeout", failure_message="slow"))
    assert [p.id for p in db.evaluated()] == [third.id, seed.id, child.id]
    assert db.unevaluated() == []
    best = db.best(maximize=True)[0]
    assert best.id == third.id and best.evaluation.metrics == {"m": 1.0} and best.evaluation.features == {"f": 0.5}
    assert db.best(maximize=False)[0].id == seed.id
    assert db.failure_counts() == {"timeout": 1}
    loaded = db.program(child.id)
    assert loaded.parent_id == seed.id and loaded.evaluation.failure_message == "slow" and loaded.generation == 1
    assert db.has_code("print(2)") == child.id and db.has_code("nope") is None
    totals = db.totals()
    assert (totals.programs, totals.evaluated, totals.succeeded, totals.proposals) == (3, 3, 2, 2)


def test_failed_proposal_is_recorded_without_program(tmp_path):
    db = _db(tmp_path)
    seed = db.add_seed("x = 1", island=0)
    proposal_id, program = db.add_proposal(
        island=0, parent_id=seed.id, inspiration_ids=[], proposer="m", kind="diff", outcome="edit_failed",
        message="SEARCH text not found",
    )
    assert program is None
    assert db.proposal_outcomes() == {"edit_failed": 1}
    row = db._db.execute("SELECT message, program_id FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
    assert tuple(row) == ("SEARCH text not found", None)


def test_llm_calls_store_hashes_when_text_is_not_kept(tmp_path):
    db = _db(tmp_path)
    calls = [LLMCall(model="m", prompt="secret prompt", created_at=0.0, reply="r", prompt_tokens=10, completion_tokens=2, cost=0.5)]
    db.add_llm_calls(1, calls, store_text=False)
    db.add_llm_calls(2, calls, store_text=True)
    rows = db.llm_calls()
    assert rows[0]["prompt"] is None and rows[0]["prompt_chars"] == len("secret prompt") and len(rows[0]["prompt_sha256"]) == 64
    assert rows[1]["prompt"] == "secret prompt"
    assert db.totals().llm_cost == 1.0


def test_a_second_reader_sees_committed_rows_while_writer_is_open(tmp_path):
    db = _db(tmp_path)
    db.add_seed("a = 1", island=0)
    reader = RunDatabase(tmp_path / "evolve.db", readonly=True)
    assert reader.totals().programs == 1
    try:
        reader.set_meta("x", 1)
        raise AssertionError("a read-only handle must not write")
    except sqlite3.OperationalError:
        pass
