"""A torch problem end to end: the candidate trains in the sandbox, tensors cross, the trusted side re-scores.

Runs on the CPU everywhere; on a machine with CUDA the same problem (gpus = "auto") gets a
GPU in the sandbox and the trusted side scores on it (the gpu-marked test)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = ROOT / "tests" / "fixture_problems" / "torch_artifact"


def evolve(*args):
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "200"})


def test_a_torch_job_returns_tensors_that_the_trusted_side_rescores(tmp_path):
    checked = evolve("check", PROBLEM, "--json")
    assert checked.returncode == 0, checked.stderr
    rows = json.loads(checked.stdout)["programs"]
    assert [r["split"] for r in rows] == ["search", "holdout"] and all(r["ok"] for r in rows)
    assert all(r["metrics"]["bf16_exact"] == 1.0 for r in rows)  # bfloat16 crossed bit-exactly
    assert rows[0]["score"] != rows[1]["score"]  # the holdout data is other data
    ran = evolve("run", PROBLEM, "--budget", 4, "--out", tmp_path, "--plain")
    assert ran.returncode == 0, ran.stderr
    assert "holdout neg_mse of program" in ran.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: torch.cuda.is_available() is False")
def test_on_a_gpu_the_candidate_and_the_trusted_side_both_use_it():
    checked = evolve("check", PROBLEM, "--json")
    assert checked.returncode == 0, checked.stderr
    rows = json.loads(checked.stdout)["programs"]
    assert all(r["metrics"]["scored_on_gpu"] == 1.0 for r in rows)
    assert all("trained on cuda" in r["feedback"] for r in rows)
