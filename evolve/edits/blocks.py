"""EVOLVE-BLOCK regions: the marker lines that say which code the search may change.

A program marks evolvable code with whole comment lines::

    # EVOLVE-BLOCK-START
    ...evolvable code...
    # EVOLVE-BLOCK-END

Markers are balanced and not nested (anything else is an ``EditError`` naming the line). A
program without any marker is evolvable as a whole: one implicit block spanning the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

START_MARKER = "# EVOLVE-BLOCK-START"
END_MARKER = "# EVOLVE-BLOCK-END"
START_LINE = re.compile(r"^[ \t]*#[ \t]*EVOLVE-BLOCK-START\b")
END_LINE = re.compile(r"^[ \t]*#[ \t]*EVOLVE-BLOCK-END\b")


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
    return bool(START_LINE.match(line) or END_LINE.match(line))


_MARKER_LINE = re.compile(r"^[ \t]*#[ \t]*EVOLVE-BLOCK-(START|END)\b", re.MULTILINE)


def blocks(source: str) -> list[Block]:
    """The evolvable blocks of ``source``, in order; the whole file when it has no marker.

    Raises EditError for an END without START, a START inside an open block, or a START
    that is never closed. Lines end at "\n" only (not str.splitlines' form feeds etc.), as
    everywhere else here; only marker lines are visited (one regex scan of the text).
    """
    found: list[Block] = []
    open_at: tuple[int, int] | None = None  # (line number of START, content offset)
    number, counted = 1, 0  # line number of offset ``counted``
    for match in _MARKER_LINE.finditer(source):
        at = match.start()
        number += source.count("\n", counted, at)
        counted = at
        if match.group(1) == "START":
            if open_at is not None:
                raise EditError(
                    f"EVOLVE-BLOCK-START at line {number} is nested inside the block opened "
                    f"at line {open_at[0]}; close that block with '{END_MARKER}' first"
                )
            newline = source.find("\n", at)
            open_at = (number, len(source) if newline < 0 else newline + 1)
        else:
            if open_at is None:
                raise EditError(
                    f"EVOLVE-BLOCK-END at line {number} has no matching '{START_MARKER}' "
                    "before it"
                )
            start = open_at[1]
            found.append(Block(len(found), start, at, open_at[0] + 1, source[start:at]))
            open_at = None
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


def strip_blank_edges(lines: list[str]) -> list[str]:
    """``lines`` without blank lines at either end."""
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines
