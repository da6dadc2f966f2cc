"""Ship trusted harness code into the sandbox by appending it to the candidate's source.

The sandbox cannot import the engine's packages, yet some problems need task code next to
the candidate (an ES runs its fitness function millions of times, so that function must live
in the sandboxed process). The evaluator appends the source of a self-contained module
(numpy/torch imports only) to the candidate program for the duration of an evaluation:
the candidate's line numbers stay as they were, and a candidate function with the same name
as a harness function is overridden by the harness. None of this makes that code trusted:
the candidate shares its process and could patch it, so the evaluator never believes a
number the harness reports without checking or recomputing it.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Iterator

from evaluators.candidate import Candidate

BANNER = "\n\n# ---- harness code appended by the trusted evaluator (not part of the candidate) ----\n"


def module_source(module: ModuleType) -> str:
    """The source text of a module that is meant to be appended (it must import no engine package)."""
    path = getattr(module, "__file__", None)
    if not path:
        raise ValueError(f"module {module.__name__} has no source file to append")
    text = Path(path).read_text(encoding="utf-8")
    if "from __future__" in text:
        raise ValueError(f"{path}: an appended module cannot use 'from __future__' imports (they must come first)")
    return text


@contextmanager
def appended(candidate: Candidate, module: ModuleType) -> Iterator[Candidate]:
    """Within the block, workers of ``candidate`` hold its source followed by ``module``'s.

    The same ``Candidate`` object is used (not a copy) so the engine's accounting of call
    time and its environment settings stay intact; the source is restored on exit.
    """
    original = candidate.source
    candidate.source = original.rstrip("\n") + BANNER + module_source(module)
    try:
        yield candidate
    finally:
        candidate.source = original
