"""The resume checkpoint: the controller's rebuilt state as JSON, so resume need not replay everything.

``resume`` must rebuild exactly what replaying every committed evaluation in commit order
would (the archive, the cascade's observations and the progress counters). Replay costs about 0.1 ms per stored program, ten seconds at 10^5; so the
controller stores that state in the run's ``meta`` table (key ``checkpoint``) every
``EVERY`` evaluations and when it stops, together with the last evaluation row it covers
and the archive's fingerprint. On resume the state is restored, verified (the restored
archive must have the stored fingerprint), and only the evaluations committed after it
(a killed run's tail) are replayed. Anything that does not verify — an older evolve's
run, a damaged value — falls back to the full replay, which stays the definition.

The lineage notes stored are the live run's, which replay rebuilds only in part (it sees
failed and stopped children, not rejected proposals): a checkpoint resume keeps them all.
Not stored: elites' code (read back from ``programs``, so the checkpoint stays small) and
parent-selection visit counts, which replay does not rebuild either.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from typing import Any

from evolve.archive import Archive, Elite
from evolve.loop.cascade import CascadeBars
from evolve.loop.lineage import LineageNotes
from evolve.records import Program
from evolve.views.progress import CandidateRow, RunProgress

VERSION = 2
EVERY = 1000


def capture(archive: Archive, cascade: CascadeBars, progress: RunProgress, notes: LineageNotes,
            evaluation_id: int, prints: dict[int, str]) -> dict[str, Any]:
    """The state after the evaluation row ``evaluation_id``, as JSON data. ``prints``: novelty
    fingerprints (hex) of the elites, so resume does not compile them again."""
    return {
        "version": VERSION,
        "evaluation_id": evaluation_id,
        "fingerprint": archive.fingerprint(),
        "archive": {
            "insertions": archive.insertions,
            "migrations": archive.migrations,
            "islands": [
                [[list(e.cell), e.program_id, e.fitness, e.features] for e in island.elites.values()]
                for island in archive.islands
            ],
            "improved_at": [[[list(cell), at] for cell, at in island.improved_at.items()] for island in archive.islands],
        },
        "prints": {str(k): v for k, v in prints.items()},
        "cascade": {"seen": cascade._seen, "stopped": cascade.stopped, "saved": cascade.saved},
        "progress": {
            "evaluated": progress.evaluated, "succeeded": progress.succeeded, "failures": dict(progress.failures),
            "best_score": progress.best_score, "best_program_id": progress.best_program_id,
            "best_history": progress.best_history, "recent": [list(row.__dict__.values()) for row in progress.recent],
        },
        "notes": [[parent, list(texts)] for parent, texts in notes._notes.items()],
    }


def elite_ids(state: dict[str, Any]) -> list[int]:
    return sorted({row[1] for island in state["archive"]["islands"] for row in island})


def restore(state: dict[str, Any], archive: Archive, cascade: CascadeBars, progress: RunProgress, notes: LineageNotes,
            programs: dict[int, Program]) -> bool:
    """Put ``state`` into the (fresh) objects; True iff it restored and the archive verifies.

    ``programs`` must hold every elite's program (their code). On False the objects are in
    an unspecified state: the caller starts again from fresh ones and replays.
    """
    if state.get("version") != VERSION:
        return False
    saved = state["archive"]
    if len(saved["islands"]) != len(archive.islands):
        return False
    for island, rows in zip(archive.islands, saved["islands"]):
        for cell, program_id, fitness, features in rows:
            elite = Elite(int(program_id), float(fitness), tuple(cell), programs[program_id].code, dict(features))
            island.elites[elite.cell] = elite
        island._ranked = None
    for island, rows in zip(archive.islands, saved["improved_at"]):
        island.improved_at = {tuple(cell): int(at) for cell, at in rows}
    archive.insertions, archive.migrations = int(saved["insertions"]), int(saved["migrations"])
    if archive.fingerprint() != state["fingerprint"]:
        return False
    seen = state["cascade"]["seen"]
    if len(seen) != len(cascade._seen):
        return False
    cascade._seen = [list(map(float, stage)) for stage in seen]
    cascade.stopped, cascade.saved = int(state["cascade"]["stopped"]), int(state["cascade"]["saved"])
    saved_progress = state["progress"]
    progress.evaluated, progress.succeeded = int(saved_progress["evaluated"]), int(saved_progress["succeeded"])
    progress.failures = Counter(saved_progress["failures"])
    progress.best_score, progress.best_program_id = saved_progress["best_score"], saved_progress["best_program_id"]
    progress.best_history = [tuple(point) for point in saved_progress["best_history"]]
    progress.recent = deque((CandidateRow(*row) for row in saved_progress["recent"]), maxlen=progress.recent.maxlen)
    progress.cascade_stopped, progress.cascade_saved = cascade.stopped, cascade.saved
    notes._notes = OrderedDict((int(parent), deque(texts, maxlen=notes.per_parent)) for parent, texts in state["notes"])
    return True
