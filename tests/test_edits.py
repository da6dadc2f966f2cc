"""EVOLVE-BLOCK regions, SEARCH/REPLACE application, reply parsing and the outside-text guard."""

from __future__ import annotations

import pytest

from evolve.edits import (
    EditError,
    apply_reply,
    apply_search_replace,
    blocks,
    check_only_blocks_changed,
    evolvable_text,
    replace_blocks,
    rewrite_program,
    syntax_error,
)

PROGRAM = """import numpy as np

SCALE = 2.0


# EVOLVE-BLOCK-START
def heuristic(x):
    \"\"\"Score one item.\"\"\"
    y = x * 0.5
    if y > 1.0:
        y = 1.0
    return y


def combine(values):
    total = 0.0
    for v in values:
        total += heuristic(v)
    return total
# EVOLVE-BLOCK-END


def evaluate(values):
    y = SCALE * 0.5
    return combine(values) * y
"""

TWO_BLOCKS = """import math

# EVOLVE-BLOCK-START
def f(x):
    return x + 1
# EVOLVE-BLOCK-END

def harness(x):
    return f(x) * g(x)

# EVOLVE-BLOCK-START
def g(x):
    return x - 1
# EVOLVE-BLOCK-END
"""


def _lines(text: str) -> list[str]:
    return text.split("\n")


# --- blocks --------------------------------------------------------------------------------


def test_blocks_find_the_marked_region_and_keep_offsets_consistent():
    (block,) = blocks(PROGRAM)
    assert block.marked and block.index == 0
    assert PROGRAM[block.start : block.end] == block.text
    assert block.text.startswith("def heuristic(x):\n") and block.text.endswith("return total\n")
    assert _lines(PROGRAM)[block.first_line - 1] == "def heuristic(x):"
    assert evolvable_text(PROGRAM) == block.text


def test_no_markers_means_the_whole_file_is_one_block():
    source = "def f():\n    return 1\n"
    (block,) = blocks(source)
    assert not block.marked and block.text == source and (block.start, block.end) == (0, len(source))


def test_several_blocks_in_order_and_their_joined_text():
    first, second = blocks(TWO_BLOCKS)
    assert first.text == "def f(x):\n    return x + 1\n"
    assert second.text == "def g(x):\n    return x - 1\n"
    assert second.first_line == 12
    assert evolvable_text(TWO_BLOCKS) == first.text + "\n" + second.text


def test_indented_markers_with_trailing_text_are_markers():
    source = "class A:\n    # EVOLVE-BLOCK-START: the policy\n    x = 1\n    # EVOLVE-BLOCK-END\n"
    (block,) = blocks(source)
    assert block.text == "    x = 1\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n# EVOLVE-BLOCK-END\n", "EVOLVE-BLOCK-END at line 2 has no matching"),
        (
            "# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\n",
            "line 2 is nested inside the block opened at line 1",
        ),
        ("a = 1\n# EVOLVE-BLOCK-START\nx = 1\n", "EVOLVE-BLOCK-START at line 2 is never closed"),
    ],
)
def test_unbalanced_or_nested_markers_name_the_line(source, message):
    with pytest.raises(EditError, match=message):
        blocks(source)


# --- replace_blocks / rewrite ----------------------------------------------------------------


def test_replace_blocks_keeps_markers_and_outside_text():
    new = replace_blocks(PROGRAM, "def heuristic(x):\n    return x\n\n\ndef combine(values):\n    return sum(values)")
    assert evolvable_text(new) == "def heuristic(x):\n    return x\n\n\ndef combine(values):\n    return sum(values)\n"
    check_only_blocks_changed(PROGRAM, new)


def test_replace_blocks_strips_a_fence_and_echoed_markers():
    echoed = (
        "```python\nimport numpy as np\n# EVOLVE-BLOCK-START\ndef heuristic(x):\n    return 2\n"
        "# EVOLVE-BLOCK-END\nprint('harness')\n```"
    )
    new = replace_blocks(PROGRAM, echoed)
    assert evolvable_text(new) == "def heuristic(x):\n    return 2\n"
    check_only_blocks_changed(PROGRAM, new)


def test_replace_blocks_by_index_in_a_multi_block_program():
    new = replace_blocks(TWO_BLOCKS, "def g(x):\n    return x * 3\n", index=1)
    assert [b.text for b in blocks(new)] == ["def f(x):\n    return x + 1\n", "def g(x):\n    return x * 3\n"]
    with pytest.raises(EditError, match="out of range"):
        replace_blocks(TWO_BLOCKS, "x = 1", index=2)


def test_rewrite_of_a_whole_program_takes_each_block_and_rejects_harness_changes():
    theirs = TWO_BLOCKS.replace("x + 1", "x + 2").replace("x - 1", "x - 2")
    new = rewrite_program(TWO_BLOCKS, theirs)
    assert new == theirs
    with pytest.raises(EditError, match=r"outside the EVOLVE-BLOCK at line 9"):
        rewrite_program(TWO_BLOCKS, theirs.replace("f(x) * g(x)", "f(x) + g(x)"))
    with pytest.raises(EditError, match="has 1 EVOLVE-BLOCK"):
        rewrite_program(TWO_BLOCKS, TWO_BLOCKS.split("def harness")[0])
    with pytest.raises(EditError, match="no EVOLVE-BLOCK markers but the program has 2 blocks"):
        rewrite_program(TWO_BLOCKS, "def f(x):\n    return 0\n")
    only_blocks = (
        "# EVOLVE-BLOCK-START\ndef f(x):\n    return 0\n# EVOLVE-BLOCK-END\n\n"
        "# EVOLVE-BLOCK-START\ndef g(x):\n    return 1\n# EVOLVE-BLOCK-END\n"
    )
    assert [b.text for b in blocks(rewrite_program(TWO_BLOCKS, only_blocks))] == [
        "def f(x):\n    return 0\n",
        "def g(x):\n    return 1\n",
    ]


def test_rewrite_drops_an_echoed_harness_around_a_single_block():
    body = "def heuristic(x):\n    return x\n\n\ndef combine(values):\n    return len(values)\n"
    whole = PROGRAM.split("# EVOLVE-BLOCK-START\n")[0] + body + "\n\n" + PROGRAM.split("# EVOLVE-BLOCK-END\n")[1]
    assert evolvable_text(rewrite_program(PROGRAM, whole)) == body


# --- SEARCH/REPLACE --------------------------------------------------------------------------


def test_exact_search_replace_inside_the_block():
    new = apply_search_replace(PROGRAM, [("    y = x * 0.5\n", "    y = x * 0.25\n")])
    assert "    y = x * 0.25\n" in new and "y = SCALE * 0.5" in new
    check_only_blocks_changed(PROGRAM, new)


def test_a_search_that_matches_only_outside_the_block_is_rejected():
    with pytest.raises(EditError, match=r"outside the EVOLVE-BLOCK \(line 24\)"):
        apply_search_replace(PROGRAM, [("    y = SCALE * 0.5\n", "    y = SCALE\n")])


def test_ambiguous_search_lists_the_matching_lines():
    source = "# EVOLVE-BLOCK-START\ndef f(x):\n    x += 1\n    x += 1\n    return x\n# EVOLVE-BLOCK-END\n"
    with pytest.raises(EditError, match=r"SEARCH block 1 matches 2 places in the EVOLVE-BLOCK \(lines 3, 4\)"):
        apply_search_replace(source, [("    x += 1\n", "    x += 2\n")])
    new = apply_search_replace(source, [("    x += 1\n    return x\n", "    x += 2\n    return x\n")])
    assert "    x += 1\n    x += 2\n" in new


def test_missing_search_points_at_the_closest_text():
    with pytest.raises(EditError) as caught:
        apply_search_replace(PROGRAM, [("    y = x * 0.55\n    if y > 1.0:\n", "    y = x\n")])
    message = str(caught.value)
    assert "SEARCH block 1 not found in the EVOLVE-BLOCK" in message
    assert "closest text starts at line 9 and differs at line 9" in message
    assert "'    y = x * 0.55'" in message and "'    y = x * 0.5'" in message


def test_unrelated_search_says_nothing_similar():
    with pytest.raises(EditError, match="no similar text"):
        apply_search_replace(PROGRAM, [("completely = unrelated(text)\n", "")])


def test_empty_search_is_rejected():
    with pytest.raises(EditError, match="SEARCH block 2 is empty"):
        apply_search_replace(PROGRAM, [("    y = x * 0.5\n", "    y = x\n"), ("\n\n", "x = 1\n")])


def test_trailing_whitespace_drift_still_matches():
    new = apply_search_replace(PROGRAM, [("    y = x * 0.5   \n    if y > 1.0:\t\n", "    y = x * 0.7\n    if y > 2.0:\n")])
    assert "    y = x * 0.7\n    if y > 2.0:\n        y = 1.0\n" in new


def test_dropped_indentation_is_restored_in_the_replace():
    search = "y = x * 0.5\nif y > 1.0:\n    y = 1.0\n"
    replace = "y = x * 0.6\nif y > 1.5:\n    y = 1.5\n"
    new = apply_search_replace(PROGRAM, [(search, replace)])
    assert "    y = x * 0.6\n    if y > 1.5:\n        y = 1.5\n    return y\n" in new


def test_added_indentation_is_removed_from_the_replace():
    search = "        for v in values:\n            total += heuristic(v)\n"
    replace = "        for v in sorted(values):\n            total += heuristic(v)\n"
    new = apply_search_replace(PROGRAM, [(search, replace)])
    assert "    for v in sorted(values):\n        total += heuristic(v)\n" in new


def test_blank_line_insensitive_match():
    search = "    return y\ndef combine(values):\n"
    new = apply_search_replace(PROGRAM, [(search, "    return y\n\n\ndef combine(values, start=0.0):\n")])
    assert "def combine(values, start=0.0):" in new and "def combine(values):" not in new


def test_search_compares_whole_lines_not_substrings():
    with pytest.raises(EditError, match="not found"):
        apply_search_replace(PROGRAM, [("x * 0.5", "x * 0.6")])


def test_edits_apply_in_order_and_may_target_different_blocks():
    new = apply_search_replace(
        TWO_BLOCKS,
        [
            ("    return x + 1\n", "    return x + 10\n"),
            ("    return x - 1\n", "    return x - 10\n"),
            ("    return x + 10", "    return x + 11"),
        ],
    )
    assert [b.text for b in blocks(new)] == ["def f(x):\n    return x + 11\n", "def g(x):\n    return x - 10\n"]


def test_a_search_never_matches_across_a_block_marker():
    with pytest.raises(EditError, match="not found in the EVOLVE-BLOCK"):
        apply_search_replace(TWO_BLOCKS, [("    return x + 1\n\ndef harness(x):\n", "    return x\n")])


def test_marker_lines_quoted_as_context_are_tolerated_but_never_removed():
    search = "# EVOLVE-BLOCK-START\ndef f(x):\n"
    new = apply_search_replace(TWO_BLOCKS, [(search, "# EVOLVE-BLOCK-START\ndef f(x, scale=1):\n")])
    assert "def f(x, scale=1):" in new and new.count("# EVOLVE-BLOCK-START") == 2
    with pytest.raises(EditError, match="markers must stay"):
        apply_search_replace(TWO_BLOCKS, [(search, "def f(x, scale=1):\n")])
    with pytest.raises(EditError, match="contains an EVOLVE-BLOCK marker line"):
        apply_search_replace(TWO_BLOCKS, [("def f(x):\n", "def f(x):\n# EVOLVE-BLOCK-END\n")])


def test_whole_file_block_when_there_are_no_markers():
    source = "def f(x):\n    return x + 1"
    assert apply_search_replace(source, [("    return x + 1", "    return x + 2")]) == "def f(x):\n    return x + 2"


# --- guard, apply_reply, syntax ------------------------------------------------------------


def test_only_blocks_changed_guard():
    inside = PROGRAM.replace("y = x * 0.5", "y = x * 0.9")
    check_only_blocks_changed(PROGRAM, inside)
    with pytest.raises(EditError, match=r"outside the EVOLVE-BLOCK at line 3: it was 'SCALE = 2.0', now 'SCALE = 3.0'"):
        check_only_blocks_changed(PROGRAM, PROGRAM.replace("SCALE = 2.0", "SCALE = 3.0"))
    with pytest.raises(EditError, match="line 24"):
        check_only_blocks_changed(PROGRAM, PROGRAM.replace("    y = SCALE * 0.5", "    y = SCALE * 0.5 "))
    with pytest.raises(EditError, match="EVOLVE-BLOCK-START at line 6 is never closed"):
        check_only_blocks_changed(PROGRAM, PROGRAM.replace("# EVOLVE-BLOCK-END\n", ""))
    with pytest.raises(EditError, match="candidate has 1 EVOLVE-BLOCK.*parent has 2; keep every block"):
        check_only_blocks_changed(TWO_BLOCKS, TWO_BLOCKS.split("def harness")[0])
    with pytest.raises(EditError, match="adds EVOLVE-BLOCK markers"):
        check_only_blocks_changed("x = 1\n", "# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n")


def test_apply_reply_modes_and_unchanged_result():
    diff = "<<<<<<< SEARCH\n    y = x * 0.5\n=======\n    y = x * 0.4\n>>>>>>> REPLACE\n"
    rewrite = "```python\ndef heuristic(x):\n    return x\n\n\ndef combine(values):\n    return sum(values)\n```"
    assert "x * 0.4" in apply_reply(PROGRAM, diff, mode="diff")
    assert "return sum(values)" in apply_reply(PROGRAM, rewrite, mode="rewrite")
    assert "return sum(values)" in apply_reply(PROGRAM, rewrite)
    with pytest.raises(EditError, match="reply has no SEARCH/REPLACE blocks"):
        apply_reply(PROGRAM, rewrite, mode="diff")
    with pytest.raises(EditError, match="no fenced python code block"):
        apply_reply(PROGRAM, diff, mode="rewrite")
    with pytest.raises(EditError, match="leaves the program unchanged"):
        apply_reply(PROGRAM, "<<<<<<< SEARCH\n    return y\n    \n=======\n    return y\n>>>>>>> REPLACE")
    with pytest.raises(ValueError, match="mode must be"):
        apply_reply(PROGRAM, diff, mode="patch")  # type: ignore[arg-type]


def test_syntax_errors_are_returned_not_raised():
    broken = apply_reply(PROGRAM, "<<<<<<< SEARCH\n    y = x * 0.5\n=======\n    y = x *\n>>>>>>> REPLACE")
    assert "y = x *\n" in broken
    assert syntax_error(broken).startswith("line 9: invalid syntax")
    assert syntax_error(PROGRAM) is None
