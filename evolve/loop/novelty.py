"""Near-duplicate detection of programs, so evaluations are not spent on copies.

LLMs often return a program that differs from one already in the archive only by
comments, docstrings, blank lines or formatting ("I added comments to explain..."). The
exact-text check (``code_hash``) misses those; this module does not.

Similarity of two programs, in [0, 1]::

    canon(p)  = ast.unparse(ast.parse(p)) with docstrings removed
    tokens(p) = Python tokens of canon(p), comments and layout dropped
                (p does not parse: the tokens of p itself, up to a tokenizer error)
    S(p)      = set of k-shingles of tokens(p)  (k = 4 consecutive tokens)
    sim(a, b) = |S(a) & S(b)| / |S(a) | S(b)|   (Jaccard)

``sim == 1.0`` means the same code modulo comments, docstrings and formatting (and, very
rarely, a reordering that keeps every 4-token window); a one-token change in a 1,500-token
program gives about 0.99. So the threshold is a policy: 1.0 (the default) rejects only
no-op rewrites, and something like 0.95 also rejects tiny perturbations. Jaccard is at
most ``min(|A|,|B|) / max(|A|,|B|)``, which prunes most archive members before any set
intersection (the fast pre-filter).

The default threshold (1.0) needs no similarity at all, only "the same code modulo
comments, docstrings and formatting", and that is decided from bytecode, which the C
compiler produces faster than ``ast.unparse`` can print a tree::

    fingerprint(p) = blake2b of the code objects of compile(p), recursively: bytecode,
                     names, constants (typed: 1, 1.0 and True differ), argument shapes,
                     with line numbers and docstrings left out

Formatting and comments never reach bytecode, and the docstring slots are blanked, so
equal fingerprints mean equal canonical forms (constant folding aside: ``2 * 3`` and ``6``
compile alike, and they are the same program). The converse misses two rare cases, each
costing one evaluation, never a wrong rejection: a module or class docstring added or
removed (changed is caught; the module docstring lies outside the EVOLVE-BLOCK anyway),
and a bare statement such as ``pass`` moved onto its own line (its NOP keeps a line).
Each program is fingerprinted once, when it is indexed.
"""

from __future__ import annotations

import ast
import dis
import hashlib
import io
import tokenize
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from evolve.edits.compiled import compiled

SHINGLE = 4


def canonical(code: str) -> str | None:
    """The code with comments, docstrings and formatting normalised away; None if it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def fingerprint(code: str) -> bytes | None:
    """16 bytes that equal iff the programs compile alike modulo line numbers and docstrings;
    None if ``code`` does not compile."""
    try:
        code_object = compiled(code)  # usually already compiled by the proposer's own check
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        return None
    return hashlib.blake2b(repr(_shape(code_object)).encode(), digest_size=16).digest()


_FUNCTION = 0x02  # CO_NEWLOCALS: a function body, whose docstring (if any) is co_consts[0] (CPython 3.11+)


def _shape(co: types.CodeType) -> tuple:
    consts = list(co.co_consts)
    if co.co_flags & _FUNCTION:
        if consts and isinstance(consts[0], str):
            consts[0] = None  # the docstring slot: None when there is none
    elif "__doc__" in co.co_names:  # a module or class body: blank the constant stored to __doc__
        code = co.co_code
        for at in range(2, len(code) - 1, 2):
            if code[at] == _STORE_NAME and co.co_names[code[at + 1]] == "__doc__" and code[at - 2] == _LOAD_CONST:
                if isinstance(consts[code[at - 1]], str):
                    consts[code[at - 1]] = None
    return (
        co.co_name, co.co_code, co.co_names, co.co_varnames, co.co_freevars, co.co_cellvars, co.co_argcount,
        co.co_posonlyargcount, co.co_kwonlyargcount, co.co_flags, tuple(_const(c) for c in consts),
    )


_LOAD_CONST, _STORE_NAME = dis.opmap["LOAD_CONST"], dis.opmap["STORE_NAME"]


def _const(value: Any) -> Any:
    if isinstance(value, types.CodeType):
        return _shape(value)
    if isinstance(value, (tuple, frozenset)):
        items = [_const(v) for v in value]
        return (type(value).__name__, tuple(sorted(items, key=repr)) if isinstance(value, frozenset) else tuple(items))
    return (type(value).__name__, repr(value))


_LAYOUT = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def tokens(code: str) -> list[str]:
    """Significant tokens of ``canonical(code)``, or of ``code`` itself when it does not parse."""
    text = canonical(code)
    out: list[str] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(code if text is None else text).readline):
            if token.type not in _LAYOUT:
                out.append(token.string)
    except (tokenize.TokenError, SyntaxError):
        pass  # unbalanced brackets at the end of broken code: keep the tokens read so far
    return out


def shingles(code: str, k: int = SHINGLE) -> frozenset[int]:
    toks = tokens(code)
    if len(toks) < k:
        return frozenset({hash(tuple(toks))}) if toks else frozenset()
    return frozenset(hash(tuple(toks[i : i + k])) for i in range(len(toks) - k + 1))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def similarity(a: str, b: str) -> float:
    return jaccard(shingles(a), shingles(b))


@dataclass
class NoveltyIndex:
    """Indexed programs, each fingerprinted once when added; shingle sets made lazily, once each.

    With ``floor >= 1.0`` (the default policy) ``nearest`` looks the query's fingerprint up
    in a dict: one compile of the query, then O(1) however many programs are indexed (it
    misses only the rare reordering that keeps every 4-token window, which Jaccard would
    also call 1.0). Below 1.0 it compares shingle sets, with the size bound as pre-filter.
    ``keep_code=False`` stores no source text (the exact path needs none), so indexing every
    program of a long run costs about 100 bytes each.
    """

    keep_code: bool = True

    def __post_init__(self) -> None:
        self._codes: dict[int, str] = {}
        self._sets: dict[int, frozenset[int]] = {}
        self._prints: dict[int, bytes | None] = {}
        self._by_print: dict[bytes, list[int]] = {}

    def __len__(self) -> int:
        return len(self._prints)

    def __contains__(self, program_id: int) -> bool:
        return program_id in self._prints

    def add(self, program_id: int, code: str) -> None:
        if program_id not in self._prints:
            self.add_fingerprint(program_id, code, fingerprint(code))

    def add_fingerprint(self, program_id: int, code: str, digest: bytes | None) -> None:
        """``add`` with ``fingerprint(code)`` already computed."""
        if program_id in self._prints:
            return
        self._prints[program_id] = digest
        if digest is not None:
            self._by_print.setdefault(digest, []).append(program_id)
        if self.keep_code:
            self._codes[program_id] = code

    def fingerprint_of(self, program_id: int) -> bytes | None:
        return self._prints.get(program_id)

    def nearest(self, code: str, among: Iterable[int] | None = None, floor: float = 0.0) -> tuple[int, float] | None:
        """The most similar indexed program (optionally only ids in ``among``) with sim >= floor."""
        if floor >= 1.0 and (digest := fingerprint(code)) is not None:
            allowed = None if among is None else set(among)
            return self.identical(digest, lambda i: allowed is None or i in allowed)
        ids = list(self._codes) if among is None else [i for i in among if i in self._codes]
        return self._most_similar(code, ids, floor)

    def identical(self, digest: bytes, admit: Callable[[int], bool]) -> tuple[int, float] | None:
        """The first indexed program with this fingerprint that ``admit`` accepts, as (id, 1.0)."""
        for program_id in self._by_print.get(digest, ()):
            if admit(program_id):
                return (program_id, 1.0)
        return None

    def _most_similar(self, code: str, ids: list[int], floor: float) -> tuple[int, float] | None:
        query = shingles(code)
        best: tuple[int, float] | None = None
        for program_id in ids:
            other = self._shingles(program_id)
            small, large = sorted((len(query), len(other)))
            bound = small / large if large else 1.0
            if bound < max(floor, best[1] if best else 0.0):
                continue  # even a perfect overlap could not reach the bar
            sim = jaccard(query, other)
            if sim >= floor and (best is None or sim > best[1]):
                best = (program_id, sim)
        return best

    def _shingles(self, program_id: int) -> frozenset[int]:
        if program_id not in self._sets:
            self._sets[program_id] = shingles(self._codes[program_id])
        return self._sets[program_id]
