"""One compile per program text, shared by everything on the controller that compiles it.

A new program is compiled by its proposer (the mutator's validity check, or ``syntax_error``
after an LLM edit) and again by the near-duplicate check (``novelty.fingerprint``): the same
text, the same flags. Compiling is the largest single CPU cost of a built-in-mutator
candidate (about 1 ms for circle packing's program), so the code object of the last few
texts is kept. Code objects are immutable, so sharing them is safe; a text that does not
compile raises each time (nothing is cached for it).
"""

from __future__ import annotations

import functools
import types


@functools.lru_cache(maxsize=64)
def compiled(code: str) -> types.CodeType:
    """``compile(code)`` as a module, without inheriting this module's future flags.

    Raises what ``compile`` raises (SyntaxError, ValueError for null bytes, and on hostile
    input OverflowError, RecursionError or MemoryError).
    """
    return compile(code, "<candidate>", "exec", dont_inherit=True)
