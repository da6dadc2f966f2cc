"""The architecture's promises: no import cycles, no probing for undeclared hooks, one source per default."""

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from evolve.config import LimitSettings
from evolve.proposers import Proposer
from sandbox import Limits, Sandbox

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = [
    "evolve.config", "evolve.records", "evolve.problem", "evolve.archive", "evolve.proposers",
    "evolve.proposers.mutator", "evolve.proposers.llm", "evolve.edits", "evolve.evaluation",
    "evolve.store", "evolve.loop", "evolve.views", "evaluators", "sandbox",
]  # fmt: skip


@pytest.mark.parametrize("module", SUBPACKAGES)
def test_each_subpackage_imports_on_its_own(module):
    """A fresh interpreter imports it first: an import cycle would fail here, not be hidden by order."""
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_sandbox_imports_nothing_of_the_engine():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, sandbox; import sandbox.process, sandbox.bwrap, sandbox.wire;"
         "print(sorted(m for m in sys.modules if m == 'evolve' or m.startswith('evolve.')))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def _probes(tree: ast.AST) -> list[str]:
    """hasattr/getattr calls whose object is a proposer or a sandbox: hooks must be declared instead."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr"):
            target = ast.unparse(node.args[0]) if node.args else ""
            if any(word in target.lower() for word in ("proposer", "sandbox", "backend")):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_probing_of_proposers_or_sandboxes():
    sources = [ROOT / "cli.py", *sorted((ROOT / "evolve").rglob("*.py")), *sorted((ROOT / "sandbox").glob("__init__.py"))]
    probes = {str(p.relative_to(ROOT)): _probes(ast.parse(p.read_text())) for p in sources}
    assert {k: v for k, v in probes.items() if v} == {}


def test_the_interfaces_declare_every_hook_the_engine_calls():
    for hook in ("propose", "observe", "state", "restore", "restore_spending", "stop_reason", "unpriced_models", "aclose"):
        assert hasattr(Proposer, hook), hook
    for hook in ("start", "info", "close"):
        assert hasattr(Sandbox, hook), hook


def test_limit_settings_and_sandbox_limits_share_their_defaults():
    assert LimitSettings().to_sandbox() == Limits()
    settings = set(LimitSettings.model_fields)
    unit = {"max_output_bytes": "max_output_kb"}  # users write kilobytes
    assigned = {"gpu_devices"}  # the executor deals GPUs; not a problem setting
    missing = [f.name for f in dataclasses.fields(Limits) if f.name not in assigned and unit.get(f.name, f.name) not in settings]
    assert missing == [], f"sandbox limits without a [limits] setting: {missing}"


def test_every_sandbox_limit_reaches_the_sandbox():
    changed = LimitSettings(
        timeout_s=3, memory_mb=300, cpu_s=7, max_processes=5, max_file_mb=2, max_open_files=40, max_output_kb=3,
        max_message_mb=9, max_header_kb=33, max_fetch_mb=5, startup_timeout_s=11, scratch_mb=13,
    ).to_sandbox(("0",))
    defaults = Limits()
    same = [f.name for f in dataclasses.fields(Limits) if getattr(changed, f.name) == getattr(defaults, f.name)]
    assert same == [], f"settings that do not reach sandbox.Limits: {same}"
