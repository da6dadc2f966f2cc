"""One writer per run: a second `run`/`resume` on a live run is refused; `status` tells a live
run from a killed one."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evolve.problem import load_problem
from evolve.store import RunLocked, create_run, held_by, open_run

ROOT = Path(__file__).resolve().parent.parent
EVOLVE = [sys.executable, "-m", "cli"]


def evolve(*args, env=None):
    return subprocess.run(EVOLVE + [str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def test_a_second_writer_in_this_process_is_refused(tiny_problem, tmp_path):
    problem = load_problem(tiny_problem)
    run = create_run(problem, problem.config, tmp_path)
    with pytest.raises(RunLocked, match=f"process {os.getpid()} is running this run"):
        open_run(run.directory)
    reader = open_run(run.directory, readonly=True)  # readers never take the lock
    assert reader.live_status() == "running"
    reader.close()
    run.close()
    assert held_by(run.directory) is None
    again = open_run(run.directory)  # released on close
    again.close()


def test_resume_of_a_live_run_exits_2_naming_the_process_and_status_tells_killed_from_running(tiny_problem, tmp_path):
    process = subprocess.Popen(
        EVOLVE + ["run", str(tiny_problem), "--budget", "400", "--out", str(tmp_path), "--plain"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "TINY_DELAY": "0.1"},
    )
    run_dir = Path(process.stdout.readline().removeprefix("run directory: ").strip())
    try:
        deadline = time.time() + 120
        while time.time() < deadline and evolve("status", run_dir).stdout.count("running") == 0:
            time.sleep(0.2)
        second = evolve("resume", run_dir, "--plain")
        assert second.returncode == 2
        assert f"process {process.pid} is running this run" in second.stderr
        assert "Traceback" not in second.stderr
        assert "running" in evolve("status", run_dir).stdout
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    status = evolve("status", run_dir)
    assert "killed" in status.stdout and "running" not in status.stdout
    resumed = evolve("resume", run_dir, "--budget", "3", "--plain", env={"TINY_DELAY": "0"})
    assert resumed.returncode == 0, resumed.stderr


def test_builtin_problems_are_found_whatever_the_working_directory(tmp_path):
    (tmp_path / "problems").mkdir()  # a user's own folder called problems must not shadow the built-ins
    (tmp_path / "problems" / "notes.txt").write_text("mine")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", "import cli; from evolve.problem import builtin_problems; "
         "print([p.name for p in builtin_problems()])"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "circle_packing" in done.stdout
    listed = subprocess.run(EVOLVE + ["problems"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert listed.returncode == 0 and "circle_packing" in listed.stdout
