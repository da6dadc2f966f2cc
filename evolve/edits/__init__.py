"""Edits to a program's EVOLVE-BLOCKs, from an LLM reply (or a mutator) to a new program.

The pipeline, one module a step:

- ``blocks``: the EVOLVE-BLOCK markers and the regions they delimit;
- ``replies``: parsing a reply into SEARCH/REPLACE edits or a fenced full rewrite;
- ``search_replace``: applying edits inside blocks, tolerant of whitespace drift;
- ``apply``: ``apply_reply`` joins them and guarantees only block contents change;
- ``compiled``: one compile per program text, shared by the proposers and the novelty check.
"""

from evolve.edits.apply import (
    apply_reply,
    check_only_blocks_changed,
    replace_blocks,
    rewrite_program,
    syntax_error,
)
from evolve.edits.blocks import END_MARKER, START_MARKER, Block, EditError, blocks, evolvable_text, is_marker
from evolve.edits.search_replace import apply_search_replace

__all__ = [
    "END_MARKER",
    "START_MARKER",
    "Block",
    "EditError",
    "apply_reply",
    "apply_search_replace",
    "blocks",
    "check_only_blocks_changed",
    "evolvable_text",
    "is_marker",
    "replace_blocks",
    "rewrite_program",
    "syntax_error",
]
