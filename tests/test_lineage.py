from evolve.loop.lineage import LineageNotes


def test_notes_keep_the_latest_per_parent_oldest_first():
    notes = LineageNotes(per_parent=2)
    notes.rejected_proposal(1, "diff", "edit_failed", "SEARCH text not found")
    notes.failed_child(1, "timeout", "call to run exceeded 5 s")
    notes.failed_child(1, "exception", "ZeroDivisionError")
    assert notes.for_parent(1) == (
        "A child of this program failed (timeout): call to run exceeded 5 s",
        "A child of this program failed (exception): ZeroDivisionError",
    )
    assert notes.for_parent(2) == ()


def test_the_store_is_bounded_and_forgets_the_least_recently_noted_parent():
    notes = LineageNotes(per_parent=3, parents=2)
    notes.failed_child(1, "timeout", "a")
    notes.failed_child(2, "timeout", "b")
    notes.failed_child(1, "timeout", "c")  # 1 is now the most recent
    notes.failed_child(3, "timeout", "d")  # evicts 2
    assert len(notes) == 2 and notes.for_parent(2) == () and len(notes.for_parent(1)) == 2


def test_long_messages_are_clipped():
    notes = LineageNotes()
    notes.failed_child(1, "exception", "x" * 5000)
    assert len(notes.for_parent(1)[0]) < 400
