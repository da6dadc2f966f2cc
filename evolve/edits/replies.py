"""Parsing LLM replies into edits: SEARCH/REPLACE blocks or a full rewrite in a code fence.

The diff format is the common one::

    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE

Models drift from it, so the parser tolerates 5 to 9 marker characters, CRLF line ends,
diffs inside or outside ``` fences, prose around them, several diffs in one reply, and a
missing ``>>>>>>> REPLACE`` when the diff is the last thing in the reply or its fence
closes. A rewrite is a fenced python block: the one carrying EVOLVE-BLOCK markers if any,
else the longest python block.

A reply cut off by the token limit is detected rather than half-applied: ending inside a
SEARCH section, or inside a REPLACE section or a code block whose ``` fence never closes,
yields ``ParsedReply.error``. Applying the result is ``evolve.edits``' job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\b.*$", re.IGNORECASE)
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\b.*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*```+\s*([\w+.-]*)\s*$")
_MARKER = re.compile(r"^[ \t]*#[ \t]*EVOLVE-BLOCK-(START|END)\b", re.MULTILINE)
_PYTHON_TAGS = ("python", "py", "python3", "")

NOTHING_USABLE = "reply contains neither SEARCH/REPLACE blocks nor a python code block"


@dataclass(frozen=True)
class ParsedReply:
    """What a reply offers: SEARCH/REPLACE ``edits`` (in order), a rewrite ``code``, or ``error``.

    ``error`` is set when nothing usable was found or the reply looks truncated; then the
    other fields hold whatever complete parts were seen, for diagnostics only.
    """

    edits: tuple[tuple[str, str], ...] = ()
    code: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Fence:
    tag: str
    opened_at: int
    lines: list[str]
    has_diff: bool = False


def parse_reply(text: str) -> ParsedReply:
    """Parse an LLM reply; never raises for malformed text (see ``ParsedReply.error``)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    edits: list[tuple[str, str]] = []
    fences: list[_Fence] = []  # closed fences
    fence: _Fence | None = None
    state, search, replace, opened_at = "out", [], [], 0
    error: str | None = None

    def finish() -> None:
        edits.append((_section(search), _section(replace)))

    for number, line in enumerate(lines, start=1):
        fence_match = _FENCE.match(line)
        if state == "search":
            if _DIVIDER.match(line):
                state, replace = "replace", []
            elif _SEARCH.match(line) or _REPLACE.match(line):
                error = error or (
                    f"SEARCH block {len(edits) + 1} (line {opened_at}) has no '=======' line "
                    f"before line {number}; write SEARCH, =======, REPLACE in that order"
                )
                state = "search" if _SEARCH.match(line) else "out"
                search, opened_at = [], number
            else:
                search.append(line)
            continue
        if state == "replace":
            if _REPLACE.match(line):
                finish()
                state = "out"
            elif _SEARCH.match(line):  # the model forgot the REPLACE marker
                finish()
                state, search, opened_at = "search", [], number
            elif fence is not None and fence_match and not fence_match.group(1):
                finish()  # the fence closes the diff: the REPLACE marker was forgotten
                state = "out"
                fences.append(fence)
                fence = None
            else:
                replace.append(line)
            continue
        if _SEARCH.match(line):
            state, search, opened_at = "search", [], number
            if fence is not None:
                fence.has_diff = True
        elif fence_match and fence is None:
            fence = _Fence(fence_match.group(1).lower(), number, [])
        elif fence_match and fence is not None and not fence_match.group(1):
            fences.append(fence)
            fence = None
        elif fence is not None:
            fence.lines.append(line)

    if state == "search":
        error = (
            f"reply ends inside SEARCH block {len(edits) + 1} (opened at line {opened_at}) "
            "before its '=======' line; the reply looks truncated"
        )
    elif state == "replace":
        if fence is not None:
            error = (
                f"reply ends inside REPLACE block {len(edits) + 1} (opened at line {opened_at}) "
                f"within a ``` fence that never closes; the reply looks truncated"
            )
        finish()
    if error:
        return ParsedReply(tuple(edits), None, error)

    code = _rewrite_candidate(fences, text)
    if not edits and code is None:
        if fence is not None and fence.tag in _PYTHON_TAGS and not fence.has_diff:
            return ParsedReply(
                error=f"reply ends inside a ``` code block opened at line {fence.opened_at} "
                "that never closes; the reply looks truncated"
            )
        return ParsedReply(error=NOTHING_USABLE)
    return ParsedReply(tuple(edits), code, None)


def _section(lines: list[str]) -> str:
    """A SEARCH or REPLACE section's text, without fence lines the model put at its edges."""
    while lines and _FENCE.match(lines[0]):
        lines = lines[1:]
    while lines and _FENCE.match(lines[-1]):
        lines = lines[:-1]
    return "\n".join(lines) + "\n" if lines else ""


def _rewrite_candidate(fences: list[_Fence], text: str) -> str | None:
    """The full-program code block: marked blocks first, then python-tagged, then untagged."""
    usable = [f for f in fences if not f.has_diff and f.tag in _PYTHON_TAGS and "".join(f.lines).strip()]
    ranked = sorted(
        usable,
        key=lambda f: (bool(_MARKER.search("\n".join(f.lines))), f.tag != "", len("\n".join(f.lines))),
        reverse=True,
    )
    if ranked:
        return "\n".join(ranked[0].lines) + "\n"
    if not fences and {m.group(1) for m in _MARKER.finditer(text)} == {"START", "END"}:
        return text.replace("\r\n", "\n")  # a bare program with its markers, no fence
    return None
