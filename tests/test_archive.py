import random

import pytest

from evolve.archive import Archive, cell_of, make_selection
from evolve.config import FeatureAxis

AXES = [FeatureAxis(name="x", min=0, max=1, bins=4), FeatureAxis(name="y", min=0, max=10, bins=2)]


def test_cell_binning_clips_to_range():
    assert cell_of(AXES, {"x": 0.0, "y": 0.0}) == (0, 0)
    assert cell_of(AXES, {"x": 0.26, "y": 5.0}) == (1, 1)
    assert cell_of(AXES, {"x": 1.0, "y": 10.0}) == (3, 1)  # max edge falls in the last bin
    assert cell_of(AXES, {"x": -5, "y": 99}) == (0, 1)


def test_insert_keeps_fitter_elite_and_ties_keep_incumbent():
    archive = Archive(AXES, qd_offset=0.1)
    assert archive.insert(1, 1.0, {"x": 0.1, "y": 1}, "a", 0) == "new_cell"
    assert archive.insert(2, 0.5, {"x": 0.1, "y": 1}, "b", 0) == "rejected"
    assert archive.insert(3, 1.0, {"x": 0.1, "y": 1}, "c", 0) == "rejected"
    assert archive.insert(4, 2.0, {"x": 0.1, "y": 1}, "d", 0) == "improved"
    assert archive.islands[0].elites[(0, 0)].program_id == 4
    assert archive.insert(5, 0.1, {"x": 0.9, "y": 9}, "e", 0) == "new_cell"
    assert archive.coverage() == pytest.approx(2 / 8)
    assert archive.qd_score() == pytest.approx((2.0 - 0.1) + (0.1 - 0.1))


def test_seed_goes_to_every_island_and_migration_is_a_ring():
    archive = Archive(AXES, islands=3, migration_interval=3, migration_size=1)
    archive.insert(1, 0.0, {"x": 0.1, "y": 1}, "seed", None)
    assert all(island.best().program_id == 1 for island in archive.islands)
    archive.insert(2, 5.0, {"x": 0.6, "y": 1}, "b", 0)  # insertion 2
    assert archive.islands[1].best().program_id == 1
    archive.insert(3, 1.0, {"x": 0.9, "y": 9}, "c", 2)  # insertion 3 triggers migration
    assert archive.migrations == 1
    assert archive.islands[1].best().program_id == 2  # island 0's best moved to island 1
    assert archive.islands[0].elites.get((3, 1)) is not None  # island 2's best moved to island 0
    assert archive.islands[2].best().program_id == 3  # island 1 sent the seed, which does not beat 3


def _eight() -> Archive:
    archive = Archive(AXES)
    for i in range(8):
        archive.insert(i, float(i), {"x": i / 8, "y": (i % 2) * 9}, str(i), 0)
    return archive


def test_selection_policies_and_determinism():
    for policy in ("uniform", "fitness", "curiosity"):
        runs = []
        for _ in range(2):
            archive, rng = _eight(), random.Random(7)
            runs.append([archive.select_parent(0, rng, make_selection(policy)).program_id for _ in range(50)])
        assert runs[0] == runs[1]
    archive = _eight()
    rng = random.Random(0)
    counts = [0] * 8
    for _ in range(4000):
        counts[archive.select_parent(0, rng, make_selection("fitness")).program_id] += 1
    assert counts[7] > counts[3] > counts[0]  # better elites drawn more often
    rng = random.Random(0)
    uniform = [0] * 8
    for _ in range(4000):
        uniform[archive.select_parent(0, rng, make_selection("uniform")).program_id] += 1
    assert min(uniform) > 350


def test_curiosity_favours_unvisited_cells():
    archive = Archive(AXES)
    archive.insert(1, 1.0, {"x": 0.1, "y": 1}, "a", 0)
    archive.insert(2, 1.0, {"x": 0.6, "y": 1}, "b", 0)
    archive.islands[0].visits[(0, 0)] = 99
    rng = random.Random(1)
    picks = [archive.select_parent(0, rng, make_selection("curiosity")).program_id for _ in range(20)]
    assert picks.count(2) > picks.count(1)  # under "fitness" id 1 (rank 0) would be favoured
    _ = [archive.select_parent(0, rng, make_selection("curiosity")).program_id for _ in range(400)]
    assert archive.islands[0].visits[(2, 0)] > 99  # visits balance out: cell 2 catches up


def test_inspirations_exclude_parent_and_fill_from_other_islands():
    archive = Archive(AXES, islands=2)
    archive.insert(1, 3.0, {"x": 0.1, "y": 1}, "a", 0)
    archive.insert(2, 2.0, {"x": 0.6, "y": 1}, "b", 0)
    archive.insert(3, 1.0, {"x": 0.9, "y": 9}, "c", 1)
    parent = archive.islands[0].elites[(0, 0)]
    chosen = archive.inspirations(0, parent, 2, random.Random(0))
    assert [e.program_id for e in chosen] == [2, 3]
    assert archive.inspirations(0, parent, 0, random.Random(0)) == []


def test_empty_archive_selection_raises():
    with pytest.raises(LookupError):
        Archive(AXES).select_parent(0, random.Random(0))


def test_qd_score_uses_a_fixed_offset_and_never_decreases():
    archive = Archive(AXES, qd_offset=0.0)
    scores = []
    for i, (fitness, x) in enumerate([(1.0, 0.1), (-3.0, 0.6), (2.0, 0.1), (0.5, 0.9), (-1.0, 0.9)]):
        archive.insert(i, fitness, {"x": x, "y": 1}, str(i), 0)
        scores.append(archive.qd_score())
    assert scores == sorted(scores)  # monotonic: a low newcomer adds max(0, f - offset) = 0
    assert archive.qd_score() == pytest.approx(2.0 + 0.5)


def test_parsimony_acceptance_prefers_shorter_code_at_equal_fitness():
    from evolve.archive import make_acceptance

    strict = Archive(AXES)
    lean = Archive(AXES, acceptance=make_acceptance("parsimony", tolerance=0.01))
    for archive in (strict, lean):
        archive.insert(1, 1.0, {"x": 0.1, "y": 1}, "long code " * 10, 0)
        archive.insert(2, 1.005, {"x": 0.1, "y": 1}, "short", 0)  # within 1%: a tie, and shorter
        archive.insert(3, 1.004, {"x": 0.1, "y": 1}, "short but long enough", 0)  # a tie, but longer than 2
    assert strict.islands[0].elites[(0, 0)].program_id == 2  # strictly fitter
    assert lean.islands[0].elites[(0, 0)].program_id == 2
    lean.insert(4, 0.999, {"x": 0.1, "y": 1}, "tiny", 0)  # tie and shorter: parsimony takes it
    strict.insert(4, 0.999, {"x": 0.1, "y": 1}, "tiny", 0)
    assert lean.islands[0].elites[(0, 0)].program_id == 4
    assert strict.islands[0].elites[(0, 0)].program_id == 2


def test_no_migration_keeps_islands_apart():
    from evolve.archive import make_migration

    archive = Archive(AXES, islands=2, migration=make_migration("none"))
    archive.insert(1, 5.0, {"x": 0.1, "y": 1}, "a", 0)
    for i in range(2, 40):
        archive.insert(i, 0.0, {"x": 0.9, "y": 9}, "b", 1)
    assert archive.migrations == 0 and 1 not in {e.program_id for e in archive.islands[1].elites.values()}


def test_go_explore_returns_to_cells_that_improved_recently():
    from evolve.archive import GoExploreSelection

    archive = Archive(AXES)
    archive.insert(1, 1.0, {"x": 0.1, "y": 1}, "old cell", 0)
    for i in range(2, 60):  # time passes: other insertions that change nothing
        archive.insert(i, -1.0, {"x": 0.1, "y": 1}, "worse", 0)
    archive.insert(99, 1.0, {"x": 0.6, "y": 1}, "new cell, as fit", 0)
    assert archive.islands[0].improved_at == {(0, 0): 1, (2, 0): 60}
    rng, policy = random.Random(4), GoExploreSelection(temperature=100.0, horizon=10.0)
    picks = [archive.select_parent(0, rng, policy).program_id for _ in range(300)]
    assert picks.count(99) > 1.5 * picks.count(1)  # the fresh cell first ...
    fitness = make_selection("fitness", temperature=100.0)
    rng = random.Random(4)
    flat = [archive.select_parent(0, rng, fitness).program_id for _ in range(300)]
    assert abs(flat.count(99) - flat.count(1)) < 60  # ... where plain rank selection is nearly even
