"""The real `evolve` command, end to end, in subprocesses."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evolve.loop.controller import Controller
from evolve.evaluation.executor import LocalExecutor
from evolve.proposers import build_proposer
from evolve.store.run import open_run

EVOLVE = [sys.executable, "-m", "cli"]
ROOT = Path(__file__).resolve().parent.parent


def evolve(*args, env=None, timeout=300):
    return subprocess.run(
        EVOLVE + [str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def _run_dir(output: str) -> Path:
    line = next(line for line in output.splitlines() if line.startswith("run directory: "))
    return Path(line.removeprefix("run directory: ").strip())


def test_circle_packing_end_to_end(tmp_path):
    result = evolve("run", "circle_packing", "--budget", 12, "--out", tmp_path, "--plain", "--seed", 1)
    assert result.returncode == 0, result.stderr
    run_dir = _run_dir(result.stdout)
    assert (run_dir / "evolve.db").is_file() and (run_dir / "problem" / "evaluate.py").is_file()
    assert oct(run_dir.stat().st_mode & 0o777) == "0o700"
    assert "best sum_of_radii: " in result.stdout
    status = evolve("status", run_dir)
    assert status.returncode == 0 and "finished" in status.stdout and "13 of 13" in status.stdout
    best = evolve("best", run_dir)
    assert best.returncode == 0 and "def run_packing" in best.stdout and "radius_cv" in best.stdout
    code = evolve("best", run_dir, "--code-only")
    compile(code.stdout, "best.py", "exec")


def test_check_scores_seed_and_baselines():
    result = evolve("check", "circle_packing")
    assert result.returncode == 0, result.stderr
    assert "initial.py" in result.stdout and "baselines/square_grid.py" in result.stdout
    assert "2.54" in result.stdout  # the square-grid baseline's sum of radii


def test_problems_lists_builtins():
    result = evolve("problems")
    assert result.returncode == 0 and "circle_packing" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "no-such-problem"], "not a built-in problem"),
        (["run", "circle_packing", "--no-such-option"], "No such option"),
        (["status", "/nonexistent/run"], "not a run directory"),
        (["run", "circle_packing", "--sandbox", "teleport"], "unknown sandbox backend"),
    ],
)
def test_bad_input_gives_clear_error_and_exit_2(args, message):
    result = evolve(*args)
    assert result.returncode == 2
    assert message in result.stderr + result.stdout


def test_malformed_problem_toml_names_the_field(tmp_path, tiny_problem):
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("initial.py", "evaluate.py"):
        (folder / name).write_text((tiny_problem / name).read_text())
    (folder / "problem.toml").write_text('[problem]\nname = "x"\ndescription = "d"\n[run]\nbudget = "lots"\n')
    result = evolve("run", folder)
    assert result.returncode == 2
    assert "run.budget" in result.stderr


def _rows(db_path: Path):
    with sqlite3.connect(db_path) as db:
        programs = db.execute("SELECT id, code, parent_id, island FROM programs ORDER BY id").fetchall()
        evaluations = db.execute("SELECT program_id, ok, score, failure_kind FROM evaluations ORDER BY id").fetchall()
    return programs, evaluations


def test_sigkill_mid_run_then_resume_loses_nothing(tmp_path, tiny_problem):
    env = {"TINY_DELAY": "0.15"}
    process = subprocess.Popen(
        EVOLVE + ["run", str(tiny_problem), "--budget", "40", "--out", str(tmp_path), "--plain"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env},
        start_new_session=True,
    )
    run_dir = Path(process.stdout.readline().removeprefix("run directory: ").strip())
    db_path = run_dir / "evolve.db"
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.1)
        if db_path.exists() and len(_rows(db_path)[1]) >= 8:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    programs_before, evaluations_before = _rows(db_path)
    assert 8 <= len(evaluations_before) < 41

    result = evolve("resume", run_dir, "--plain", env=env)
    assert result.returncode == 0, result.stderr
    programs_after, evaluations_after = _rows(db_path)
    assert programs_after[: len(programs_before)] == programs_before  # every committed candidate kept, unchanged
    assert evaluations_after[: len(evaluations_before)] == evaluations_before
    assert len(programs_after) == 41 and len(evaluations_after) == 41  # in-flight ones were evaluated on resume

    # the archive replayed from the database equals the one the resumed controller held at the end
    run = open_run(run_dir, readonly=True)
    replayed = Controller(run, build_proposer(run.config), LocalExecutor(1, 30))
    replayed.replay()
    assert replayed.progress.evaluated == 41
    assert replayed.archive.fingerprint() == run.db.get_meta("archive_fingerprint")
    run.close()


def test_auto_sandbox_without_bubblewrap_warns_once_and_records_process(tmp_path, tiny_problem):
    """A fresh machine without bubblewrap: the run works on 'process' and says so, once."""
    bin_dir = tmp_path / "bin"  # a PATH with this interpreter but no bwrap
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    result = evolve(
        "run", tiny_problem, "--budget", 3, "--out", tmp_path / "runs", "--plain",
        env={"PATH": str(bin_dir)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: sandbox 'auto'") == 1
    assert "bubblewrap" in result.stderr and "Traceback" not in result.stderr
    status = evolve("status", _run_dir(result.stdout))
    assert "sandbox" in status.stdout and "process" in status.stdout


def test_resume_changes_concurrency_and_stores_it(tmp_path):
    import json
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    tiny = root / "tests" / "fixture_problems" / "tiny"

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=root, capture_output=True, text=True,
                              timeout=240)

    first = cli("run", tiny, "--budget", 3, "--proposals", 3, "-j", 1, "--plain", "--out", tmp_path)
    assert first.returncode == 0, first.stderr
    (db_path,) = tmp_path.glob("*/evolve.db")

    def stored():
        with sqlite3.connect(db_path) as db:
            return json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])["run"]

    assert (stored()["max_concurrent_proposals"], stored()["max_concurrent_evaluations"]) == (3, 1)
    again = cli("resume", db_path.parent, "--budget", 5, "--proposals", 5, "--evaluations", 2, "--plain")
    assert again.returncode == 0, again.stderr
    assert (stored()["max_concurrent_proposals"], stored()["max_concurrent_evaluations"], stored()["budget"]) == (5, 2, 5)
    bad = cli("resume", db_path.parent, "--ray-address", "127.0.0.1:1", "--plain")
    assert bad.returncode == 2 and "--ray-address needs --executor ray" in bad.stderr
