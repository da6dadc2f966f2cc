"""When a streamed reply holds its complete answer (AnswerWatch), and the derived max_tokens."""

from pathlib import Path

import pytest

from evolve.config.llm import LLMConfig, ModelSpec
from evolve.edits import apply_reply
from evolve.proposers.llm.answer import AnswerWatch
from evolve.proposers.llm.reply_length import block_tokens, derived_max_tokens, max_tokens_for

SEED = (Path(__file__).resolve().parents[1] / "problems" / "circle_packing" / "initial.py").read_text()
BODY = SEED.split("# EVOLVE-BLOCK-START\n")[1].split("# EVOLVE-BLOCK-END")[0]
DIFF_BLOCK = (
    "<<<<<<< SEARCH\n        centers[i + 1] = [0.5 + 0.3 * np.cos(angle), 0.5 + 0.3 * np.sin(angle)]\n=======\n"
    "        centers[i + 1] = [0.5 + 0.32 * np.cos(angle), 0.5 + 0.32 * np.sin(angle)]\n>>>>>>> REPLACE\n"
)


def first_complete(kind: str, reply: str, parent: str = SEED) -> int | None:
    """Streamed a character at a time: the length of the prefix after which the watch says complete."""
    watch = AnswerWatch(kind, parent)
    for end in range(1, len(reply) + 1):
        if watch.complete(reply[:end]):
            return end
    return None


def test_a_rewrite_is_complete_when_its_whole_block_closes():
    answer = f"Use a tighter ring.\n```python\n{BODY.replace('0.7 *', '0.45 *')}```\n"
    reply = answer + "Another idea would be to try a hexagonal lattice, and then...\n" * 5
    cut = first_complete("rewrite", reply)
    assert cut == len(answer)  # right after the closing fence's line
    assert apply_reply(SEED, reply[:cut], mode="auto") == apply_reply(SEED, answer, mode="auto")


def test_a_snippet_quoted_before_the_answer_is_not_mistaken_for_it():
    snippet = "Change this line:\n```python\nangle = 2 * np.pi * i / 8\n```\nHere is the whole block:\n"
    reply = snippet + f"```python\n{BODY}```\nDone.\n"
    assert first_complete("crossover", reply) == len(reply) - len("Done.\n")


def test_a_block_that_lacks_a_function_or_does_not_parse_streams_on():
    missing = "```python\n" + BODY.split("def compute_max_radii")[0] + "```\nmore prose\n"
    assert first_complete("rewrite", missing) is None  # compute_max_radii is called by the harness
    broken = f"```python\n{BODY}    return (\n```\nmore\n"
    assert first_complete("rewrite", broken) is None


def test_a_diff_is_complete_once_prose_follows_its_last_block():
    two_blocks = f"Idea.\n```python\n{DIFF_BLOCK}```\n\n```\n{DIFF_BLOCK.replace('0.3 *', '0.7 *')}```\n"
    reply = two_blocks + "That should help because the rings are now further apart.\nAlso...\n"
    cut = first_complete("diff", reply)
    assert cut == len(two_blocks) + len("That should help because the rings are now further apart.\n")
    assert first_complete("diff", two_blocks) is None  # blocks, fences and blank lines: not yet


def test_a_diff_without_fences_and_an_unfinished_block():
    assert first_complete("diff", DIFF_BLOCK + "Explanation.\n") == len(DIFF_BLOCK) + len("Explanation.\n")
    assert first_complete("diff", DIFF_BLOCK.split("=======")[0] + "prose that is part of the search\n") is None


def test_a_many_block_rewrite_needs_every_marker():
    program = "x = 1\n# EVOLVE-BLOCK-START\ndef f():\n    return 1\n# EVOLVE-BLOCK-END\n# EVOLVE-BLOCK-START\ndef g():\n" \
              "    return 2\n# EVOLVE-BLOCK-END\n"
    one = "```python\n" + program.split("# EVOLVE-BLOCK-END\n# EVOLVE-BLOCK-START\n")[0] + "def g():\n    return 3\n```\nx\n"
    assert first_complete("rewrite", one, parent=program) is None
    assert first_complete("rewrite", f"```python\n{program}```\nx\n", parent=program) is not None


def test_derived_max_tokens_follows_the_block_size():
    tokens = block_tokens(SEED)
    assert tokens == -(-len(BODY) // 2.5)
    rewrite, diff = derived_max_tokens("rewrite", SEED), derived_max_tokens("diff", SEED)
    assert rewrite == 300 + -(-15 * tokens // 10) and diff == 300 + 2 * tokens and diff > rewrite
    assert derived_max_tokens("rewrite", "def f():\n    return 1\n") == 512  # the floor
    assert derived_max_tokens("diff", SEED * 40, cap=2000) == 2000
    longer = SEED.replace("    return radii\n", "    return radii\n" + "    # padding\n" * 100)
    assert derived_max_tokens("crossover", SEED, partner_code=longer) > derived_max_tokens("crossover", SEED)


def test_max_tokens_applies_behind_an_api_base_unless_the_model_sets_one():
    config = LLMConfig(max_tokens_floor=100, max_tokens_cap=5000)
    local = config.effective(ModelSpec(name="openai/local", api_base="http://127.0.0.1:1/v1"))
    assert max_tokens_for(config, local, "diff", SEED) == derived_max_tokens("diff", SEED, floor=100, cap=5000)
    own = config.effective(ModelSpec(name="openai/local", api_base="http://127.0.0.1:1/v1", max_tokens=77))
    assert max_tokens_for(config, own, "diff", SEED) == 77
    hosted = config.effective(ModelSpec(name="openai/o3-mini"))
    assert max_tokens_for(config, hosted, "diff", SEED) is None  # reasoning models count hidden tokens
    table = LLMConfig(max_tokens=300)
    assert max_tokens_for(table, table.effective(ModelSpec(name="openai/o3-mini")), "diff", SEED) == 300
    with pytest.raises(ValueError, match="max_tokens_floor"):
        LLMConfig(max_tokens_floor=600, max_tokens_cap=500)
