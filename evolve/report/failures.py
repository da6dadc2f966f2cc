"""Why candidates failed: counts by kind, the most common messages, examples, and the trend.

Failure messages differ in their numbers ("circles 3 and 17 overlap by 2.1e-04") and a
traceback's useful part is its last line ("NameError: name 'r' is not defined"), so
messages are grouped by a *signature*: the last non-empty line with every number replaced
by ``#``. Each group keeps its count, the latest full message and a few program ids to
open with ``evolve show``. Proposals that produced no program (an edit that did not
apply, a duplicate, a near-duplicate) are grouped the same way, by outcome.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from evolve.report.queries import EvaluationRow, ProposalRow

_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SIGNATURE_CHARS = 200
VALID = "valid"
STOPPED = "stopped by cascade"


def signature(message: str) -> str:
    """The grouping key of a failure message: its last non-empty line, numbers as ``#``."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "(no message)"
    return _NUMBER.sub("#", last)[:_SIGNATURE_CHARS]


def last_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


@dataclass
class MessageGroup:
    signature: str
    count: int = 0
    example: str = ""  # the latest occurrence's last line, numbers and all
    ids: list[int] = field(default_factory=list)  # program ids (or proposal ids) of the first occurrences


@dataclass
class FailureGroup:
    """One failure kind (or proposal outcome) of a run."""

    kind: str
    count: int
    share: float  # of all evaluations (or proposals)
    messages: list[MessageGroup]
    latest: str  # the latest full message
    latest_id: int


def group(rows: Iterable[tuple[str, str, int]], total: int, messages: int = 3, examples: int = 5) -> list[FailureGroup]:
    """Group (kind, message, id) rows: kinds by count, each with its ``messages`` commonest signatures."""
    by_kind: dict[str, dict[str, MessageGroup]] = defaultdict(dict)
    counts: Counter[str] = Counter()
    latest: dict[str, tuple[str, int]] = {}
    for kind, message, ident in rows:
        counts[kind] += 1
        key = signature(message)
        entry = by_kind[kind].setdefault(key, MessageGroup(key))
        entry.count += 1
        entry.example = last_line(message)
        if len(entry.ids) < examples:
            entry.ids.append(ident)
        latest[kind] = (message, ident)
    groups = []
    for kind, count in counts.most_common():
        ranked = sorted(by_kind[kind].values(), key=lambda g: (-g.count, g.signature))[:messages]
        groups.append(FailureGroup(kind, count, count / total if total else 0.0, ranked, *latest[kind]))
    return groups


def evaluation_failures(rows: list[EvaluationRow], messages: int = 3, examples: int = 5) -> list[FailureGroup]:
    failed = [(r.failure_kind or "unknown", r.failure_message, r.program_id) for r in rows if not r.ok]
    return group(failed, len(rows), messages, examples)


def proposal_failures(rows: list[ProposalRow], messages: int = 3, examples: int = 5) -> list[FailureGroup]:
    """Proposals that produced no program, by outcome; the ids are proposal ids."""
    rejected = [(r.outcome, r.message, r.id) for r in rows if r.program_id is None]
    return group(rejected, len(rows), messages, examples)


def status_of(row: EvaluationRow) -> str:
    if row.complete:
        return VALID
    if row.ok:
        return STOPPED
    return row.failure_kind or "unknown"


def timeline(rows: list[EvaluationRow], bins: int = 30) -> tuple[list[tuple[int, int]], dict[str, list[int]]]:
    """Evaluations cut into at most ``bins`` equal spans of commit order; per status, its count in each span.

    Returns the spans as (first, last) 1-based evaluation indices and the counts by status
    (``valid``, ``stopped by cascade``, or a failure kind).
    """
    if not rows:
        return [], {}
    size = max(1, -(-len(rows) // bins))
    spans = [(start + 1, min(start + size, len(rows))) for start in range(0, len(rows), size)]
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(spans))
    for position, row in enumerate(rows):
        counts[status_of(row)][position // size] += 1
    return spans, dict(counts)
