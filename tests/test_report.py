"""`evolve report`: every number it shows agrees with the run's tables, and the file stands alone.

One real run of the cascade + holdout fixture (with a baseline added, and a seed comment that
tries to break out of the HTML) is made once for the module through the Python API.
"""

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evolve import api
from evolve.loop import RunError
from evolve.report import write_report
from evolve.report.archive import archive_view
from evolve.report.data import gather
from evolve.report.failures import signature
from evolve.report.references import CACHE_NAME, SCORED, SKIPPED, STORED
from evolve.store import open_run

ROOT = Path(__file__).resolve().parent.parent
STAGED = ROOT / "tests" / "fixture_problems" / "staged"
HOSTILE_COMMENT = '# </pre><script>alert("report")</script> <img src=http://example.invalid/x> ```'


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("report")
    problem = base / "staged"
    shutil.copytree(STAGED, problem)
    (problem / "initial.py").write_text((problem / "initial.py").read_text() + f"\n\n{HOSTILE_COMMENT}\n")
    (problem / "baselines").mkdir()
    (problem / "baselines" / "exact.py").write_text("def run():\n    return 3.0\n")
    view = api.start(problem, budget=24, seed=2, out=base / "runs")
    directory = view.directory
    view.close()
    return directory


def query(run_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(run_dir / "evolve.db") as db:
        return db.execute(sql).fetchall()


@pytest.fixture(scope="module")
def data(run_dir):
    run = open_run(run_dir, readonly=True)
    yield gather(run)
    run.close()


def test_the_replayed_archive_is_the_one_the_run_ended_with(run_dir):
    run = open_run(run_dir, readonly=True)
    view = archive_view(run)
    assert view.fingerprint == run.db.get_meta("archive_fingerprint")
    assert view.cells and all(len(c.ranges) == len(view.axes) for c in view.cells)
    run.close()


def test_best_so_far_starts_at_the_seed_and_ends_at_the_best(run_dir, data):
    best_id, best_score = query(run_dir, "SELECT e.program_id, e.score FROM evaluations e WHERE ok = 1 AND stage = stages - 1"
                                " ORDER BY score DESC, program_id LIMIT 1")[0]  # fmt: skip
    assert data.overall[0].program_id == 1 and (data.overall[-1].program_id, data.overall[-1].score) == (best_id, best_score)
    scores = [p.score for p in data.overall]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)  # strictly improving
    for points in data.per_island.values():
        assert points[0].program_id == 1 and points[-1].score <= best_score
    assert data.evaluated == query(run_dir, "SELECT COUNT(*) FROM evaluations")[0][0] == data.rows[-1].index


def test_baselines_are_scored_from_the_snapshot_then_read_back(run_dir, data):
    refs = {(r.name, r.split): r.score for r in data.references.items}
    assert data.references.baselines == SCORED
    assert refs[("baselines/exact.py", "search")] == 0.0  # -(3 - 3)^2
    assert refs[("baselines/exact.py", "holdout")] == -(0.25**2)  # the holdout target is 3.25
    assert refs[("seed", "search")] == query(run_dir, "SELECT score FROM evaluations WHERE program_id = 1")[0][0]
    assert (run_dir / CACHE_NAME).is_file()
    run = open_run(run_dir, readonly=True)
    again = gather(run)
    assert again.references.baselines == STORED and again.references.items == data.references.items
    assert gather(run, score_baselines=False).references.baselines == SKIPPED
    run.close()


def test_the_lineage_is_a_path_from_the_seed_and_each_diff_is_the_edit(run_dir, data):
    steps = data.lineage
    assert steps[0].program_id == 1 and steps[-1].program_id == data.best.id
    code = dict(query(run_dir, "SELECT id, code FROM programs"))
    for parent, child in zip(steps, steps[1:]):
        assert child.parent_id == parent.program_id
        removed = [l[1:] for l in child.diff.splitlines() if l.startswith("-") and not l.startswith("---")]
        added = [l[1:] for l in child.diff.splitlines() if l.startswith("+") and not l.startswith("+++")]
        assert added or removed
        assert all(line in code[child.program_id].splitlines() for line in added)
        assert all(line in code[parent.program_id].splitlines() for line in removed)
        if child.score is not None and parent.score is not None:
            assert child.delta == pytest.approx(child.score - parent.score)


def test_proposer_statistics_agree_with_the_tables(run_dir, data):
    (stats,) = data.proposers  # the built-in mutator only
    assert stats.proposer == "mutator"
    assert stats.proposals == query(run_dir, "SELECT COUNT(*) FROM proposals")[0][0]
    assert stats.candidates == query(run_dir, "SELECT COUNT(*) FROM proposals WHERE program_id IS NOT NULL")[0][0]
    improvements = query(run_dir, """
        SELECT COUNT(*) FROM programs c JOIN evaluations ce ON ce.program_id = c.id
        JOIN evaluations pe ON pe.program_id = c.parent_id
        WHERE ce.ok = 1 AND ce.stage = ce.stages - 1 AND pe.ok = 1 AND pe.stage = pe.stages - 1 AND ce.score > pe.score
          AND c.proposal_id IS NOT NULL""")[0][0]  # fmt: skip
    assert stats.improvements == improvements
    assert stats.new_bests == len(data.overall) - 1  # every improvement of the best after the seed
    assert stats.cost == 0 and stats.cost_per_improvement in (None, 0.0)


def test_failure_messages_group_by_their_last_line_with_numbers_as_hashes():
    assert signature("circles 3 and 17 overlap by 2.1e-04 (radii 0.5)") == "circles # and # overlap by # (radii #)"
    traceback = 'Traceback (most recent call last):\n  File "candidate.py", line 4\nIndexError: index 24 is out of bounds'
    assert signature(traceback) == "IndexError: index # is out of bounds"
    assert signature("x1 must be finite") == "x1 must be finite"  # digits inside names stay


def test_failure_and_outcome_counts_agree_with_the_tables(run_dir, data):
    failed = dict(query(run_dir, "SELECT failure_kind, COUNT(*) FROM evaluations WHERE ok = 0 GROUP BY 1"))
    assert {g.kind: g.count for g in data.failures} == failed
    for group in data.failures:
        assert sum(m.count for m in group.messages) <= group.count and group.messages[0].ids
    stopped = query(run_dir, "SELECT COUNT(*) FROM evaluations WHERE ok = 1 AND stage < stages - 1")[0][0]
    assert sum(data.failure_counts.get("stopped by cascade", [])) == stopped
    assert sum(sum(v) for v in data.failure_counts.values()) == data.evaluated


def test_holdout_rows_show_the_gap(run_dir, data):
    rows = {row.program_id: row for row in data.holdout}
    stored = dict(query(run_dir, "SELECT program_id, score FROM holdout WHERE ok = 1"))
    assert stored and set(stored) <= set(rows)
    best = data.holdout[0]
    assert best.reason == "best" and best.program_id == data.best.id
    assert best.gap == pytest.approx(stored[best.program_id] - best.search)


def test_the_html_is_self_contained_and_escapes_program_text(run_dir, tmp_path):
    run = open_run(run_dir, readonly=True)
    path, _ = write_report(run, tmp_path / "report.html")
    run.close()
    text = path.read_text()
    assert "<script" not in text and "http://example.invalid" not in text.replace("src=http://example.invalid", "")
    assert "&lt;/pre&gt;&lt;script&gt;alert(&quot;report&quot;)&lt;/script&gt;" in text  # the seed comment, inert
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:;' in text
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', text)
    assert [alt for alt, _ in images] == ["best_over_time", "archive", "outcomes", "holdout"]
    assert all(base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n") for _, data in images)
    for section in ("Best score over time", "The archive", "Lineage of the best program", "Proposers", "Failures",
                    "Search vs holdout", "diff: seed → best"):  # fmt: skip
        assert section in text


def test_markdown_with_figures_beside_it(run_dir, tmp_path):
    out = tmp_path / "md"
    result = subprocess.run(
        [sys.executable, "-m", "cli", "report", str(run_dir), "--format", "md", "--out", str(out), "--no-baselines", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["report"] == str(out / "report.md") and summary["baselines"] == SKIPPED
    text = (out / "report.md").read_text()
    figures = re.findall(r"!\[[^\]]*\]\((figures/[a-z_]+\.png)\)", text)
    assert len(figures) == 4 and all((out / f).read_bytes().startswith(b"\x89PNG") for f in figures)
    assert "## Lineage of the best program" in text and "| proposer | proposals |" in text
    assert "\n````python\n" in text  # the seed holds ``` in a comment: the fence is longer than it


def test_a_run_whose_seed_failed_still_has_a_report(tmp_path):
    problem = tmp_path / "broken"
    shutil.copytree(STAGED, problem)
    (problem / "evaluate.py").write_text(
        "from evaluators import InvalidOutput\n\n\ndef evaluate(candidate, context):\n"
        "    raise InvalidOutput('run() returned 42, expected a list of 3 numbers')\n"
    )
    with pytest.raises(RunError, match="failed to evaluate"):
        api.start(problem, budget=3, out=tmp_path / "runs")
    (run_dir,) = (tmp_path / "runs").iterdir()
    run = open_run(run_dir, readonly=True)
    path, data = write_report(run, tmp_path / "report.html", score_baselines=False)
    run.close()
    text = path.read_text()
    assert data.best is None and "No program has completed an evaluation yet." in text
    assert "invalid_output" in text and "run() returned 42, expected a list of 3 numbers" in text


@pytest.mark.parametrize("module", ["evolve.report", "evolve.report.terminal", "evolve.api", "evolve.scaffold",
                                    "evolve.problem_checks"])
def test_each_new_module_imports_on_its_own_without_matplotlib(module):
    done = subprocess.run([sys.executable, "-c", f"import sys, {module}; print('matplotlib' in sys.modules)"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr  # plots import it only when drawing


def test_without_matplotlib_the_report_says_how_to_get_it(run_dir, tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from cli import app; "
            f"sys.argv = ['evolve', 'report', {str(run_dir)!r}, '--no-baselines', '--out', {str(tmp_path / 'r.html')!r}]; app()")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 1 and "pip install 'evolve[report]'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "r.html").exists()
