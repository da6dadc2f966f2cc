"""EVOLVE-BLOCK regions, and the application of edits to them.

A program marks the code the search may change with marker lines::

    # EVOLVE-BLOCK-START
    ...evolvable code...
    # EVOLVE-BLOCK-END

Invariants this module keeps:

- Markers are whole comment lines (indentation and trailing text after the marker are
  allowed), balanced and not nested; anything else is an ``EditError`` naming the line.
- A program without any marker is evolvable as a whole: one implicit block spanning the
  file. A plain script then works as a seed; a problem marks blocks when it wants to
  protect harness code around them.
- Every edit changes block contents only. Text outside the blocks, marker lines included,
  stays byte-identical; ``check_only_blocks_changed`` verifies it.
- Syntax is not judged here: a candidate that does not compile is still returned, and the
  evaluator classifies it as a syntax failure. ``syntax_error`` is the helper for callers
  that want to know early.

``EditError`` messages are stored and shown to the LLM in the next prompt, so each one
says what went wrong, where, and what to do instead. Reply parsing (SEARCH/REPLACE and
fenced rewrites) lives in ``evolve.replies``; ``apply_reply`` joins the two.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable, Literal

from evolve.replies import parse_reply

START_MARKER = "# EVOLVE-BLOCK-START"
END_MARKER = "# EVOLVE-BLOCK-END"
_START = re.compile(r"^[ \t]*#[ \t]*EVOLVE-BLOCK-START\b")
_END = re.compile(r"^[ \t]*#[ \t]*EVOLVE-BLOCK-END\b")


class EditError(Exception):
    """An edit could not be applied; the message is meant for the LLM's next prompt."""


@dataclass(frozen=True)
class Block:
    """One evolvable region: ``source[start:end] == text``.

    ``start``/``end`` are character offsets of the content between the marker lines (the
    markers themselves are outside); ``first_line`` is the 1-based line number of the
    content's first line. ``marked`` is False for the implicit whole-file block.
    """

    index: int
    start: int
    end: int
    first_line: int
    text: str
    marked: bool = True


def is_marker(line: str) -> bool:
    """True for an EVOLVE-BLOCK start or end marker line."""
    return bool(_START.match(line) or _END.match(line))


def blocks(source: str) -> list[Block]:
    """The evolvable blocks of ``source``, in order; the whole file when it has no marker.

    Raises EditError for an END without START, a START inside an open block, or a START
    that is never closed.
    """
    found: list[Block] = []
    offset = 0
    open_at: tuple[int, int] | None = None  # (line number of START, content offset)
    # Lines end at "\n" only (not str.splitlines' form feeds etc.), as everywhere else here.
    for number, line in enumerate(source.split("\n"), start=1):
        line += "\n" if offset + len(line) < len(source) else ""
        if _START.match(line):
            if open_at is not None:
                raise EditError(
                    f"EVOLVE-BLOCK-START at line {number} is nested inside the block opened "
                    f"at line {open_at[0]}; close that block with '{END_MARKER}' first"
                )
            open_at = (number, offset + len(line))
        elif _END.match(line):
            if open_at is None:
                raise EditError(
                    f"EVOLVE-BLOCK-END at line {number} has no matching '{START_MARKER}' "
                    "before it"
                )
            start = open_at[1]
            found.append(Block(len(found), start, offset, open_at[0] + 1, source[start:offset]))
            open_at = None
        offset += len(line)
    if open_at is not None:
        raise EditError(
            f"EVOLVE-BLOCK-START at line {open_at[0]} is never closed; add '{END_MARKER}' "
            "after the evolvable code"
        )
    if not found:
        return [Block(0, 0, len(source), 1, source, marked=False)]
    return found


def evolvable_text(source: str) -> str:
    """The text of all blocks, in order, separated by a blank line when there are several."""
    return "\n".join(block.text for block in blocks(source))


def replace_blocks(source: str, new_text: str, index: int = 0) -> str:
    """Rewrite block ``index`` of ``source`` with ``new_text``; the markers stay.

    ``new_text`` is cleaned first, because it usually comes from an LLM: a surrounding
    ``` fence is removed, and if it carries EVOLVE-BLOCK markers (the model echoed the
    whole program) only the text between them is kept.
    """
    present = blocks(source)
    if not 0 <= index < len(present):
        raise EditError(f"block index {index} out of range: the program has {len(present)} block(s)")
    content = _block_content(_unfence(new_text), index, len(present))
    if content and not content.endswith("\n"):
        content += "\n"
    block = present[index]
    if not block.marked and not block.text.endswith("\n"):
        content = content.rstrip("\n")
    return source[: block.start] + content + source[block.end :]


def rewrite_program(source: str, code: str) -> str:
    """Apply a full rewrite: replace every block of ``source`` with the matching part of ``code``.

    ``code`` may carry the markers (each block is taken from it; text it has outside its
    blocks must equal the original's up to whitespace, and may be left out), or, for a
    program with a single block, be just the new block content (an echoed copy of the
    text around the block, if present, is dropped).
    """
    present = blocks(source)
    if not present[0].marked:
        return code
    code = _unfence(code)
    if not any(_START.match(line) for line in code.splitlines()):
        if len(present) > 1:
            raise EditError(
                f"the rewrite has no EVOLVE-BLOCK markers but the program has {len(present)} "
                "blocks; return the whole program with its markers, or use SEARCH/REPLACE"
            )
        block = present[0]
        code = _drop_echo(code, source[: block.start], at_start=True)
        code = _drop_echo(code, source[block.end :], at_start=False)
        return replace_blocks(source, code, 0)
    theirs = blocks(code)
    if len(theirs) != len(present):
        raise EditError(
            f"the rewrite has {len(theirs)} EVOLVE-BLOCK(s) but the program has {len(present)}; "
            "keep every block and its markers"
        )
    _check_outside_equal(source, present, code, theirs, lenient=True)
    result = source
    for block in reversed(theirs):
        result = replace_blocks(result, block.text, block.index)
    return result


def check_only_blocks_changed(old: str, new: str) -> None:
    """Raise EditError unless ``new`` differs from ``old`` only inside the EVOLVE-BLOCKs."""
    before, after = blocks(old), blocks(new)
    if not before[0].marked:
        if after[0].marked:
            raise EditError("the candidate adds EVOLVE-BLOCK markers the parent does not have")
        return
    if len(after) != len(before) or not after[0].marked:
        raise EditError(
            f"the candidate has {len(after) if after[0].marked else 0} EVOLVE-BLOCK(s) but the "
            f"parent has {len(before)}; keep every block and its markers"
        )
    _check_outside_equal(old, before, new, after, lenient=False)


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


def apply_reply(source: str, text: str, mode: Literal["diff", "rewrite", "auto"] = "auto") -> str:
    """Turn an LLM reply into a candidate program, or raise EditError saying why not.

    ``diff`` uses only SEARCH/REPLACE blocks, ``rewrite`` only a full code block, ``auto``
    the diffs when there are any and the code block otherwise. The result is guaranteed to
    differ from ``source`` and only inside the blocks; it is not guaranteed to compile.
    """
    if mode not in ("diff", "rewrite", "auto"):
        raise ValueError(f"mode must be 'diff', 'rewrite' or 'auto', not {mode!r}")
    parsed = parse_reply(text)
    if parsed.error:
        raise EditError(parsed.error)
    if mode == "diff" or (mode == "auto" and parsed.edits):
        if not parsed.edits:
            raise EditError(
                "reply has no SEARCH/REPLACE blocks (it has a full code block); answer with "
                "'<<<<<<< SEARCH' / '=======' / '>>>>>>> REPLACE' blocks"
            )
        new = apply_search_replace(source, list(parsed.edits))
    else:
        if parsed.code is None:
            raise EditError("reply has no fenced python code block with the rewritten program")
        new = rewrite_program(source, parsed.code)
    check_only_blocks_changed(source, new)
    if new == source:
        raise EditError("the reply leaves the program unchanged; propose an actual change")
    return new


def syntax_error(code: str) -> str | None:
    """A one-line description of the first syntax error of ``code``, or None if it compiles."""
    try:
        compile(code, "<candidate>", "exec", dont_inherit=True)
    except SyntaxError as error:
        where = f"line {error.lineno}" if error.lineno else "unknown line"
        text = (error.text or "").strip()
        return f"{where}: {error.msg}" + (f": {text!r}" if text else "")
    except ValueError as error:  # e.g. null bytes in the source
        return str(error)
    return None


# --- internals -------------------------------------------------------------------------

_Transform = Callable[[str], "str | None"]


def _unfence(text: str) -> str:
    """The code of a fenced block in ``text`` (chosen as ``parse_reply`` does), else ``text``."""
    text = text.replace("\r\n", "\n")
    code = parse_reply(text).code if "```" in text else None
    return code if code is not None else text


def _drop_echo(code: str, protected: str, *, at_start: bool) -> str:
    """Remove a copy of the protected text before (or after) the block from a rewrite."""
    echo = _strip_blank_edges([line.rstrip() for line in protected.split("\n") if not is_marker(line)])
    lines = _strip_blank_edges(code.split("\n"))
    if not echo or len(echo) > len(lines):
        return code
    if at_start and [line.rstrip() for line in lines[: len(echo)]] == echo:
        return "\n".join(_strip_blank_edges(lines[len(echo) :])) + "\n"
    if not at_start and [line.rstrip() for line in lines[-len(echo) :]] == echo:
        return "\n".join(_strip_blank_edges(lines[: -len(echo)])) + "\n"
    return code


def _block_content(text: str, index: int, count: int) -> str:
    """Keep only what lies between markers in ``text``; see ``replace_blocks``."""
    if not any(is_marker(line) for line in text.splitlines()):
        return text
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _START.match(line)]
    ends = [i for i, line in enumerate(lines) if _END.match(line)]
    if len(starts) <= 1 and len(ends) <= 1:
        first = starts[0] + 1 if starts else 0
        last = ends[0] if ends and (not starts or ends[0] > starts[0]) else len(lines)
        return "".join(lines[first:last])
    inner = blocks(text)
    if len(inner) == count:
        return inner[index].text
    raise EditError(
        f"the new block text contains {len(inner)} EVOLVE-BLOCKs; give only the code of "
        f"block {index + 1}, without markers"
    )


def _check_outside_equal(
    old: str, old_blocks: list[Block], new: str, new_blocks: list[Block], *, lenient: bool
) -> None:
    """Compare the protected segments (before, between and after the blocks) of two programs.

    ``lenient`` (for rewrites) ignores whitespace and accepts segments ``new`` left out,
    that is, holding nothing but marker lines.
    """

    def segments(source: str, found: list[Block]) -> list[tuple[int, str]]:
        cuts = [0] + [edge for block in found for edge in (block.start, block.end)] + [len(source)]
        return [(cuts[i], source[cuts[i] : cuts[i + 1]]) for i in range(0, len(cuts), 2)]

    for (offset, kept), (_, changed) in zip(segments(old, old_blocks), segments(new, new_blocks)):
        if kept == changed or lenient and (
            kept.split() == changed.split() or all(is_marker(line) or not line.strip() for line in changed.split("\n"))
        ):
            continue
        a, b = kept.split("\n"), changed.split("\n")
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        was = repr(a[at]) if at < len(a) else "(nothing)"
        now = repr(b[at]) if at < len(b) else "(nothing)"
        raise EditError(
            f"the edit changes code outside the EVOLVE-BLOCK at line "
            f"{old.count(chr(10), 0, offset) + at + 1}: it was {was}, now {now}; only the code "
            "between the markers may change"
        )


def _strip_blank_edges(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _strip_marker_context(number: int, search: list[str], replace: list[str]) -> tuple[list[str], list[str]]:
    """Drop marker lines quoted as context at the edges of both SEARCH and REPLACE."""
    for pattern, edge in ((_START, 0), (_END, -1)):
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
    search, replace = _strip_blank_edges(search), _strip_blank_edges(replace)
    if not search:
        raise EditError(
            f"SEARCH block {number} is empty; copy the exact lines to replace from the EVOLVE-BLOCK"
        )
    present = blocks(source)
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
    _raise_not_found(source, present, number, search)
    raise AssertionError("unreachable")


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
