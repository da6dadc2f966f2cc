"""Prompt templates, as data: ``string.Template`` texts with ``$name`` placeholders.

Kept apart from the code that fills them (``evolve.proposers.llm.prompt``) so wording can be
changed, reviewed and tested without touching logic. ``$``-placeholders, not
``str.format``: the values are source code full of braces.
"""

SYSTEM = """\
You are an expert programmer and researcher taking part in an evolutionary search for better \
programs. Every program you write is executed and scored by a trusted evaluator; the goal is to \
$goal the objective `$objective`. Only the code between the `# EVOLVE-BLOCK-START` and \
`# EVOLVE-BLOCK-END` marker lines may change: the code outside them is a fixed harness, and \
the functions it calls must keep their names and signatures. Prefer ideas that are likely to \
improve the score; correctness comes first, because an invalid program scores nothing."""

PROBLEM = """\
## Problem: $name
$description

Objective: `$objective` ($better is better)."""

PROGRAM = """\
## $title (program $id, $score_line)
$details```python
$code```"""

INSPIRATION = """\
### Program $id ($score_line)
$details```python
$code```"""

INSPIRATIONS_HEADER = """\
## Other programs from the archive, for inspiration
Their evolvable code only; borrow ideas that may help."""

NOTES = """\
## Notes on earlier attempts from this program
$notes"""

# Lineage notes: what the loop records about a parent's recent history (``evolve.loop.lineage``).
REJECTED_PROPOSAL_NOTE = "A previous $kind proposal for this program was rejected ($outcome): $message"
FAILED_CHILD_NOTE = "A child of this program failed ($status): $message"
STOPPED_CHILD_NOTE = (
    "A child of this program stopped at the cascade stage '$stage': its score there ($score) missed the "
    "bar for going on to the next stage"
)

DIFF = """\
## Task
Propose one focused improvement to the current program. First explain the idea in one or two \
sentences, then give the change as one or more SEARCH/REPLACE blocks, in exactly this format:

<<<<<<< SEARCH
lines copied exactly from the current program
=======
the lines that replace them
>>>>>>> REPLACE

Rules:
- Each SEARCH section must match lines of the current program exactly, whitespace and \
indentation included, and in exactly one place: copy them, do not retype them, and include \
enough lines to make the match unique.
- Edit only lines between the EVOLVE-BLOCK markers; never include a marker line.
- Keep each block small: only the lines that change plus a little context.
- Several blocks are applied in order."""

REWRITE_ONE_BLOCK = """\
## Task
Rewrite the evolvable code to improve `$objective`. First explain the idea in one or two \
sentences, then give the complete new code that goes between `# EVOLVE-BLOCK-START` and \
`# EVOLVE-BLOCK-END` (without the marker lines and without the harness outside them) in a \
single ```python fenced block. Keep every function the harness calls, with the same name and \
signature. The code block must be complete: it replaces the whole EVOLVE-BLOCK."""

REWRITE_MANY_BLOCKS = """\
## Task
Rewrite the evolvable code to improve `$objective`. First explain the idea in one or two \
sentences, then give the whole program in a single ```python fenced block, with every \
`# EVOLVE-BLOCK-START` / `# EVOLVE-BLOCK-END` marker line kept and the code outside the blocks \
copied unchanged. Keep every function the harness calls, with the same name and signature."""

CROSSOVER = """\
## Task
Combine the current program (A) and program B above into one program that should beat both: \
keep what makes each of them score well. First explain in one or two sentences what you take \
from each, then give the complete new code that goes between `# EVOLVE-BLOCK-START` and \
`# EVOLVE-BLOCK-END` of program A (without the marker lines and without the harness) in a \
single ```python fenced block. Keep every function the harness calls, with the same name and \
signature."""

PING = "Reply with the single word: ready"


# Completion style (``prompt_style = "completion"``): a text a base model continues. The
# model sees worse -> better pairs and writes the improved version of the last one; the
# code fence it opens is closed by the server's stop sequence.
COMPLETION_HEADER = """\
# $name: $summary
# Each original program below is followed by an improved version with a better `$objective` ($better is better).
"""

COMPLETION_PAIR = """
# Original program ($objective = $worse):
```python
$original```
# Improved program ($objective = $better_score):
```python
$improved```
"""

COMPLETION_ASK = """
# Original program ($objective = $score):
```python
$code```
# Improved program (a better $objective):
```python
"""
