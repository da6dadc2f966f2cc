"""`evolve show`, `lineage`, `failures` and `export` on a real run, human and --json, against the tables."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evolve import api

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    view = api.start("circle_packing", budget=24, seed=1, out=tmp_path_factory.mktemp("inspect"))
    directory = view.directory
    view.close()
    return directory


def evolve(*args):
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


def query(run_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(run_dir / "evolve.db") as db:
        return db.execute(sql).fetchall()


def best_id(run_dir: Path) -> int:
    return query(run_dir, "SELECT program_id FROM evaluations WHERE ok = 1 ORDER BY score DESC, program_id LIMIT 1")[0][0]


def test_show_a_program_with_its_parent_diff_and_cell(run_dir):
    child = query(run_dir, "SELECT p.id, p.parent_id FROM programs p JOIN evaluations e ON e.program_id = p.id"
                           " WHERE e.ok = 1 AND p.parent_id IS NOT NULL ORDER BY p.id LIMIT 1")[0]  # fmt: skip
    data = json.loads(evolve("show", run_dir, child[0], "--json").stdout)
    assert data["program_id"] == child[0] and data["parent_id"] == child[1]
    assert data["diff"].startswith(f"--- program {child[1]} (parent)\n+++ program {child[0]}\n")
    assert data["code"] == query(run_dir, f"SELECT code FROM programs WHERE id = {child[0]}")[0][0]
    assert len(data["cell"]) == 2 and set(data["cell_ranges"]) == {"radius_cv", "border_fraction"}
    assert data["proposal"]["proposer"] == "mutator" and data["proposal"]["summary"]
    assert data["delta"] == pytest.approx(data["search_score"] - data["parent_score"])
    human = evolve("show", run_dir, child[0])
    assert human.returncode == 0
    for needle in (f"program {child[0]}", f"parent         program {child[1]}", "diff to the parent", "def run_packing"):
        assert needle in human.stdout


def test_show_a_failed_program_says_why(run_dir):
    failed, kind, message = query(run_dir, "SELECT program_id, failure_kind, failure_message FROM evaluations"
                                           " WHERE ok = 0 ORDER BY id LIMIT 1")[0]  # fmt: skip
    result = evolve("show", run_dir, failed, "--no-code")
    assert result.returncode == 0 and f"failed: {kind}" in result.stdout
    assert message.strip().splitlines()[-1][:60] in result.stdout
    assert "def run_packing" not in result.stdout.split("diff to the parent")[0]


def test_show_an_unknown_program(run_dir):
    result = evolve("show", run_dir, 99999)
    assert result.returncode == 2 and "the run has no program 99999 (its programs are 1 to" in result.stderr


def test_lineage_defaults_to_the_best_and_walks_back_to_the_seed(run_dir):
    steps = json.loads(evolve("lineage", run_dir, "--json").stdout)
    assert steps[0]["program_id"] == 1 and steps[0]["kind"] == "seed" and steps[-1]["program_id"] == best_id(run_dir)
    parents = dict(query(run_dir, "SELECT id, parent_id FROM programs"))
    assert all(parents[s["program_id"]] == s["parent_id"] for s in steps)
    human = evolve("lineage", run_dir, "--diffs")
    assert human.returncode == 0 and f"lineage of program {best_id(run_dir)}" in human.stdout
    if len(steps) > 1:
        assert f"program {steps[-2]['program_id']} → {steps[-1]['program_id']}" in human.stdout


def test_failures_count_by_kind_with_messages_and_examples(run_dir):
    data = json.loads(evolve("failures", run_dir, "--json").stdout)
    failed = dict(query(run_dir, "SELECT failure_kind, COUNT(*) FROM evaluations WHERE ok = 0 GROUP BY 1"))
    assert {g["kind"]: g["count"] for g in data["evaluations"]} == failed and failed
    ids = {row[0]: row[1] for row in query(run_dir, "SELECT program_id, failure_kind FROM evaluations WHERE ok = 0")}
    for group in data["evaluations"]:
        for message in group["messages"]:
            assert message["ids"] and all(ids[i] == group["kind"] for i in message["ids"])
    rejected = dict(query(run_dir, "SELECT outcome, COUNT(*) FROM proposals WHERE program_id IS NULL GROUP BY 1"))
    assert {g["kind"]: g["count"] for g in data["proposals_without_candidate"]} == rejected
    human = evolve("failures", run_dir)
    assert human.returncode == 0 and "failed evaluations (of 25)" in human.stdout and "open one: evolve show" in human.stdout


def test_export_writes_the_best_of_each_cell_with_its_metrics(run_dir, tmp_path):
    out = tmp_path / "export"
    result = evolve("export", run_dir, out, "--top", 2, "--json")
    assert result.returncode == 0, result.stderr
    index = json.loads(result.stdout)
    assert index == json.loads((out / "index.json").read_text())["programs"]
    codes = dict(query(run_dir, "SELECT id, code FROM programs"))
    by_cell: dict[tuple, list] = {}
    for row in index:
        by_cell.setdefault(tuple(row["cell"]), []).append(row)
        source = (out / row["file"]).read_text()
        assert source == codes[row["program_id"]]
        compile(source, row["file"], "exec")
        record = json.loads((out / row["file"]).with_suffix(".json").read_text())
        assert record["search_score"] == row["score"] and record["rank"] == row["rank"]
    assert all(len(rows) <= 2 and [r["rank"] for r in rows] == list(range(1, len(rows) + 1)) for rows in by_cell.values())
    assert all(rows[0]["score"] >= rows[-1]["score"] for rows in by_cell.values())
    assert index[0]["program_id"] == best_id(run_dir)  # best cell first
    valid = query(run_dir, "SELECT COUNT(*) FROM evaluations WHERE ok = 1 AND stage = stages - 1")[0][0]
    assert len(index) <= valid
