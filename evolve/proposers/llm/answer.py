"""When a streamed reply already holds its answer, so the rest need not be generated.

A small local model often goes on writing after its code (more prose, a second version,
the same block again) until ``max_tokens``; on a server that makes 15 tokens a second that
is a minute of nobody's time. ``AnswerWatch`` reads the reply as it streams and says when
the answer the prompt asked for is complete, so the client can close the stream:

- a rewrite or crossover is complete when a fenced code block has closed that parses as
  Python and defines every top-level function and class of the parent's EVOLVE-BLOCK
  (the harness calls them), and, for a program with several blocks, carries all their
  markers. A short snippet quoted in the explanation is therefore not mistaken for the
  answer;
- a diff is complete when at least one SEARCH/REPLACE block has ended and a line of prose
  follows it (a new block, a fence or a blank line does not count): the model has moved on
  from editing to talking.

Only complete lines are judged, and each line once, so watching costs O(reply length).
A reply that never completes by these rules simply streams to its end.
"""

from __future__ import annotations

import ast
import re

from evolve.edits import EditError, blocks, evolvable_text

_FENCE = re.compile(r"^\s*```")
_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\b", re.IGNORECASE)
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\b", re.IGNORECASE)
_TOP_LEVEL = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)", re.MULTILINE)
_START = re.compile(r"^[ \t]*#[ \t]*EVOLVE-BLOCK-START\b", re.MULTILINE)


class AnswerWatch:
    """Feed it the reply so far (``complete(text)``); True once the answer is complete."""

    def __init__(self, kind: str, parent_code: str) -> None:
        self.kind = kind
        self._done = False
        self._offset = 0  # characters of the reply already judged (whole lines only)
        self._fence: list[str] | None = None  # lines of the open code fence
        self._state = "out"  # diff: out | search | replace | after
        try:
            evolvable = evolvable_text(parent_code)
            self._markers = len(blocks(parent_code))
        except EditError:
            evolvable, self._markers = parent_code, 0
        self._names = set(_TOP_LEVEL.findall(evolvable))

    def complete(self, text: str) -> bool:
        if self._done:
            return True
        end = text.rfind("\n") + 1
        if end <= self._offset:
            return False
        for line in text[self._offset:end].splitlines():
            if self._judge(line):
                self._done = True
                break
        self._offset = end
        return self._done

    def _judge(self, line: str) -> bool:
        return self._judge_diff(line) if self.kind == "diff" else self._judge_rewrite(line)

    def _judge_rewrite(self, line: str) -> bool:
        if not _FENCE.match(line):
            if self._fence is not None:
                self._fence.append(line)
            return False
        if self._fence is None:
            self._fence = []
            return False
        code, self._fence = "\n".join(self._fence) + "\n", None
        return self._is_whole_answer(code)

    def _is_whole_answer(self, code: str) -> bool:
        if not self._names <= set(_TOP_LEVEL.findall(code)):
            return False
        if self._markers > 1 and len(_START.findall(code)) < self._markers:
            return False
        try:
            ast.parse(code)
        except SyntaxError:
            return False
        return True

    def _judge_diff(self, line: str) -> bool:
        if _SEARCH.match(line):
            self._state = "search"
        elif _REPLACE.match(line):
            self._state = "after" if self._state in ("search", "replace") else self._state
        elif self._state == "search" and re.match(r"^\s*={5,9}\s*$", line):
            self._state = "replace"
        elif self._state == "after" and line.strip() and not _FENCE.match(line):
            return True
        return False
