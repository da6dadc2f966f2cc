"""SEARCH/REPLACE edits applied inside EVOLVE-BLOCKs, tolerant of the drift LLMs introduce.

A SEARCH is matched by whole lines, only inside blocks (never across a marker), at the
strictest level that finds it: exact, trailing whitespace ignored, a uniform indentation
shift (the REPLACE is re-indented by the same shift), blank lines ignored; a SEARCH indented
with tabs is retried with them expanded to 4, then 8, columns. Exactly one match
is required; no match produces an ``EditError`` pointing at the closest text, so the next
prompt can say what to copy.
"""

from __future__ import annotations

import difflib
from typing import Callable

from evolve.edits.blocks import END_LINE, END_MARKER, START_LINE, START_MARKER, Block, EditError, blocks, is_marker, strip_blank_edges

def apply_search_replace(source: str, edits: list[tuple[str, str]]) -> str:
    """Apply SEARCH/REPLACE edits in order; each SEARCH must match exactly once in a block.

    SEARCH is compared by whole lines (a fragment of a line never matches), after blank
    lines at its edges are dropped, and only inside blocks, so it never crosses a marker. When
    the exact lines are not found, each looser level is tried in turn, and the first
    level with matches decides: trailing whitespace ignored, then a uniform indentation
    shift (the REPLACE is re-indented by the same shift), then blank lines ignored.
    Several matches at a level is an ambiguity error; a SEARCH found only outside the
    blocks is rejected as touching protected code.
    """
    for number, (search, replace) in enumerate(edits, start=1):
        source = _apply_one(source, number, search, replace)
    return source


_Transform = Callable[[str], "str | None"]


def _strip_marker_context(number: int, search: list[str], replace: list[str]) -> tuple[list[str], list[str]]:
    """Drop marker lines quoted as context at the edges of both SEARCH and REPLACE."""
    for pattern, edge in ((START_LINE, 0), (END_LINE, -1)):
        if search and pattern.match(search[edge]):
            if not (replace and pattern.match(replace[edge])):
                raise EditError(
                    f"SEARCH block {number} quotes an EVOLVE-BLOCK marker but its REPLACE "
                    "removes it; the markers must stay"
                )
            search = search[1:] if edge == 0 else search[:-1]
            replace = replace[1:] if edge == 0 else replace[:-1]
    if any(is_marker(line) for line in search + replace):
        raise EditError(
            f"SEARCH/REPLACE block {number} contains an EVOLVE-BLOCK marker line; edit only "
            "the code between the markers"
        )
    return search, replace


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _shift(search_line: str, program_line: str) -> tuple[_Transform, _Transform] | None:
    """Transforms mapping SEARCH lines onto the program's indentation, and REPLACE lines alike.

    The shift is read off the first non-blank line pair: the program's indentation either
    extends the SEARCH's (the model dropped a prefix) or is a prefix of it (it added one).
    """
    have, want = _indent(search_line), _indent(program_line)
    if want.startswith(have):
        extra = want[len(have) :]

        def add(s: str) -> str:
            return extra + s if s.strip() else s

        return add, add
    if have.startswith(want):
        cut = len(have) - len(want)

        def onto(s: str) -> str | None:
            if not s.strip():
                return s
            return s[cut:] if len(_indent(s)) >= cut else None

        def back(s: str) -> str:
            return s[min(cut, len(_indent(s))) :]

        return onto, back
    return None


_LEVELS = ("exact", "trailing whitespace", "indentation", "blank lines")


def _match(lines: list[str], at: int, search: list[str], level: str) -> tuple[int, _Transform] | None:
    """If ``search`` matches ``lines`` from ``at`` at ``level``, the end index and REPLACE transform."""
    same: _Transform = lambda s: s  # noqa: E731
    if level in ("exact", "trailing whitespace"):
        if at + len(search) > len(lines):
            return None
        norm = (lambda s: s) if level == "exact" else str.rstrip
        ok = all(norm(lines[at + j]) == norm(search[j]) for j in range(len(search)))
        return (at + len(search), same) if ok else None
    wanted = [s.rstrip() for s in search if level == "indentation" or s.strip()]
    if not lines[at].strip() or not wanted[0].strip():
        return None
    shift = _shift(wanted[0], lines[at])
    if shift is None:
        return None
    onto, back = shift
    i = at
    for s in wanted:
        if level == "blank lines":
            while i < len(lines) and not lines[i].strip():
                i += 1
        if i >= len(lines):
            return None
        target = onto(s)
        if target is None or lines[i].rstrip() != (target if s.strip() else ""):
            return None
        i += 1
    return i, back


def _apply_one(source: str, number: int, search_text: str, replace_text: str) -> str:
    search, replace = _strip_marker_context(
        number, search_text.replace("\r\n", "\n").split("\n"), replace_text.replace("\r\n", "\n").split("\n")
    )
    search, replace = strip_blank_edges(search), strip_blank_edges(replace)
    if not search:
        raise EditError(
            f"SEARCH block {number} is empty; copy the exact lines to replace from the EVOLVE-BLOCK"
        )
    present = blocks(source)
    variants = [(search, replace)]
    if any("\t" in _indent(line) for line in search):  # a model that re-indented with tabs
        variants += [(_expand_indent(search, width), _expand_indent(replace, width)) for width in (4, 8)]
    for search_lines, replace_lines in variants:
        edited = _apply_at_first_level(source, present, number, search_lines, replace_lines)
        if edited is not None:
            return edited
    _raise_not_found(source, present, number, search)
    raise AssertionError("unreachable")


def _apply_at_first_level(
    source: str, present: list[Block], number: int, search: list[str], replace: list[str]
) -> str | None:
    """The edited source at the strictest level with a match; None when no level matches."""
    for level in _LEVELS:
        hits = []
        for block in present:
            lines = block.text.split("\n")
            for at in range(len(lines)):
                found = _match(lines, at, search, level)
                if found:
                    hits.append((block, lines, at, *found))
        if len(hits) > 1:
            where = ", ".join(str(block.first_line + at) for block, _, at, *_ in hits[:5])
            raise EditError(
                f"SEARCH block {number} matches {len(hits)} places in the EVOLVE-BLOCK (lines "
                f"{where}); include more surrounding lines so it matches exactly one"
            )
        if hits:
            block, lines, at, end, back = hits[0]
            lines[at:end] = [back(line) for line in replace]
            return source[: block.start] + "\n".join(lines) + source[block.end :]
    return None


def _expand_indent(lines: list[str], width: int) -> list[str]:
    """Lines with tabs in their indentation expanded to ``width`` columns (the rest untouched)."""
    return [_indent(line).expandtabs(width) + line[len(_indent(line)) :] for line in lines]


def _raise_not_found(source: str, present: list[Block], number: int, search: list[str]) -> None:
    everything = source.split("\n")
    for at in range(len(everything)):
        if _match(everything, at, search, "trailing whitespace"):
            raise EditError(
                f"SEARCH block {number} matches code outside the EVOLVE-BLOCK (line {at + 1}); "
                "the edit touches code outside the EVOLVE-BLOCK, and only the code between "
                f"'{START_MARKER}' and '{END_MARKER}' may change"
            )
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2("\n".join(s.strip() for s in search))
    score, line, window = 0.0, 0, [""]
    for block in present:
        lines = block.text.split("\n")
        for at in range(max(1, len(lines) - len(search) + 1)):
            matcher.set_seq1("\n".join(s.strip() for s in lines[at : at + len(search)]))
            if matcher.real_quick_ratio() > score and matcher.quick_ratio() > score and matcher.ratio() > score:
                score, line, window = matcher.ratio(), block.first_line + at, lines[at : at + len(search)]
    message = f"SEARCH block {number} not found in the EVOLVE-BLOCK"
    if score < 0.5:
        raise EditError(
            message + "; no similar text either. Copy the lines to replace exactly from the "
            "current program"
        )
    j = next((j for j, (a, b) in enumerate(zip(search, window)) if a.rstrip() != b.rstrip()), 0)
    raise EditError(
        f"{message}; the closest text starts at line {line} and differs at line {line + j}:\n"
        f"  SEARCH has:  {search[j]!r}\n  program has: {window[j] if j < len(window) else ''!r}\n"
        "Copy the lines to replace exactly from the current program"
    )
