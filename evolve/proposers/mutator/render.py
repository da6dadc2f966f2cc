"""Faithful rendering: a mutated block's new text, changed only where the mutated nodes lie.

The mutator edits an AST; printing the whole block (or statement) back with
``ast.unparse`` would lose every comment and blank line in it after one mutation. Instead
the old and new module are compared node by node and only the smallest subtrees that
differ are re-printed, into their own source spans:

* an expression that differs (a constant, an operator, a call target, an inserted
  minus) is replaced inside its span, the rest of its line untouched;
* a statement list that differs in length or order (a deletion, a duplication, a swap, a
  crossover) has its differing range rewritten line by line: statements equal to an old
  one keep their original text (comments inside them included), new ones are printed,
  and the comment and blank lines between the old statements stay where they were.

Correctness never rests on the span arithmetic: the rendered block is parsed again and
must give exactly the intended AST. If it does not (precedence: ``a - b * c`` whose ``*``
became ``+`` needs parentheses), operator expressions are parenthesised and the check is
repeated; if that fails too, the caller falls back to printing whole statements.

``tidy`` prints literals and unary operators cleanly first: a negative constant becomes a
unary minus on a positive one (as the parser builds it), then ``x - -y`` becomes
``x + y``, ``x + -y`` becomes ``x - y`` and ``- -y`` becomes ``y`` (the same value for
every numeric type).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Sequence

_OPERATOR_EXPRESSIONS = (ast.BinOp, ast.BoolOp, ast.Compare, ast.UnaryOp, ast.IfExp, ast.Lambda, ast.NamedExpr)


class RenderError(Exception):
    """The faithful path cannot render this change (the caller prints whole statements)."""


@dataclass
class _Edit:
    """Replace lines[start_line][start_col:] .. lines[end_line][:end_col] (0-based rows, byte columns)."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int
    text: bytes


class _Tidy(ast.NodeTransformer):
    """Parser-shaped, clean arithmetic: no ``x - -c``, no ``- -c``, no negative literal nodes."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        right = node.right
        if isinstance(node.op, (ast.Add, ast.Sub)) and _negated(right):
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
            node.right = right.operand  # type: ignore[attr-defined]
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.USub) and _negated(node.operand):
            return node.operand.operand  # type: ignore[attr-defined]
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if _is_number(node.value) and node.value < 0:
            return ast.copy_location(ast.UnaryOp(ast.USub(), ast.Constant(-node.value)), node)
        return node


def tidy(module: ast.Module) -> ast.Module:
    """``module`` with clean literals (see the module docstring), in place, and returned."""
    return _Tidy().visit(module)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _negated(node: ast.AST) -> bool:
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)


def structure_hashes(tree: ast.AST) -> dict[int, int]:
    """id(node) -> a hash of the node's structure (fields only, never positions), in one pass.

    Two subtrees with equal hashes are taken to be equal; a collision would only send the
    renderer down a path that the final re-parse check rejects, never give a wrong result.
    """
    table: dict[int, int] = {}

    def visit(x: object) -> int:
        if isinstance(x, ast.AST):
            value = hash((type(x), tuple(visit(getattr(x, name, None)) for name in x._fields)))
            table[id(x)] = value
            return value
        if isinstance(x, list):
            return hash(tuple(visit(item) for item in x))
        if isinstance(x, (float, complex)):
            return hash((type(x), repr(x)))  # 0.0 and -0.0 differ, as in ast.dump
        return hash((type(x), x))

    visit(tree)
    return table


@dataclass
class _Context:
    lines: Sequence[str]
    indent: str
    first: int  # the block's first line number in the program
    old_hash: dict[int, int]
    new_hash: dict[int, int]
    paren: bool = False

    def same(self, old: ast.AST, new: ast.AST) -> bool:
        return self.old_hash.get(id(old)) == self.new_hash.get(id(new))


def render_faithfully(
    lines: Sequence[str], indent: str, first_line: int, old: ast.Module, new: ast.Module,
    old_hash: dict[int, int] | None = None, new_hash: dict[int, int] | None = None,
) -> str:
    """The block text for ``new``, edited from ``lines`` (the old block's lines).

    ``old`` was parsed from the block dedented by ``indent`` with its line numbers those
    of the whole program (``first_line`` is the block's first); ``new`` is the mutated
    copy, already tidied; ``old_hash`` and ``new_hash`` are their ``structure_hashes`` if known. Raises RenderError
    when the result would not parse to ``new``.
    """
    new_hash = new_hash or structure_hashes(new)
    context = _Context(lines, indent, first_line, old_hash or structure_hashes(old), new_hash)
    for context.paren in (False, True):
        text = _apply(lines, _diff_body(old.body, new.body, context))
        dedented = "\n" * (first_line - 1) + "\n".join(l[len(indent):] if l.strip() else "" for l in text.split("\n"))
        try:
            reparsed = ast.parse(dedented)
        except SyntaxError:
            continue
        if structure_hashes(reparsed)[id(reparsed)] == new_hash[id(new)]:
            return text
    raise RenderError("the edited text does not parse to the mutated tree")


# --- diffing ---------------------------------------------------------------------------


def _diff_body(old: list[ast.stmt], new: list[ast.stmt], c: _Context) -> list[_Edit]:
    """Edits turning the statement list ``old`` into ``new``."""
    prefix = 0
    while prefix < min(len(old), len(new)) and c.same(old[prefix], new[prefix]):
        prefix += 1
    suffix = 0
    while suffix < min(len(old), len(new)) - prefix and c.same(old[-1 - suffix], new[-1 - suffix]):
        suffix += 1
    a, b = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    if not a and not b:
        return []
    permuted = len(a) > 1 and sorted(c.old_hash[id(x)] for x in a) == sorted(c.new_hash[id(y)] for y in b)
    if len(a) == len(b) and not permuted and all(type(x) is type(y) for x, y in zip(a, b)):
        edits: list[_Edit] = []
        try:
            for x, y in zip(a, b):
                edits += _diff_node(x, y, c)
            return edits
        except RenderError:
            pass  # a statement changed in a way its parts cannot express: rewrite the range
    return [_rewrite_statements(old, prefix, a, b, c)]


def _diff_node(old: ast.AST, new: ast.AST, c: _Context) -> list[_Edit]:
    """Edits turning node ``old`` into ``new`` (same type); RenderError if it cannot be localised."""
    edits = _diff_fields(old, new, c)
    if edits is None:
        if isinstance(old, ast.expr) and _has_span(old):
            return [_replace_expression(old, new, c)]
        raise RenderError(f"cannot localise a change in {type(old).__name__}")
    return edits


def _diff_fields(old: ast.AST, new: ast.AST, c: _Context) -> list[_Edit] | None:
    """Edits for the fields of two same-typed nodes, or None when ``old`` as a whole must be replaced."""
    edits: list[_Edit] = []
    for name in old._fields:
        x, y = getattr(old, name, None), getattr(new, name, None)
        if isinstance(x, list) and isinstance(y, list):
            if x and isinstance(x[0], ast.stmt) or y and isinstance(y[0], ast.stmt):
                edits += _diff_body(x, y, c)
                continue
            if len(x) != len(y):
                return None
            for u, v in zip(x, y):
                sub = _diff_child(u, v, c)
                if sub is None:
                    return None
                edits += sub
        else:
            sub = _diff_child(x, y, c)
            if sub is None:
                return None
            edits += sub
    return edits


def _diff_child(x: object, y: object, c: _Context) -> list[_Edit] | None:
    if isinstance(x, ast.AST) and isinstance(y, ast.AST):
        if c.same(x, y):
            return []
        if type(x) is not type(y):
            if isinstance(x, ast.expr) and _has_span(x):
                return [_replace_expression(x, y, c)]
            return None  # an operator or context without a span: the parent is replaced
        if not _has_span(x):  # arguments, comprehension, withitem: no span, but their parts have one
            return _diff_fields(x, y, c)
        try:
            return _diff_node(x, y, c)
        except RenderError:
            return None
    return [] if type(x) is type(y) and x == y else None


def _has_span(node: ast.AST) -> bool:
    return getattr(node, "end_col_offset", None) is not None and getattr(node, "lineno", None) is not None


# --- edits -----------------------------------------------------------------------------


def _replace_expression(old: ast.AST, new: ast.AST, c: _Context) -> _Edit:
    text = ast.unparse(new)
    if c.paren and isinstance(new, _OPERATOR_EXPRESSIONS):
        text = f"({text})"
    if "\n" in text:
        raise RenderError("a multi-line expression")
    shift = len(c.indent.encode())
    return _Edit(
        old.lineno - c.first, old.col_offset + shift, old.end_lineno - c.first, old.end_col_offset + shift,  # type: ignore[attr-defined, operator]
        text.encode(),
    )


def _rewrite_statements(whole: list[ast.stmt], start: int, old: list[ast.stmt], new: list[ast.stmt], c: _Context) -> _Edit:
    """Replace the lines of the ``old`` statements (``whole[start:...]``) with ``new``'s.

    Statements equal to an old one reuse its lines; the gap lines between old statements
    (comments, blank lines) are kept, in order, between the new ones.
    """
    lines = c.lines
    spans = [_line_span(s, lines, c.indent, c.first) for s in whole]
    for (_, end), (begin, _) in zip(spans, spans[1:]):
        if begin <= end:
            raise RenderError("two statements share a line")
    if old:
        lo, hi = spans[start][0], spans[start + len(old) - 1][1]
        here = _line_indent(lines[lo])
        gaps = [lines[spans[i][1] + 1 : spans[i + 1][0]] for i in range(start, start + len(old) - 1)]
    elif start > 0:  # an insertion after whole[start - 1]
        lo = hi = spans[start - 1][1] + 1
        here, gaps = _line_indent(lines[spans[start - 1][0]]), []
    else:
        lo = hi = spans[0][0]
        here, gaps = _line_indent(lines[lo]), []
    out: list[str] = []
    for i, statement in enumerate(new):
        if i and gaps:
            out += gaps.pop(0)
        # a statement equal to an old one (moved, duplicated) keeps its text, comments included
        original = next((lines[b : e + 1] for s, (b, e) in zip(whole, spans) if c.same(s, statement)), None)
        out += list(original) if original is not None else _printed(statement, here)
    for gap in gaps:
        out += gap
    if not old:  # pure insertion: nothing is replaced
        return _Edit(lo, 0, lo, 0, "".join(line + "\n" for line in out).encode())
    end_col = len(lines[hi].encode())
    return _Edit(lo, 0, hi, end_col, "\n".join(out).encode())


def _printed(statement: ast.stmt, indent: str) -> list[str]:
    return [indent + line if line.strip() else line for line in ast.unparse(statement).split("\n")]


def _line_span(statement: ast.stmt, lines: Sequence[str], indent: str, first: int) -> tuple[int, int]:
    """0-based rows of a statement's first (decorators included) and last line; it must start its line."""
    top = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
    row = top - first
    node_col = min([statement.col_offset] + [d.col_offset - 1 for d in getattr(statement, "decorator_list", [])])
    if len(_line_indent(lines[row]).encode()) != node_col + len(indent.encode()):
        raise RenderError("a statement that does not start its line")
    return row, statement.end_lineno - first  # type: ignore[operator]


def _line_indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _apply(lines: Sequence[str], edits: list[_Edit]) -> str:
    """The lines with the (non-overlapping) edits applied, joined by newlines."""
    raw = [line.encode() for line in lines]
    for edit in sorted(edits, key=lambda e: (e.start_line, e.start_col), reverse=True):
        if edit.start_line == edit.end_line and edit.start_col == edit.end_col == 0 and edit.text.endswith(b"\n"):
            raw[edit.start_line : edit.start_line] = edit.text[:-1].split(b"\n")  # whole lines inserted
            continue
        head = raw[edit.start_line][: edit.start_col]
        tail = raw[edit.end_line][edit.end_col :]
        raw[edit.start_line : edit.end_line + 1] = (head + edit.text + tail).split(b"\n")
    return "\n".join(line.decode() for line in raw)
