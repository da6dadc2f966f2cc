"""How many tokens a reply may take: derived from what the model must write.

Without a cap, a model that does not stop (small local models often do not) generates
until its context is full, holding a one-slot server for minutes. The answer's size is
known before asking: a rewrite is about one EVOLVE-BLOCK, a diff at most the old lines
plus the new ones. So, with ``B`` the block's length in tokens::

    max_tokens = clamp(PROSE + factor(kind) * B, floor, cap)

with ``factor`` 1.5 for a rewrite (room for the code to grow), 2 for a diff (SEARCH copies
old lines, REPLACE holds new ones) and 1.5 for a crossover of the longer of its two
parents, and ``PROSE`` = 300 tokens for the explanation. ``B`` is estimated at
``CHARS_PER_TOKEN`` = 2.5 characters a token: Gemma 3's tokenizer measured 2.67 on
circle_packing's block (1134 characters, 425 tokens, llama.cpp ``/tokenize``), and
OpenAI's are near 3-4 on code, so 2.5 errs towards a longer limit. For circle_packing
that is 981 tokens for a rewrite and 1208 for a diff.

It applies to models behind an ``api_base`` (local and self-hosted servers, whose time a
runaway reply wastes) that set no ``max_tokens``; a provider's hosted models get no cap
unless configured, since reasoning models count hidden reasoning tokens against it and
some reject the field.
"""

from __future__ import annotations

import math

from evolve.config.llm import LLMConfig, ModelSpec
from evolve.edits import EditError, evolvable_text

CHARS_PER_TOKEN = 2.5
PROSE_TOKENS = 300
FACTORS = {"rewrite": 1.5, "diff": 2.0, "crossover": 1.5}


def block_tokens(code: str) -> int:
    """Estimated tokens of a program's evolvable code (the whole text if it has no markers)."""
    try:
        text = evolvable_text(code)
    except EditError:
        text = code
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def derived_max_tokens(kind: str, parent_code: str, *, partner_code: str | None = None,
                       floor: int = 512, cap: int = 4096) -> int:
    """The default cap for an edit of ``kind`` of ``parent_code`` (see the module docstring)."""
    size = block_tokens(parent_code)
    if kind == "crossover" and partner_code:
        size = max(size, block_tokens(partner_code))
    wanted = PROSE_TOKENS + math.ceil(FACTORS.get(kind, 2.0) * size)
    return max(floor, min(cap, wanted))


def max_tokens_for(config: LLMConfig, spec: ModelSpec, kind: str, parent_code: str,
                   partner_code: str | None = None) -> int | None:
    """The cap sent to ``spec`` (already ``config.effective``): its own, else derived behind an api_base, else None."""
    if spec.max_tokens is not None:
        return spec.max_tokens
    if not spec.api_base and not spec.gguf:
        return None
    return derived_max_tokens(
        kind, parent_code, partner_code=partner_code, floor=config.max_tokens_floor, cap=config.max_tokens_cap
    )
