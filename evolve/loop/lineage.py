"""Lineage notes: what happened to a parent's recent proposals and children, for its next prompts.

An LLM that is told "your last diff for this program did not apply: SEARCH text not found"
or "a child of this program timed out" does not repeat the mistake. The loop records one
note per rejected proposal and per failed child, keyed by the parent; a prompt for that
parent carries its latest ``per_parent`` notes. The store is bounded: the notes of at most
``parents`` parents are kept, the least recently noted forgotten first, so a long run's
memory does not grow with its length. The wording lives with the prompt templates.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from string import Template

from evolve.proposers.llm import templates

_MESSAGE_CHARS = 300


class LineageNotes:
    def __init__(self, per_parent: int = 3, parents: int = 1024) -> None:
        if per_parent < 1 or parents < 1:
            raise ValueError("per_parent and parents must be >= 1")
        self.per_parent = per_parent
        self.parents = parents
        self._notes: OrderedDict[int, deque[str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._notes)

    def rejected_proposal(self, parent_id: int, kind: str, outcome: str, message: str) -> None:
        self._add(parent_id, Template(templates.REJECTED_PROPOSAL_NOTE).substitute(kind=kind, outcome=outcome, message=message))

    def failed_child(self, parent_id: int, status: str, message: str) -> None:
        text = Template(templates.FAILED_CHILD_NOTE).substitute(status=status, message=message[:_MESSAGE_CHARS])
        self._add(parent_id, text)

    def stopped_child(self, parent_id: int, stage: str, score: float) -> None:
        self._add(parent_id, Template(templates.STOPPED_CHILD_NOTE).substitute(stage=stage, score=f"{score:.6g}"))

    def for_parent(self, parent_id: int) -> tuple[str, ...]:
        """The parent's latest notes, oldest first."""
        return tuple(self._notes.get(parent_id, ()))

    def _add(self, parent_id: int, text: str) -> None:
        notes = self._notes.get(parent_id)
        if notes is None:
            notes = self._notes[parent_id] = deque(maxlen=self.per_parent)
            while len(self._notes) > self.parents:
                self._notes.popitem(last=False)
        else:
            self._notes.move_to_end(parent_id)
        notes.append(text)
