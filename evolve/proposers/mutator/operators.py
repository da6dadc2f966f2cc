"""AST mutation operators: the moves of the built-in mutator's symbolic program search.

Each operator acts in place on the parsed EVOLVE-BLOCK modules, chooses its site with
the ``random.Random`` it is given, and returns a one-line description such as
"constant 0.5 -> 0.53 (line 12)", or None when it has no site:

- ``constant``: floats take a log-normal multiplicative step (sometimes an additive one)
  and are rounded to 4 significant digits; ints move by 1..3 (large ones
  multiplicatively) and keep their sign; bools flip. Ints that look structural (indices,
  exponents, tuple elements such as shapes, 0 and 1) are chosen less often; arguments
  such as ``axis=``, ``size=`` and random seeds never.
- ``binop``, ``compare``, ``boolop``: swap an operator within a sensible group
  (+ and -, * and /, // and %, < and <=, == and !=, and/or), ``x += d`` included.
- ``unary``: remove or insert a unary minus on an arithmetic operand, or a ``not`` on
  an ``if`` condition.
- ``call``: swap a call target within an interchangeable group (min/max, np.sin/np.cos,
  ``.argmin``/``.argmax`` methods, ...); the problem's groups extend the built-in ones.
- ``delete``, ``duplicate``, ``swap``: statement edits inside function bodies, under
  the eligibility rules of ``evolve.proposers.mutator.sites`` (no deleting a final ``return`` or
  a ``while`` loop's progress, no reading a name before it is bound).

``crossover`` needs a second program and lives with the proposer
(``evolve.proposers.mutator``). Sites are collected in the AST's own order and all
choices come from the given rng, so a seed fixes the outcome.
"""

from __future__ import annotations

import ast
import copy
import math
import random
from typing import Callable, Mapping, Sequence

from evolve.proposers.mutator.sites import Sites, deletion_weight, duplication_weight, short, swappable

OPERATORS = ("constant", "binop", "compare", "boolop", "unary", "call", "delete", "duplicate", "swap", "crossover")

DEFAULT_WEIGHTS: dict[str, float] = {
    "constant": 3.0, "binop": 1.2, "compare": 0.8, "boolop": 0.4, "unary": 0.5, "call": 1.0,
    "delete": 0.6, "duplicate": 0.4, "swap": 0.4, "crossover": 1.5,
}  # fmt: skip

_NUMPY_GROUPS = (
    ("min", "max"), ("minimum", "maximum"), ("argmin", "argmax"), ("amin", "amax"),
    ("sin", "cos"), ("floor", "ceil", "round"), ("mean", "median"), ("sqrt", "cbrt"),
    ("log", "log1p"), ("exp", "expm1"), ("cumsum", "cumprod"), ("sum", "mean"), ("tanh", "arctan"),
)  # fmt: skip

DEFAULT_CALL_GROUPS: tuple[tuple[str, ...], ...] = (
    ("min", "max"), ("math.sin", "math.cos"), ("math.floor", "math.ceil"), ("math.log", "math.log1p"),
    ("math.exp", "math.expm1"), ("torch.minimum", "torch.maximum"), ("torch.sin", "torch.cos"),
    (".min", ".max"), (".argmin", ".argmax"),
    *(tuple(f"{prefix}.{name}" for name in group) for prefix in ("np", "numpy") for group in _NUMPY_GROUPS),
)  # fmt: skip
"""Interchangeable call targets. A name starting with '.' is a method on any receiver."""

_BINOPS: dict[type, tuple[tuple[type, float], ...]] = {
    ast.Add: ((ast.Sub, 4), (ast.Mult, 1)), ast.Sub: ((ast.Add, 4), (ast.Mult, 1)),
    ast.Mult: ((ast.Div, 3), (ast.Add, 1)), ast.Div: ((ast.Mult, 3), (ast.Sub, 1)),
    ast.FloorDiv: ((ast.Mod, 1),), ast.Mod: ((ast.FloorDiv, 1),), ast.Pow: ((ast.Mult, 1),),
    ast.BitAnd: ((ast.BitOr, 1),), ast.BitOr: ((ast.BitAnd, 1),), ast.BitXor: ((ast.BitOr, 1),),
    ast.LShift: ((ast.RShift, 1),), ast.RShift: ((ast.LShift, 1),),
}  # fmt: skip
_COMPARES: dict[type, tuple[tuple[type, float], ...]] = {
    ast.Lt: ((ast.LtE, 3), (ast.Gt, 1)), ast.LtE: ((ast.Lt, 3), (ast.GtE, 1)),
    ast.Gt: ((ast.GtE, 3), (ast.Lt, 1)), ast.GtE: ((ast.Gt, 3), (ast.LtE, 1)),
    ast.Eq: ((ast.NotEq, 1),), ast.NotEq: ((ast.Eq, 1),), ast.Is: ((ast.IsNot, 1),),
    ast.IsNot: ((ast.Is, 1),), ast.In: ((ast.NotIn, 1),), ast.NotIn: ((ast.In, 1),),
}  # fmt: skip
_SYMBOLS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.And: "and", ast.Or: "or",
}  # fmt: skip


def perturb(value: float | int | bool, rng: random.Random) -> float | int | bool:
    """A nearby value of the same type, never equal to ``value``; ints keep their sign."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        if abs(value) >= 8 and rng.random() < 0.5:
            new = round(value * math.exp(rng.gauss(0.0, 0.25)))
        else:
            new = value + rng.choice((-1, 1)) * rng.choice((1, 1, 1, 2, 3))
        if (value > 0 and new < 1) or (value < 0 and new > -1) or new == value:
            new = value + (1 if value >= 0 else -1)
        return new
    for _ in range(8):
        if value == 0 or rng.random() < 0.2:
            new = value + rng.gauss(0.0, 0.1 * (abs(value) or 1.0))
        else:
            new = value * math.exp(rng.gauss(0.0, rng.choice((0.05, 0.2, 0.5))))
        new = float(f"{new:.4g}")
        if new != value and math.isfinite(new):
            return new
    return float(f"{value * 1.1:.4g}") if value else 0.1


def pick(rng: random.Random, weighted: Sequence[tuple[object, float]]):  # noqa: ANN201
    """One item of ``(item, weight)`` pairs, drawn proportionally to weight."""
    return rng.choices([item for item, _ in weighted], weights=[weight for _, weight in weighted])[0]


def line_of(node: ast.AST) -> str:
    return f"(line {node.lineno})" if hasattr(node, "lineno") else "(new code)"


# --- operators: (sites, rng) -> description, or None when there is no site ---


def op_constant(sites: Sites, rng: random.Random) -> str | None:
    if not sites.constants:
        return None
    node = pick(rng, sites.constants)
    old, node.value = node.value, perturb(node.value, rng)
    return f"constant {old!r} -> {node.value!r} {line_of(node)}"


def op_binop(sites: Sites, rng: random.Random) -> str | None:
    candidates = [node for node in sites.binops if type(node.op) in _BINOPS]
    if not candidates:
        return None
    node = rng.choice(candidates)
    old, node.op = node.op, pick(rng, _BINOPS[type(node.op)])()
    return f"'{_SYMBOLS[type(old)]}' -> '{_SYMBOLS[type(node.op)]}' {line_of(node)}"


def op_compare(sites: Sites, rng: random.Random) -> str | None:
    if not sites.compares:
        return None
    node = rng.choice(sites.compares)
    at = rng.randrange(len(node.ops))
    old, node.ops[at] = node.ops[at], pick(rng, _COMPARES[type(node.ops[at])])()
    return f"'{_SYMBOLS[type(old)]}' -> '{_SYMBOLS[type(node.ops[at])]}' {line_of(node)}"


def op_boolop(sites: Sites, rng: random.Random) -> str | None:
    if not sites.boolops:
        return None
    node = rng.choice(sites.boolops)
    old, node.op = node.op, ast.Or() if isinstance(node.op, ast.And) else ast.And()
    return f"'{_SYMBOLS[type(old)]}' -> '{_SYMBOLS[type(node.op)]}' {line_of(node)}"


def op_unary(sites: Sites, rng: random.Random) -> str | None:
    groups = [(group, float(len(group))) for group in (sites.negated, sites.negatable, sites.conditions) if group]
    if not groups:
        return None
    group = pick(rng, groups)
    slot = rng.choice(group)
    node = slot.get()
    if group is sites.negated or isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        slot.set(node.operand)
        return f"removed '{'-' if group is sites.negated else 'not'}' in '{ast.unparse(node)}' {line_of(node)}"
    operator = ast.USub() if group is sites.negatable else ast.Not()
    slot.set(ast.copy_location(ast.UnaryOp(operator, node), node))
    return f"negated {'condition ' if group is sites.conditions else ''}'{ast.unparse(node)}' {line_of(node)}"


def op_call(sites: Sites, rng: random.Random) -> str | None:
    if not sites.calls:
        return None
    node, options = rng.choice(sites.calls)
    old, new = ast.unparse(node.func), rng.choice(options)
    if new.startswith("."):
        node.func.attr = new[1:]
    else:
        node.func = ast.copy_location(ast.parse(new, mode="eval").body, node.func)
    return f"call {old} -> {ast.unparse(node.func)} {line_of(node)}"


def op_delete(sites: Sites, rng: random.Random) -> str | None:
    weighted = [(site, w) for site in sites.statements if (w := deletion_weight(site)) > 0]
    if not weighted:
        return None
    site = pick(rng, weighted)
    node = site.body.pop(site.index)
    if not site.body:
        site.body.append(ast.copy_location(ast.Pass(), node))
    return f"deleted statement '{short(node)}' {line_of(node)}"


def op_duplicate(sites: Sites, rng: random.Random) -> str | None:
    weighted = [(site, w) for site in sites.statements if (w := duplication_weight(site.node)) > 0]
    if not weighted:
        return None
    site = pick(rng, weighted)
    site.body.insert(site.index + 1, copy.deepcopy(site.node))
    return f"duplicated statement '{short(site.node)}' {line_of(site.node)}"


def op_swap(sites: Sites, rng: random.Random) -> str | None:
    candidates = [s for s in sites.statements if s.index + 1 < len(s.body) and swappable(s, s.body[s.index + 1])]
    if not candidates:
        return None
    site = rng.choice(candidates)
    first, second = site.body[site.index], site.body[site.index + 1]
    site.body[site.index], site.body[site.index + 1] = second, first
    return f"swapped '{short(first)}' and '{short(second)}' {line_of(first)}"


OPERATIONS: dict[str, Callable[[Sites, random.Random], str | None]] = {
    "constant": op_constant, "binop": op_binop, "compare": op_compare, "boolop": op_boolop,
    "unary": op_unary, "call": op_call, "delete": op_delete, "duplicate": op_duplicate, "swap": op_swap,
}  # fmt: skip
"""The mutation operators by name; ``crossover`` needs a second program (see the mutator)."""


def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Merge ``weights`` over the defaults; unknown names or negative weights are errors."""
    unknown = sorted(set(weights) - set(OPERATORS))
    if unknown:
        raise ValueError(f"unknown mutation operator(s) {unknown}; known: {', '.join(OPERATORS)}")
    merged = {**DEFAULT_WEIGHTS, **{name: float(weight) for name, weight in weights.items()}}
    if not all(weight >= 0 for weight in merged.values()) or not any(merged[name] > 0 for name in OPERATIONS):
        raise ValueError(f"operator weights must be >= 0, with some mutation weight > 0; got {merged}")
    return merged


