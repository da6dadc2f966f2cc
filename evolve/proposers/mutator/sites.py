"""Where the mutation operators may act: sites collected from EVOLVE-BLOCK ASTs.

A site is a node an operator can change (a constant, an operator, a call, a statement)
together with what the operator needs to know to change it safely: a constant's weight
(structural-looking ints are chosen less often), a statement's function scope and
enclosing ``while`` loops. The eligibility rules for statement edits live here too:

- never deleted: a function's final ``return``, a docstring, a def/import/global, a
  statement that first binds a name read later, or one that rebinds or mutates (by
  a method call or item assignment) a condition variable of an enclosing ``while``,
  lest the loop never end; compound statements are deleted with a quarter of the
  weight;
- duplicated: only statements whose repetition has an effect (``x += d``, ``x = f(x)``;
  calls with less weight);
- swapped: adjacent statements whose order matters, when the swap cannot read a name
  before it is first bound.

Line order stands in for control flow throughout: cheap, and conservative enough in
practice (see the validity measurements in tests/test_mutator.py).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

_DOTTED = re.compile(r"^\.?[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_STRUCTURAL_KEYWORDS = {"axis", "axes", "dim", "ndim", "dtype", "keepdims", "seed", "shape", "size", "random_state"}
_SEEDING_CALLS = ("default_rng", "seed", "manual_seed", "RandomState", "Random", "PRNGKey", "Generator")
_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_NOT_EDITABLE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
                 ast.Global, ast.Nonlocal, ast.Pass)  # fmt: skip
_FLOW = (ast.Return, ast.Raise, ast.Break, ast.Continue)
_COMPOUND = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)


class CallVocabulary:
    """Which call targets may replace which: the union of all groups a name belongs to."""

    def __init__(self, groups: Iterable[Sequence[str]]) -> None:
        self.alternatives: dict[str, list[str]] = {}
        for group in groups:
            names = list(dict.fromkeys(group))
            bad = [name for name in names if not isinstance(name, str) or not _DOTTED.match(name)]
            if bad or len(names) < 2:
                raise ValueError(
                    f"call group {list(group)!r} needs two or more distinct dotted names such as "
                    "'np.minimum' (or '.argmax' for a method)" + (f"; invalid: {bad!r}" if bad else "")
                )
            if len({name.startswith(".") for name in names}) > 1:
                raise ValueError(f"call group {list(group)!r} mixes methods ('.name') and functions")
            for name in names:
                known = self.alternatives.setdefault(name, [])
                known.extend(other for other in names if other != name and other not in known)

    def options(self, call: ast.Call) -> list[str]:
        """Replacement names for ``call``'s target (method names keep their leading '.')."""
        name = dotted_name(call.func)
        if name and name in self.alternatives:
            return self.alternatives[name]
        if isinstance(call.func, ast.Attribute):
            return self.alternatives.get("." + call.func.attr, [])
        return []


def dotted_name(node: ast.expr) -> str | None:
    """'np.random.rand' for the expression ``np.random.rand``; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


@dataclass(frozen=True)
class Slot:
    """Where a node lives: ``getattr(parent, field)`` or ``getattr(parent, field)[index]``."""

    parent: ast.AST
    field: str
    index: int | None

    def get(self) -> ast.AST:
        value = getattr(self.parent, self.field)
        return value if self.index is None else value[self.index]

    def set(self, node: ast.AST) -> None:
        if self.index is None:
            setattr(self.parent, self.field, node)
        else:
            getattr(self.parent, self.field)[self.index] = node


class Scope:
    """Name facts of one function, for the statement operators' safety rules.

    Line order stands in for control flow: a name is "bound before" a statement when a
    binding of it (comprehension variables excepted) sits on an earlier line. Cheap, and
    conservative enough to keep deletions and swaps from reading unbound names.
    """

    def __init__(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.function = function
        self._facts: tuple[set[str], dict[str, int], dict[str, int]] | None = None

    def facts(self) -> tuple[set[str], dict[str, int], dict[str, int]]:
        """(parameters, first line binding each name, last line reading it); computed once."""
        if self._facts is None:
            params = {a.arg for a in ast.walk(self.function.args) if isinstance(a, ast.arg)}
            comprehensions = [c for c in ast.walk(self.function) if isinstance(c, ast.comprehension)]
            local = {id(n) for c in comprehensions for n in ast.walk(c.target)}
            bindings = (ast.Name, ast.Import, ast.ImportFrom, ast.ExceptHandler)
            first_store: dict[str, int] = {}
            last_load: dict[str, int] = {}
            for node in ast.walk(self.function):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    last_load[node.id] = max(last_load.get(node.id, 0), node.lineno)
                elif isinstance(node, bindings) and id(node) not in local:
                    for name in _stored(node):
                        first_store[name] = min(first_store.get(name, node.lineno), node.lineno)
            self._facts = params, first_store, last_load
        return self._facts

    def first_bound_by(self, node: ast.stmt) -> set[str]:
        """Names ``node`` binds that are not parameters and not bound on an earlier line."""
        params, first_store, _ = self.facts()
        return {n for n in _stored(node) if n not in params and first_store.get(n, 0) >= node.lineno}


@dataclass(frozen=True)
class Statement:
    """A statement inside a function: ``body[index]``, with its scope and enclosing whiles."""

    body: list[ast.stmt]
    index: int
    scope: Scope
    whiles: tuple[ast.While, ...]

    @property
    def node(self) -> ast.stmt:
        return self.body[self.index]


@dataclass
class Sites:
    """Every place an operator could act on, in AST order."""

    constants: list[tuple[ast.Constant, float]] = field(default_factory=list)  # with weights
    binops: list[ast.BinOp | ast.AugAssign] = field(default_factory=list)
    compares: list[ast.Compare] = field(default_factory=list)
    boolops: list[ast.BoolOp] = field(default_factory=list)
    negated: list[Slot] = field(default_factory=list)  # -x, removable
    negatable: list[Slot] = field(default_factory=list)  # arithmetic operands
    conditions: list[Slot] = field(default_factory=list)  # if/ternary tests
    calls: list[tuple[ast.Call, list[str]]] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)


def collect(modules: Sequence[ast.Module], vocabulary: CallVocabulary) -> Sites:
    """Collect the mutation sites of ``modules`` (the parsed EVOLVE-BLOCKs)."""
    sites = Sites()
    for module in modules:
        _visit(module, sites, vocabulary, None, (), frozenset())
    return sites


_LEAVES = (ast.expr_context, ast.operator, ast.cmpop, ast.boolop, ast.unaryop)
_CONTEXTS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.While, ast.Subscript, ast.BinOp,
             ast.keyword, ast.Tuple, ast.Call)  # fmt: skip


def _visit(node, sites, vocabulary, scope, whiles, flags) -> None:  # noqa: ANN001
    """Record the sites under ``node``; ``scope``, ``whiles`` and ``flags`` say where it is."""
    contextual = isinstance(node, _CONTEXTS)
    for name in node._fields:
        value = getattr(node, name, None)
        if not isinstance(value, (list, ast.AST)) or isinstance(value, _LEAVES):
            continue
        inner_scope, inner_whiles, inner_flags = scope, whiles, flags
        if contextual:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and name == "body":
                inner_scope, inner_whiles = Scope(node), ()
            elif isinstance(node, ast.ClassDef):
                inner_scope = None
            elif isinstance(node, ast.While) and name == "body":
                inner_whiles = whiles + (node,)
            elif isinstance(node, ast.Subscript) and name == "slice":
                inner_flags = flags | {"index"}
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and name == "right":
                inner_flags = flags | {"exponent"}
            elif isinstance(node, ast.Tuple):
                inner_flags = flags | {"tuple"}
            elif (isinstance(node, ast.keyword) and node.arg in _STRUCTURAL_KEYWORDS) or (
                isinstance(node, ast.Call) and name == "args" and _is_seeding(node)
            ):
                inner_flags = flags | {"structural"}
        children = value if isinstance(value, list) else (value,)
        for index, child in enumerate(children):
            if not isinstance(child, ast.AST):
                continue
            if inner_scope is not None and isinstance(child, ast.stmt):
                sites.statements.append(Statement(value, index, inner_scope, inner_whiles))
            _record(child, Slot(node, name, index if children is value else None), sites, vocabulary, inner_flags)
            _visit(child, sites, vocabulary, inner_scope, inner_whiles, inner_flags)


def _is_seeding(call: ast.Call) -> bool:
    return (dotted_name(call.func) or "").endswith(_SEEDING_CALLS)


def _record(node: ast.AST, slot: Slot, sites: Sites, vocabulary: CallVocabulary, flags: frozenset) -> None:
    if isinstance(node, ast.Constant):
        weight = _constant_weight(node.value, flags)
        if weight > 0:
            sites.constants.append((node, weight))
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        operands = (node.left, node.right) if isinstance(node, ast.BinOp) else (node.value,)
        if not any(_is_sequence_literal(operand) for operand in operands):
            sites.binops.append(node)
    elif isinstance(node, ast.Compare):
        sites.compares.append(node)
    elif isinstance(node, ast.BoolOp):
        sites.boolops.append(node)
    elif isinstance(node, ast.Call) and (options := vocabulary.options(node)):
        sites.calls.append((node, options))
    parent = slot.parent
    if isinstance(parent, (ast.If, ast.IfExp)) and slot.field == "test":
        sites.conditions.append(slot)
    if "structural" in flags:
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.UnaryOp):
        sites.negated.append(slot)
    elif (
        isinstance(parent, ast.BinOp)
        and isinstance(parent.op, _ARITHMETIC)
        and isinstance(node, (ast.Name, ast.Call, ast.Attribute, ast.Subscript))
    ):
        sites.negatable.append(slot)


def _is_sequence_literal(node: ast.expr) -> bool:
    strings = isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))
    return strings or isinstance(node, (ast.JoinedStr, ast.List, ast.Tuple, ast.ListComp))


def _constant_weight(value: object, flags: frozenset) -> float:
    """How often a constant is chosen: floats freely, structural-looking ints rarely."""
    if "structural" in flags or isinstance(value, (str, bytes, complex)) or value is None:
        return 0.0
    if isinstance(value, bool):
        return 0.1
    if isinstance(value, float):
        return 1.0 if math.isfinite(value) else 0.0
    if not isinstance(value, int):
        return 0.0
    weight = 0.6
    for flag in ("index", "exponent", "tuple"):
        if flag in flags:
            weight *= 0.25
    return weight * 0.4 if value in (0, 1) else weight


# --- statement safety --------------------------------------------------------------------


def short(node: ast.stmt) -> str:
    text = ast.unparse(node).split("\n")[0]
    return text if len(text) <= 40 else text[:37] + "..."


def _names(node: ast.AST, context: type) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, context)}


def _stored(node: ast.AST) -> set[str]:
    names = _names(node, ast.Store)
    for n in ast.walk(node):
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in n.names}
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
    return names


def _modified(node: ast.AST) -> set[str]:
    """Names ``node`` rebinds or mutates in place (``a[i] = v``, ``a.x = v``, ``a.pop()``)."""
    names = _stored(node)
    for n in ast.walk(node):
        target = None
        if isinstance(n, (ast.Subscript, ast.Attribute)) and isinstance(n.ctx, ast.Store):
            target = n.value
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            target = n.func.value
        if isinstance(target, ast.Name):
            names.add(target.id)
    return names


def _is_docstring(site: Statement) -> bool:
    node = site.node
    return (
        site.index == 0
        and site.body is site.scope.function.body
        and isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def deletion_weight(site: Statement) -> float:
    node = site.node
    if isinstance(node, _NOT_EDITABLE) or _is_docstring(site):
        return 0.0
    if isinstance(node, ast.Return) and site.body is site.scope.function.body and site.index == len(site.body) - 1:
        return 0.0
    if any(_modified(node) & _names(loop.test, ast.Load) for loop in site.whiles):
        return 0.0
    end, last_load = node.end_lineno or node.lineno, site.scope.facts()[2]
    if any(last_load.get(name, 0) > end for name in site.scope.first_bound_by(node)):
        return 0.0
    return 0.25 if isinstance(node, _COMPOUND) else 1.0


def duplication_weight(node: ast.stmt) -> float:
    if isinstance(node, ast.AugAssign):
        return 1.0
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return 0.3
    if isinstance(node, ast.Assign):
        targets = set().union(*(_names(t, ast.Store) | _names(t, ast.Load) for t in node.targets))
        return 1.0 if targets & _names(node.value, ast.Load) else 0.0
    return 0.0


def swappable(site: Statement, second: ast.stmt) -> bool:
    first = site.node
    if any(isinstance(n, _NOT_EDITABLE + _FLOW) for n in (first, second)) or _is_docstring(site):
        return False
    if ast.dump(first) == ast.dump(second):
        return False
    first_stores, second_stores = _stored(first), _stored(second)
    first_loads, second_loads = _names(first, ast.Load), _names(second, ast.Load)
    order_matters = bool(first_stores & (second_loads | second_stores) or second_stores & first_loads)
    return order_matters and not (site.scope.first_bound_by(first) & (second_loads | second_stores))
