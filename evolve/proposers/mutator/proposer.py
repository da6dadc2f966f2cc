"""The built-in mutator: AST-level program mutation, the proposer used when no LLM is set.

It is a real baseline in its own right (symbolic program search, as in genetic
programming) and the ablation every LLM run should beat. Each proposal parses the
parent's EVOLVE-BLOCKs, applies 1..k operators from ``evolve.proposers.mutator.operators`` (k geometric,
``P(k > j) = continue_probability ** j``, capped at ``max_operators``), or, with
probability ``w_crossover / sum(w)`` when an inspiration defines a shared name
differently, one crossover.

Invariants:

- Only block contents change; the text outside the blocks is byte-identical. Within a
  block only the mutated nodes are re-printed, in place (``evolve.proposers.mutator.render``),
  so comments, docstrings and formatting survive everywhere else, also inside the
  function that changed; literals and unary minus are printed cleanly.
- Each block must parse on its own (whole statements; a uniformly indented block is
  dedented first), otherwise the proposal carries an error saying which block and why.
- The result compiles and differs from the parent (compared as ASTs, so a reformatting
  never counts as a change); after ``attempts`` failed tries the proposal carries an error.
- Deterministic: all randomness comes from ``random.Random(context.seed)``.
"""

from __future__ import annotations

import ast
import copy
import functools
import random
from dataclasses import dataclass
from typing import Mapping, Sequence

from evolve.edits.blocks import Block, EditError, blocks
from evolve.edits.compiled import compiled
from evolve.proposers.mutator.render import RenderError, render_faithfully, structure_hashes, tidy
from evolve.proposers.mutator.sites import CallVocabulary, collect
from evolve.proposers.mutator.operators import DEFAULT_CALL_GROUPS, OPERATIONS, line_of, validate_weights
from evolve.records import Proposal
from evolve.proposers.base import ProgramView, ProposalContext, Proposer
from evolve.proposers.operator_bandit import OperatorBandit


class BlockSyntaxError(ValueError):
    """An EVOLVE-BLOCK that does not parse as a module on its own."""


@dataclass(frozen=True)
class ParsedBlock:
    """A block's text split into lines, its common indentation, and its AST.

    Node line numbers are absolute (lines of the whole program), so summaries and the
    statement-wise re-rendering can refer to them directly.
    """

    block: Block
    lines: tuple[str, ...]
    indent: str
    dedented: str
    module: ast.Module
    hashes: dict[int, int]  # structure_hashes(module): what unchanged means, cached with the parse

    def fresh_module(self) -> ast.Module:
        """A new copy of ``module`` to mutate (re-parsing is faster than deepcopy)."""
        return ast.parse(self.dedented)

    def changed(self, module: ast.Module, hashes: dict[int, int]) -> list[bool] | None:
        """Per top-level statement, whether ``module`` (with its ``structure_hashes``) differs;
        None if their count differs."""
        if len(module.body) != len(self.module.body):
            return None
        return [hashes[id(new)] != self.hashes[id(old)] for new, old in zip(module.body, self.module.body)]


@functools.lru_cache(maxsize=64)
def parse_blocks(code: str) -> tuple[ParsedBlock, ...]:
    """Parse every EVOLVE-BLOCK of ``code``; raises EditError or BlockSyntaxError.

    Cached, because a parent is mutated many times; the returned ASTs are shared and must
    not be modified (operators work on ``ParsedBlock.fresh_module()`` copies).
    """
    parsed = []
    for block in blocks(code):
        lines = tuple(block.text.split("\n"))
        indents = [line[: len(line) - len(line.lstrip())] for line in lines if line.strip()]
        indent = _common_prefix(indents) if indents else ""
        # Leading newlines make the parsed line numbers those of the whole program.
        text = "\n" * (block.first_line - 1) + "\n".join(line[len(indent) :] if line.strip() else "" for line in lines)
        try:
            module = ast.parse(text)
        except SyntaxError as error:
            line = error.lineno or block.first_line
            raise BlockSyntaxError(
                f"EVOLVE-BLOCK {block.index + 1} (starting at line {block.first_line}) does not parse "
                f"on its own: line {line}: {error.msg}; the mutator needs each block to hold whole "
                "statements"
            ) from None
        parsed.append(ParsedBlock(block, lines, indent, text, module, structure_hashes(module)))
    return tuple(parsed)


def render(code: str, parsed: Sequence[ParsedBlock], modules: Sequence[ast.Module]) -> str:
    """``code`` with each block replaced by its (possibly mutated) module.

    Unchanged blocks keep their text. A changed block is edited only where the mutated
    nodes lie (``render.render_faithfully``: comments and formatting elsewhere survive);
    where that cannot be done, the changed top-level statements are printed again, or,
    when statements share lines, the whole block.
    """
    result = code
    for item, module in reversed(list(zip(parsed, modules))):
        module = tidy(module)
        hashes = structure_hashes(module)
        changed = item.changed(module, hashes)
        if changed is not None and not any(changed):
            continue
        try:
            text = render_faithfully(item.lines, item.indent, item.block.first_line, item.module, module, item.hashes, hashes)
        except RenderError:
            text = _render_statements(item, module, changed)
        result = result[: item.block.start] + text + result[item.block.end :]
    return result


def _render_statements(item: ParsedBlock, module: ast.Module, changed: list[bool] | None) -> str:
    """The fallback: re-print the changed top-level statements (or the whole block) with ast.unparse."""
    old, new = item.module.body, module.body
    if changed is not None and all(a.end_lineno < _first_line(b) for a, b in zip(old, old[1:])):
        lines = list(item.lines)
        for before, after, differs in reversed(list(zip(old, new, changed))):
            if differs:
                start = _first_line(before) - item.block.first_line
                lines[start : before.end_lineno - item.block.first_line + 1] = _indented(after, item.indent)
        return "\n".join(lines)
    return "\n".join(_indented(module, item.indent)) + "\n"


class MutatorProposer(Proposer):
    """Proposes mutations (kind "mutation") and crossovers (kind "crossover") of the parent.

    ``call_groups`` extend the built-in vocabulary of interchangeable calls (the problem's
    ``[mutator] call_groups``); ``weights`` override per-operator weights by name (see
    ``evolve.proposers.mutator.operators.OPERATORS``); a weight of 0 disables an operator.
    ``adaptive``: the weights are the priors of an ``OperatorBandit`` that learns which
    operators improve their parent (``observe``), and whose counts resume with the run.
    """

    name = "mutator"

    def __init__(
        self,
        call_groups: Sequence[Sequence[str]] = (),
        weights: Mapping[str, float] | None = None,
        *,
        max_operators: int = 4,
        continue_probability: float = 0.35,
        attempts: int = 8,
        adaptive: bool = False,
    ) -> None:
        if max_operators < 1 or attempts < 1 or not 0 <= continue_probability < 1:
            raise ValueError("need max_operators >= 1, attempts >= 1 and 0 <= continue_probability < 1")
        self.vocabulary = CallVocabulary([*DEFAULT_CALL_GROUPS, *call_groups])
        self.weights = validate_weights(weights or {})
        self.max_operators = max_operators
        self.continue_probability = continue_probability
        self.attempts = attempts
        self.bandit = OperatorBandit(self.weights) if adaptive else None

    async def propose(self, context: ProposalContext) -> Proposal:
        return self.mutate(context.parent.code, context.seed, context.inspirations)

    def mutate(self, code: str, seed: int, inspirations: Sequence[ProgramView] = ()) -> Proposal:
        """The synchronous core of ``propose``: same inputs, same Proposal."""
        try:
            parsed = parse_blocks(code)
        except (EditError, BlockSyntaxError) as error:
            return Proposal(self.name, "mutation", error=f"cannot mutate the parent: {error}")
        donors = []
        for view in inspirations:
            try:
                if view.code != code:
                    donors.append((view.id, [item.module for item in parse_blocks(view.code)]))
            except (EditError, BlockSyntaxError):
                continue  # an unparseable inspiration just cannot donate
        rng = random.Random(seed)
        weights = self.weights if self.bandit is None else self.bandit.weights(random.Random(f"{seed}:operators"))
        failures = []
        for _ in range(self.attempts):
            modules, descriptions, kind, used = self._draw(parsed, donors, rng, weights)
            if not descriptions:
                return Proposal(
                    self.name, "mutation",
                    error="nothing to mutate: the EVOLVE-BLOCK has no numeric constants, operators, "
                    "swappable calls or statements inside functions",
                )  # fmt: skip
            candidate = render(code, parsed, modules)
            if candidate == code:
                failures.append("no net change")
                continue
            try:
                compiled(candidate)
            except (SyntaxError, ValueError) as error:
                failures.append(f"does not compile ({error})")
                continue
            return Proposal(self.name, kind, code=candidate, summary="; ".join(descriptions), operators=tuple(used))
        return Proposal(
            self.name, "mutation",
            error=f"no valid mutation in {self.attempts} attempts: {', '.join(dict.fromkeys(failures))}",
        )  # fmt: skip

    def observe(self, proposal: Proposal, parent_score: float | None, child_score: float | None) -> None:
        """Credit the operators the proposal used: a success iff the child beat its parent."""
        if self.bandit is not None and proposal.operators:
            improved = parent_score is not None and child_score is not None and child_score > parent_score
            self.bandit.record(proposal.operators, improved)

    def state(self) -> dict:
        return {"operators": self.bandit.state()} if self.bandit is not None else {}

    def restore(self, state: dict) -> None:
        if self.bandit is not None and "operators" in state:
            self.bandit.restore(state["operators"])

    def _draw(
        self, parsed: Sequence[ParsedBlock], donors: list, rng: random.Random, weights: Mapping[str, float]
    ) -> tuple[list[ast.Module], list[str], str, list[str]]:
        """One try: mutated copies of the block modules, descriptions, the kind and the operators used."""
        modules = [item.fresh_module() for item in parsed]
        if donors and weights["crossover"] > 0:
            total = sum(weights.values())
            if rng.random() < weights["crossover"] / total:
                description = crossover(modules, donors, rng)
                if description:
                    return modules, [description], "crossover", ["crossover"]
        count = 1
        while count < self.max_operators and rng.random() < self.continue_probability:
            count += 1
        descriptions, used = [], []
        for _ in range(count):
            sites = collect(modules, self.vocabulary)
            available = [name for name in OPERATIONS if weights[name] > 0]
            while available:
                name = rng.choices(available, weights=[weights[n] for n in available])[0]
                description = OPERATIONS[name](sites, rng)
                if description:
                    descriptions.append(description)
                    used.append(name)
                    break
                available.remove(name)
        return modules, descriptions, "mutation", used


def top_level_definitions(modules: Sequence[ast.Module]) -> dict[str, tuple[int, int]]:
    """Name -> (module index, statement index) of each top-level def, class or assignment."""
    found: dict[str, tuple[int, int]] = {}
    for m, module in enumerate(modules):
        for s, node in enumerate(module.body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.setdefault(node.name, (m, s))
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                found.setdefault(node.targets[0].id, (m, s))
    return found


def crossover(
    modules: list[ast.Module], donors: Sequence[tuple[int, Sequence[ast.Module]]], rng: random.Random
) -> str | None:
    """Replace one top-level definition of ``modules`` with a donor's same-named, different one.

    ``donors`` are (program id, parsed blocks) of the inspirations. Returns a description,
    or None when no donor defines a shared name differently (the caller then mutates).
    """
    ours = top_level_definitions(modules)
    options = []
    for program_id, donor in donors:
        for name, (m, s) in top_level_definitions(donor).items():
            if name in ours:
                mine = modules[ours[name][0]].body[ours[name][1]]
                if ast.dump(mine) != ast.dump(donor[m].body[s]):
                    options.append((program_id, name, donor[m].body[s]))
    if not options:
        return None
    program_id, name, node = rng.choice(options)
    m, s = ours[name]
    old = modules[m].body[s]
    modules[m].body[s] = copy.deepcopy(node)
    what = "assignment" if isinstance(node, ast.Assign) else "class" if isinstance(node, ast.ClassDef) else "function"
    return f"crossover: {what} '{name}' from program {program_id} {line_of(old)}"


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _indented(node: ast.AST, indent: str) -> list[str]:
    return [indent + line if line.strip() else line for line in ast.unparse(node).split("\n")]


def _common_prefix(strings: list[str]) -> str:
    first, last = min(strings), max(strings)
    size = next((i for i, (a, b) in enumerate(zip(first, last)) if a != b), min(len(first), len(last)))
    return first[:size]
