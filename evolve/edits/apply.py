"""Edits to a program's EVOLVE-BLOCKs: full rewrites, SEARCH/REPLACE replies, and the guard
that nothing outside the blocks changes.

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
fenced rewrites) lives in ``evolve.edits.replies``, whitespace-tolerant SEARCH matching in
``evolve.edits.search_replace``, the markers in ``evolve.edits.blocks``; ``apply_reply`` joins them.
"""

from __future__ import annotations

from typing import Literal

from evolve.edits.blocks import END_LINE, START_LINE, Block, EditError, blocks, is_marker, strip_blank_edges
from evolve.edits.compiled import compiled
from evolve.edits.replies import parse_reply
from evolve.edits.search_replace import apply_search_replace


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
    if not any(START_LINE.match(line) for line in code.splitlines()):
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
        compiled(code)
    except SyntaxError as error:
        where = f"line {error.lineno}" if error.lineno else "unknown line"
        text = (error.text or "").strip()
        return f"{where}: {error.msg}" + (f": {text!r}" if text else "")
    except ValueError as error:  # e.g. null bytes in the source
        return str(error)
    return None


# --- internals -------------------------------------------------------------------------



def _unfence(text: str) -> str:
    """The code of a fenced block in ``text`` (chosen as ``parse_reply`` does), else ``text``."""
    text = text.replace("\r\n", "\n")
    code = parse_reply(text).code if "```" in text else None
    return code if code is not None else text


def _drop_echo(code: str, protected: str, *, at_start: bool) -> str:
    """Remove a copy of the protected text before (or after) the block from a rewrite."""
    echo = strip_blank_edges([line.rstrip() for line in protected.split("\n") if not is_marker(line)])
    lines = strip_blank_edges(code.split("\n"))
    if not echo or len(echo) > len(lines):
        return code
    if at_start and [line.rstrip() for line in lines[: len(echo)]] == echo:
        return "\n".join(strip_blank_edges(lines[len(echo) :])) + "\n"
    if not at_start and [line.rstrip() for line in lines[-len(echo) :]] == echo:
        return "\n".join(strip_blank_edges(lines[: -len(echo)])) + "\n"
    return code


def _block_content(text: str, index: int, count: int) -> str:
    """Keep only what lies between markers in ``text``; see ``replace_blocks``."""
    if not any(is_marker(line) for line in text.splitlines()):
        return text
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if START_LINE.match(line)]
    ends = [i for i, line in enumerate(lines) if END_LINE.match(line)]
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
