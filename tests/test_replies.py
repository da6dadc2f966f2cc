"""Reply parsing on a corpus of realistic LLM replies, applied end to end with apply_reply."""

from __future__ import annotations

import re

import pytest

from evolve.edits import EditError, apply_reply, evolvable_text
from evolve.edits.replies import NOTHING_USABLE, parse_reply

PROGRAM = """import math


# EVOLVE-BLOCK-START
def learning_rate(step, total_steps, base_lr=0.003):
    warmup = max(1, int(total_steps * 0.05))
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
# EVOLVE-BLOCK-END


def run():
    return [learning_rate(s, 100) for s in range(100)]
"""

NEW_WARMUP = "    warmup = max(1, int(total_steps * 0.1))"
REWRITTEN = """def learning_rate(step, total_steps, base_lr=0.003):
    progress = step / max(1, total_steps)
    return base_lr * (1.0 - progress) ** 2
"""

CLEAN_DIFF = """<<<<<<< SEARCH
    warmup = max(1, int(total_steps * 0.05))
=======
    warmup = max(1, int(total_steps * 0.1))
>>>>>>> REPLACE
"""

# (name, reply, expected evolvable text after apply_reply)
USABLE = [
    ("clean diff", CLEAN_DIFF, "warmup"),
    (
        "fenced diff with prose",
        "A longer warmup should stabilise early training.\n\n```python\n" + CLEAN_DIFF + "```\n\nThis doubles the warmup.",
        "warmup",
    ),
    ("diff fence tag", "```diff\n" + CLEAN_DIFF + "```", "warmup"),
    ("CRLF line ends", ("Change:\n```python\n" + CLEAN_DIFF + "```\n").replace("\n", "\r\n"), "warmup"),
    ("short and long markers", CLEAN_DIFF.replace("<<<<<<<", "<<<<<").replace(">>>>>>>", ">>>>>>>>>"), "warmup"),
    ("missing final REPLACE marker", CLEAN_DIFF.replace(">>>>>>> REPLACE\n", ""), "warmup"),
    (
        "fence closes a diff without REPLACE marker",
        "```python\n" + CLEAN_DIFF.replace(">>>>>>> REPLACE\n", "") + "```\nDone.",
        "warmup",
    ),
    (
        "several diffs with reasoning between",
        "1. Longer warmup:\n" + CLEAN_DIFF + "\n2. Cosine floor:\n"
        "<<<<<<< SEARCH\n    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))\n=======\n"
        "    return base_lr * (0.1 + 0.45 * (1.0 + math.cos(math.pi * progress)))\n>>>>>>> REPLACE\n",
        "warmup+floor",
    ),
    (
        "diff with dropped indentation",
        "<<<<<<< SEARCH\nwarmup = max(1, int(total_steps * 0.05))\nif step < warmup:\n=======\n"
        "warmup = max(1, int(total_steps * 0.1))\nif step < warmup:\n>>>>>>> REPLACE",
        "warmup",
    ),
    ("full rewrite in a python fence", "Here is a simpler schedule:\n\n```python\n" + REWRITTEN + "```\n", "rewrite"),
    (
        "rewrite: longest python block wins over an example",
        "Usage:\n```python\nlr = learning_rate(10, 100)\n```\nThe new code:\n```python\n" + REWRITTEN + "```",
        "rewrite",
    ),
    (
        "rewrite: the block with markers wins",
        "```python\n# EVOLVE-BLOCK-START\n" + REWRITTEN + "# EVOLVE-BLOCK-END\n```\n"
        "For reference, the old one was:\n```python\n" + evolvable_text(PROGRAM)
        + "# and some more comment lines\n# to make this block longer\n```",
        "rewrite",
    ),
    ("rewrite: untagged fence", "```\n" + REWRITTEN + "```", "rewrite"),
    ("rewrite: bare program with markers, no fence", PROGRAM.replace(evolvable_text(PROGRAM), REWRITTEN), "rewrite"),
]

UNUSABLE = [
    ("refusal prose", "I'm sorry, but I can't improve this schedule further.", NOTHING_USABLE),
    ("empty reply", "", NOTHING_USABLE),
    ("shell block only", "Run this:\n```bash\npip install numpy\n```", NOTHING_USABLE),
    ("truncated inside SEARCH", "<<<<<<< SEARCH\n    warmup = max(1,", "ends inside SEARCH block 1 .* looks truncated"),
    (
        "truncated inside REPLACE within a fence",
        "```python\n<<<<<<< SEARCH\n    warmup = 1\n=======\n    warmup = max(1, int(total_steps",
        "ends inside REPLACE block 1 .* never closes; the reply looks truncated",
    ),
    (
        "truncated rewrite fence",
        "```python\ndef learning_rate(step, total_steps):\n    return 0.001 *",
        "code block opened at line 1 that never closes",
    ),
    (
        "divider missing between SEARCH and REPLACE",
        "<<<<<<< SEARCH\n    warmup = 1\n>>>>>>> REPLACE\n",
        r"SEARCH block 1 \(line 1\) has no '=======' line",
    ),
]


def _expected(kind: str) -> str:
    block = evolvable_text(PROGRAM)
    if kind == "rewrite":
        return REWRITTEN
    block = block.replace("    warmup = max(1, int(total_steps * 0.05))", NEW_WARMUP)
    if kind == "warmup+floor":
        block = block.replace("base_lr * 0.5 * (1.0 +", "base_lr * (0.1 + 0.45 * (1.0 +")
        block = block.replace("progress))\n", "progress)))\n")
    return block


@pytest.mark.parametrize(("name", "reply", "kind"), USABLE, ids=[case[0] for case in USABLE])
def test_usable_replies_parse_and_apply(name, reply, kind):
    parsed = parse_reply(reply)
    assert parsed.ok, parsed.error
    assert evolvable_text(apply_reply(PROGRAM, reply)) == _expected(kind)


@pytest.mark.parametrize(("name", "reply", "message"), UNUSABLE, ids=[case[0] for case in UNUSABLE])
def test_unusable_replies_say_why(name, reply, message):
    parsed = parse_reply(reply)
    assert not parsed.ok
    assert re.search(message, parsed.error), parsed.error
    with pytest.raises(EditError):
        apply_reply(PROGRAM, reply)


def test_parse_success_rate_on_the_corpus():
    applied = 0
    for _, reply, kind in USABLE:
        try:
            applied += evolvable_text(apply_reply(PROGRAM, reply)) == _expected(kind)
        except EditError:
            pass
    rejected = sum(not parse_reply(reply).ok for _, reply, _ in UNUSABLE)
    print(f"\nreply corpus: {applied}/{len(USABLE)} usable replies applied, {rejected}/{len(UNUSABLE)} unusable rejected")
    assert (applied, rejected) == (len(USABLE), len(UNUSABLE))


def test_diff_sections_keep_their_text_and_drop_edge_fences():
    parsed = parse_reply("<<<<<<< SEARCH\n```python\n  a = 1\n```\n=======\n  a = 2\n\n  b = 3\n>>>>>>> REPLACE")
    assert parsed.edits == (("  a = 1\n", "  a = 2\n\n  b = 3\n"),)
    assert parsed.code is None


def test_diffs_take_priority_but_the_code_block_is_kept():
    reply = "```python\n" + REWRITTEN + "```\n" + CLEAN_DIFF
    parsed = parse_reply(reply)
    assert len(parsed.edits) == 1 and parsed.code == REWRITTEN
    assert evolvable_text(apply_reply(PROGRAM, reply)) == _expected("warmup")
    assert evolvable_text(apply_reply(PROGRAM, reply, mode="rewrite")) == REWRITTEN
