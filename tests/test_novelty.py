import random

from evolve.loop.novelty import NoveltyIndex, canonical, similarity

BASE = '''
import numpy as np

def spread(n, scale=0.3):
    """Points on a ring."""
    out = []
    for i in range(n):
        angle = 2 * np.pi * i / n
        out.append((0.5 + scale * np.cos(angle), 0.5 + scale * np.sin(angle)))
    return out
'''

COSMETIC = '''
import numpy as np


def spread(n, scale = 0.3):
    # put the points on a ring, evenly
    out = [ ]
    for i in range( n ):
        angle = (2 * np.pi * i / n)   # radians
        out.append( (0.5 + scale*np.cos(angle), 0.5 + scale*np.sin(angle)) )
    return out
'''


def test_comments_docstrings_and_formatting_do_not_count():
    assert canonical(BASE) == canonical(COSMETIC) is not None
    assert similarity(BASE, COSMETIC) == 1.0


def test_a_real_change_is_below_one_but_close():
    changed = BASE.replace("scale=0.3", "scale=0.35")
    sim = similarity(BASE, changed)
    assert 0.8 < sim < 1.0
    assert similarity(BASE, "def other():\n    return sum(range(10))\n") < 0.2


def test_unparseable_code_still_compares():
    broken = BASE + "\ndef oops(:\n"
    assert similarity(broken, broken.replace("    ", "\t")) == 1.0
    assert similarity(broken, BASE) > 0.7


def _index(programs: list[tuple[int, str]]) -> NoveltyIndex:
    index = NoveltyIndex()
    for program_id, code in programs:
        index.add(program_id, code)
    return index


def test_nearest_and_threshold_semantics():
    archive = _index([(1, BASE.replace("0.5", "0.4")), (2, COSMETIC), (3, "x = 1\n")])
    assert archive.nearest(BASE) == (2, 1.0)
    assert archive.nearest(BASE, floor=1.0) == (2, 1.0)
    changed = BASE.replace("scale=0.3", "scale=0.35")
    assert archive.nearest(changed, floor=1.0) is None
    assert archive.nearest(changed, floor=0.8)[0] == 2
    assert _index([]).nearest(BASE) is None


def test_index_prefilter_agrees_with_brute_force():
    rng = random.Random(0)
    programs = {}
    for i in range(60):
        lines = [f"v{j} = {rng.randint(0, 9)} * x + {rng.randint(0, 3)}" for j in range(rng.randint(3, 40))]
        programs[i] = "def f(x):\n    " + "\n    ".join(lines) + "\n    return v0\n"
    index = NoveltyIndex()
    for i, code in programs.items():
        index.add(i, code)
    for probe in list(programs.values())[:10]:
        query = probe.replace("+ 1", "+ 2", 1)
        brute = max(programs, key=lambda i: (similarity(query, programs[i]), -i))
        got = index.nearest(query)
        assert got is not None and abs(got[1] - similarity(query, programs[brute])) < 1e-12
    assert index.nearest("y = 2\n", floor=0.9) is None
    assert len(index) == 60


def test_fingerprint_ignores_layout_and_docstrings_but_not_constants():
    from evolve.loop.novelty import fingerprint

    assert fingerprint(BASE) == fingerprint(COSMETIC) is not None
    assert fingerprint(BASE) != fingerprint(BASE.replace("scale=0.3", "scale=0.35"))
    assert fingerprint("x = 1\n") != fingerprint("x = 1.0\n") != fingerprint("x = True\n")
    assert fingerprint("x = 0.0\n") != fingerprint("x = -0.0\n")
    documented = 'class A:\n    """One."""\n    x = 1\n'
    assert fingerprint(documented) == fingerprint(documented.replace("One.", "Two, reworded."))
    assert fingerprint("def f(:\n") is None


def test_exact_path_sees_only_the_elites_it_is_told_of():
    index = NoveltyIndex(keep_code=False)
    index.add(7, COSMETIC)
    assert index.nearest(BASE, floor=1.0) == (7, 1.0)
    assert index.nearest(BASE, among={8}, floor=1.0) is None
    assert len(index) == 1 and 7 in index
