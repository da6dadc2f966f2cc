"""What ``evolve check`` finds wrong with a problem folder before (and after) scoring it.

``load_problem`` refuses a folder that cannot be used at all (no ``problem.toml``, an
invalid setting, a seed that does not compile). ``check_folder`` then reads the sources
without running them and returns *findings*: an ``error`` means every evaluation would
fail the same way (``evaluate`` with the wrong signature, an entry point the seed does not
define), a ``warning`` means a run works but probably not as meant (no EVOLVE-BLOCK
markers, a call limit longer than the evaluation's). ``check_scores`` adds what only
scoring shows: a feature outside its axis range (clipped into the edge cell). Each finding
names the file (and line) or the setting, and says what to change.

The entry-point rule is deliberately narrow so it has no false alarms: only string
literals passed to ``.call`` on ``evaluate``'s first parameter (``candidate``) or on a
worker it opened (``with candidate.worker() as w``) count as functions the candidate must
define.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from evolve.edits import EditError, blocks
from evolve.problem import Problem

if TYPE_CHECKING:
    from evolve.loop.engine import Scored

Level = Literal["error", "warning"]
_MAX_CELLS = 100_000


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a folder: where (``file:line`` or ``[table] key``) and what to do."""

    level: Level
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class _Entry:
    name: str
    line: int


def check_folder(problem: Problem) -> list[Finding]:
    """Static findings about ``problem`` (errors first); runs none of its code."""
    findings: list[Finding] = []
    entries = _check_evaluator(problem, findings)
    _check_seed(problem, entries, findings)
    _check_baselines(problem, entries, findings)
    _check_features(problem, findings)
    _check_limits(problem, findings)
    return sorted(findings, key=lambda f: f.level != "error")


def check_scores(problem: Problem, scored: "list[Scored]") -> list[Finding]:
    """Findings from the seed's and baselines' verdicts: features outside their axis range."""
    findings = []
    for row in scored:
        result = row.result
        if row.split != "search" or not result.complete:
            continue
        for axis in problem.config.features:
            value = result.features.get(axis.name)
            if value is not None and math.isfinite(value) and not axis.min <= value <= axis.max:
                findings.append(Finding(
                    "warning", row.name,
                    f"feature {axis.name} = {value:.6g} lies outside its axis range [{axis.min:g}, {axis.max:g}], so it "
                    f"is clipped into the edge cell; widen min/max of that [[features]] entry in problem.toml",
                ))  # fmt: skip
    return findings


# -- evaluate.py ------------------------------------------------------------------------------
def _check_evaluator(problem: Problem, findings: list[Finding]) -> list[_Entry]:
    """The evaluator's signature; returns the candidate functions it calls by name."""
    path = problem.root / "evaluate.py"
    tree = _parse(path.read_text(), "evaluate.py", findings)
    if tree is None:
        return []
    function = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "evaluate"), None)
    if function is None:
        if "evaluate" not in _top_level_names(tree):
            findings.append(Finding(
                "error", "evaluate.py",
                "defines no top-level function evaluate; add `def evaluate(candidate, context):` returning an "
                "evaluators.Evaluation (docs/writing-a-problem.md)",
            ))  # fmt: skip
        return []
    where = f"evaluate.py:{function.lineno}"
    if isinstance(function, ast.AsyncFunctionDef):
        findings.append(Finding("error", where, "evaluate is `async def`; the engine calls it synchronously: make it a plain `def`"))
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    required = len(positional) - len(args.defaults)
    if not positional and args.vararg is None:
        findings.append(Finding(
            "error", where,
            "evaluate() takes no parameters, but it is called as evaluate(candidate) or evaluate(candidate, context); "
            "add the parameters",
        ))  # fmt: skip
        return []
    if required > 2:
        names = ", ".join(a.arg for a in positional)
        findings.append(Finding(
            "error", where,
            f"evaluate({names}) requires {required} arguments, but the engine passes at most two (candidate, context); "
            "give the others defaults or remove them",
        ))  # fmt: skip
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        if default is None:
            findings.append(Finding("error", where, f"keyword-only parameter {arg.arg!r} has no default, and the engine never passes it"))
    takes_context = len(positional) >= 2 or args.vararg is not None
    config = problem.config
    if not takes_context and config.stage_count > 1:
        findings.append(Finding(
            "error", where,
            f"problem.toml declares {config.stage_count} [[stages]], but evaluate({positional[0].arg}) takes no context, "
            "so it cannot tell the stages apart; define evaluate(candidate, context) and branch on context.stage",
        ))  # fmt: skip
    if not takes_context and config.evaluation.holdout:
        findings.append(Finding(
            "error", where,
            f"[evaluation] holdout = true, but evaluate({positional[0].arg}) takes no context, so it cannot tell the "
            "holdout split from the search split; define evaluate(candidate, context) and use context.is_holdout",
        ))  # fmt: skip
    return _entry_points(function, positional[0].arg)


def _entry_points(function: ast.AST, candidate: str) -> list[_Entry]:
    """Names passed as string literals to ``candidate.call`` or to a worker's ``call``."""
    receivers = {candidate}
    for node in ast.walk(function):
        if isinstance(node, ast.With):
            for item in node.items:
                if _is_worker_call(item.context_expr, candidate) and isinstance(item.optional_vars, ast.Name):
                    receivers.add(item.optional_vars.id)
        elif isinstance(node, ast.Assign) and _is_worker_call(node.value, candidate):
            receivers.update(t.id for t in node.targets if isinstance(t, ast.Name))
    entries: dict[str, _Entry] = {}
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "call"
            and isinstance(node.func.value, ast.Name) and node.func.value.id in receivers
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
        ):  # fmt: skip
            name = node.args[0].value
            entries.setdefault(name, _Entry(name, node.lineno))
    return sorted(entries.values(), key=lambda e: e.line)


def _is_worker_call(node: ast.AST, candidate: str) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "worker"
        and isinstance(node.func.value, ast.Name) and node.func.value.id == candidate
    )  # fmt: skip


# -- initial.py and baselines -------------------------------------------------------------------
def _check_seed(problem: Problem, entries: list[_Entry], findings: list[Finding]) -> None:
    code = problem.initial_code
    tree = _parse(code, "initial.py", findings)
    if tree is None:
        return
    try:
        found = blocks(code)
    except EditError as exc:  # load_problem refuses these already; kept for direct callers
        findings.append(Finding("error", "initial.py", str(exc)))
        return
    if not any(block.marked for block in found):
        findings.append(Finding(
            "warning", "initial.py",
            "has no # EVOLVE-BLOCK-START / # EVOLVE-BLOCK-END markers, so the search may change the whole file "
            "(its imports and the entry point too); put the markers around the part to evolve",
        ))  # fmt: skip
    defined = _top_level_names(tree)
    for entry in entries:
        if entry.name not in defined:
            findings.append(Finding(
                "error", "initial.py",
                f"defines no top-level {entry.name}, which evaluate.py:{entry.line} calls; define "
                f"`def {entry.name}(...)` after # EVOLVE-BLOCK-END so the search cannot remove it",
            ))  # fmt: skip
            continue
        line = defined[entry.name]
        inside = [b for b in found if b.marked and b.first_line <= line < b.first_line + b.text.count("\n")]
        if inside:
            findings.append(Finding(
                "warning", f"initial.py:{line}",
                f"{entry.name}, which evaluate.py calls, is inside the EVOLVE-BLOCK: a child that renames or drops it "
                "fails; define the entry point after # EVOLVE-BLOCK-END and call into the block from it",
            ))  # fmt: skip


def _check_baselines(problem: Problem, entries: list[_Entry], findings: list[Finding]) -> None:
    for name, code in problem.baselines.items():
        label = f"baselines/{name}.py"
        tree = _parse(code, label, findings)
        if tree is None:
            continue
        defined = _top_level_names(tree)
        for entry in entries:
            if entry.name not in defined:
                findings.append(Finding(
                    "error", label, f"defines no top-level {entry.name}, which evaluate.py:{entry.line} calls "
                    "(a baseline needs no EVOLVE-BLOCK markers, but the same entry points as initial.py)",
                ))  # fmt: skip


def _parse(code: str, label: str, findings: list[Finding]) -> ast.Module | None:
    try:
        return ast.parse(code, filename=label)
    except SyntaxError as exc:
        findings.append(Finding("error", f"{label}:{exc.lineno}", f"does not compile: {exc.msg}"))
        return None


def _top_level_names(tree: ast.Module) -> dict[str, int]:
    """Names a module binds at its top level (defs, classes, assignments, imports), with their lines."""
    names: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.setdefault(node.name, node.lineno)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names.setdefault(sub.id, node.lineno)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.setdefault((alias.asname or alias.name).split(".")[0], node.lineno)
    return names


# -- problem.toml -----------------------------------------------------------------------------
def _check_features(problem: Problem, findings: list[Finding]) -> None:
    config = problem.config
    names = [axis.name for axis in config.features]
    for name in sorted({n for n in names if names.count(n) > 1}):
        findings.append(Finding("error", "problem.toml [[features]]", f"feature {name!r} is declared twice; give each axis its own feature"))
    axes = config.feature_axes()
    cells = math.prod(axis.bins for axis in axes) * config.search.islands
    if cells > _MAX_CELLS:
        shape = " x ".join(str(axis.bins) for axis in axes)
        findings.append(Finding(
            "warning", "problem.toml [[features]]",
            f"{shape} bins on {config.search.islands} island(s) make {cells:,} archive cells: coverage will stay near "
            "zero and most cells hold one program; use fewer bins",
        ))  # fmt: skip


def _check_limits(problem: Problem, findings: list[Finding]) -> None:
    limits = problem.config.limits
    if limits.timeout_s >= limits.evaluation_timeout_s:
        findings.append(Finding(
            "warning", "problem.toml [limits]",
            f"timeout_s ({limits.timeout_s:g} s) is not below evaluation_timeout_s ({limits.evaluation_timeout_s:g} s): "
            "a slow candidate call is cut by the whole evaluation's limit first and reads as the evaluator's timeout; "
            "keep timeout_s well below evaluation_timeout_s",
        ))  # fmt: skip
    if limits.cpu_s is not None and limits.cpu_s < limits.timeout_s:
        findings.append(Finding(
            "warning", "problem.toml [limits]",
            f"cpu_s ({limits.cpu_s:g} s) is below timeout_s ({limits.timeout_s:g} s): a busy worker is killed by its "
            "CPU limit before the call's timeout; raise cpu_s or leave it unset (derived from the timeouts)",
        ))  # fmt: skip
