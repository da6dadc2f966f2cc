"""`evolve.api`: a run started from Python (also inside a running event loop), read back as tables."""

import asyncio
import importlib.util
import sqlite3

import pytest

from evolve import api
from evolve.config import ConfigError
from evolve.store import open_run


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    from conftest import TINY

    seen = []
    run = api.start(TINY, budget=12, seed=3, out=tmp_path_factory.mktemp("api"), on_progress=seen.append)
    assert seen and seen[-1].finished and seen[-1].evaluated == 13
    yield run
    run.close()


def count(view, sql: str) -> int:
    with sqlite3.connect(view.directory / "evolve.db") as db:
        return db.execute(sql).fetchone()[0]


def test_a_started_run_reads_back(view):
    assert view.status == "finished" and view.config.problem.name == "tiny"
    summary = view.summary()
    assert summary["evaluated"] == 13 == count(view, "SELECT COUNT(*) FROM evaluations")
    best = view.best()
    assert best.score == max(p.score for p in view.programs() if p.score is not None)
    assert [p.id for p in view.top(3)] == [p.id for p in view.top(10)][:3]
    assert len(list(view.programs())) == count(view, "SELECT COUNT(*) FROM programs")
    with pytest.raises(KeyError, match="no program 999"):
        view.program(999)


def test_tables_are_lists_of_flat_dicts_or_frames(view):
    rows = view.evaluations(frame=False)
    assert len(rows) == 13 and rows[0]["program_id"] == 1 and "metric.value" in rows[0]
    assert [r["index"] for r in rows] == list(range(1, 14))
    cells = view.archive(frame=False)
    assert cells and {"island", "cell", "program_id", "score", "code_size.low", "code_size.high"} <= set(cells[0])
    if importlib.util.find_spec("pandas") is None:
        assert view.archive() == cells  # no pandas: the list itself
        with pytest.raises(ImportError, match="frame=True needs pandas"):
            view.archive(frame=True)
    else:
        assert len(view.archive(frame=True)) == len(cells)


def test_lineage_and_failures(view):
    steps = view.lineage()
    assert steps[0].program_id == 1 and steps[-1].program_id == view.best().id
    assert sum(g.count for g in view.failures()) == count(view, "SELECT COUNT(*) FROM evaluations WHERE ok = 0")


def test_resume_from_inside_a_running_event_loop(view):
    async def notebook_cell():  # Jupyter runs cells inside an event loop
        asyncio.get_running_loop()
        return api.resume(view.directory, budget=16)

    more = asyncio.run(notebook_cell())
    assert more.summary()["evaluated"] == 17
    more.close()


def test_a_run_can_be_read_while_a_writer_holds_it(view):
    writer = open_run(view.directory)  # takes the run's lock, as a live controller does
    try:
        with api.open_run(view.directory) as reader:
            assert reader.best().id == view.best().id
    finally:
        writer.close()


def test_opening_something_that_is_not_a_run(tmp_path):
    with pytest.raises(ConfigError, match="not a run directory"):
        api.open_run(tmp_path)
