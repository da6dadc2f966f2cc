"""Behavioural duplicates: candidates that act exactly like a program already evaluated.

Syntactic checks (``commit``) miss the commonest waste of a mutation-driven search: a
change to dead code, a constant that does not matter, a reordering with no effect. Where a
problem's ``evaluate.py`` defines ``fingerprint(candidate, context)`` (a cheap probe,
``evaluators.fingerprint``), the loop probes each candidate before committing it; one whose
fingerprint is known is committed as a ``behavioural_duplicate`` proposal of that program,
and the evaluation it would have cost is saved. A candidate that fails during the probe
needs no evaluation either: the probe's failure is its evaluation.

The index maps fingerprint -> the first program evaluated with it; it is rebuilt on resume
from the ``evaluations.fingerprint`` column. It switches itself off, once, when the problem
defines no probe (the first probe says so) or when ``[evaluation] behavioural_duplicates``
is false.
"""

from __future__ import annotations

from evolve.records import EvaluationResult, FailureKind


class BehaviourIndex:
    def __init__(self, enabled: bool, known: dict[str, int] | None = None) -> None:
        self.active = enabled
        self._first: dict[str, int] = dict(known or {})
        self.saved = 0  # evaluations skipped as behavioural duplicates in this session

    def twin(self, fingerprint: str) -> int | None:
        """The evaluated program with this fingerprint, if any."""
        return self._first.get(fingerprint) if fingerprint else None

    def add(self, fingerprint: str, program_id: int) -> None:
        if fingerprint:
            self._first.setdefault(fingerprint, program_id)

    def judge_probe(self, probe: EvaluationResult) -> str:
        """What a probe's answer means: 'unique', 'duplicate', 'failed' (the candidate's fault:
        its evaluation), or 'off' (no probe here: stop probing)."""
        if probe.is_probe:
            if not probe.fingerprint:
                self.active = False
                return "off"
            return "duplicate" if self.twin(probe.fingerprint) is not None else "unique"
        if probe.failure_kind == FailureKind.EVALUATOR_ERROR:
            self.active = False  # the problem's probe is broken: evaluate everything, blame nobody
            return "off"
        return "failed"
