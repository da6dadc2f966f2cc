import pytest

from evolve.proposers.llm.prompt import build_messages, crossover_partner, render_text
from evolve.proposers.base import ProblemBrief, ProgramView, ProposalContext

PARENT = "import math\n\n# EVOLVE-BLOCK-START\ndef f(x):\n    return x + 1\n# EVOLVE-BLOCK-END\n\n\ndef main():\n    return f(2)\n"
OTHER = PARENT.replace("x + 1", "x * 3")


def context(**kw):
    base = dict(
        problem=ProblemBrief("toy", "Make f large.", "value", False),
        parent=ProgramView(7, PARENT, 3.0, {"calls": 12.0, "note": "text"}, "f(2) = 3, ran in 1 ms"),
        inspirations=(ProgramView(8, OTHER, 6.0), ProgramView(9, PARENT.replace("+ 1", "+ 5"), 7.0)),
        island=0,
        seed=1,
        notes=("the last diff for this parent did not apply: SEARCH block 1 not found",),
    )
    base.update(kw)
    return ProposalContext(**base)


def user_text(messages):
    assert [m["role"] for m in messages] == ["system", "user"]
    return messages[1]["content"]


def test_diff_prompt_carries_everything_the_model_needs():
    messages = build_messages(context(), "diff")
    assert "minimize the objective `value`" in messages[0]["content"]
    text = user_text(messages)
    for needle in [
        "Make f large.", "(lower is better)", "program 7, value = 3", "Metrics: calls=12",
        "f(2) = 3, ran in 1 ms", PARENT, "### Program 8 (value = 6)", "return x * 3",
        "did not apply: SEARCH block 1 not found", "<<<<<<< SEARCH", ">>>>>>> REPLACE",
    ]:
        assert needle in text, needle
    assert "def main" not in text.split("### Program 8")[1]  # inspirations show only their evolvable code
    assert "note=" not in text  # only numeric metrics


def test_rewrite_asks_for_the_block_and_crossover_for_a_second_parent():
    rewrite = user_text(build_messages(context(), "rewrite"))
    assert "```python fenced block" in rewrite and "<<<<<<< SEARCH" not in rewrite
    cross = user_text(build_messages(context(), "crossover"))
    # minimising: the best partner is the lowest-scoring inspiration (program 8, 6.0)
    assert "## Program B (program 8, value = 6)" in cross and "Program A" in cross
    assert cross.count("program 8") == 1 and "### Program 9" in cross
    assert crossover_partner(context(inspirations=())) is None
    assert crossover_partner(context(problem=ProblemBrief("t", "d", "v", True))).id == 9


def test_failed_parent_shows_failure_and_long_feedback_is_clipped():
    parent = ProgramView(3, PARENT, None, {}, "exception: " + "x" * 5000 + " TAIL", failure_kind="exception")
    text = user_text(build_messages(context(parent=parent, notes=()), "diff", max_feedback_chars=500))
    assert "failed: exception" in text and "Failure:\nexception: xxx" in text
    assert "characters omitted" in text and "TAIL" in text and len(text) < 3000
    assert "Notes on earlier attempts" not in text


def test_multi_block_rewrite_asks_for_the_whole_program_and_bad_kind_fails():
    two = PARENT + "# EVOLVE-BLOCK-START\nK = 1\n# EVOLVE-BLOCK-END\n"
    text = user_text(build_messages(context(parent=ProgramView(1, two, 1.0)), "rewrite"))
    assert "whole program" in text
    with pytest.raises(ValueError, match="diff"):
        build_messages(context(), "poem")
    assert render_text([{"role": "user", "content": "hi"}]) == "[user]\nhi"


def test_code_with_dollar_signs_and_braces_is_kept_verbatim():
    code = PARENT.replace("x + 1", "'${x}' and {'a': 1}")
    assert code in user_text(build_messages(context(parent=ProgramView(1, code, 1.0)), "diff"))
