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
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from typing import Iterable

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
    """The archive's programs, with their shingle sets and canonical forms computed lazily, once each.

    With ``floor >= 1.0`` (the default policy) ``nearest`` compares canonical forms for
    equality, which costs one parse and unparse of the query instead of tokenising it and
    intersecting shingle sets; it then misses only the rare reordering that keeps every
    4-token window, which Jaccard would also call 1.0.
    """

    def __post_init__(self) -> None:
        self._codes: dict[int, str] = {}
        self._sets: dict[int, frozenset[int]] = {}
        self._canon: dict[int, str | None] = {}

    def __len__(self) -> int:
        return len(self._codes)

    def add(self, program_id: int, code: str) -> None:
        self._codes.setdefault(program_id, code)

    def nearest(self, code: str, among: Iterable[int] | None = None, floor: float = 0.0) -> tuple[int, float] | None:
        """The most similar indexed program (optionally only ids in ``among``) with sim >= floor."""
        ids = list(self._codes) if among is None else [i for i in among if i in self._codes]
        if floor >= 1.0 and (form := canonical(code)) is not None:
            return self._identical(form, ids)
        return self._most_similar(code, ids, floor)

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

    def _identical(self, form: str, ids: list[int]) -> tuple[int, float] | None:
        for program_id in ids:
            if program_id not in self._canon:
                self._canon[program_id] = canonical(self._codes[program_id])
            if self._canon[program_id] == form:
                return (program_id, 1.0)
        return None

    def _shingles(self, program_id: int) -> frozenset[int]:
        if program_id not in self._sets:
            self._sets[program_id] = shingles(self._codes[program_id])
        return self._sets[program_id]

