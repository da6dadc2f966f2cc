"""Build the chat messages for one proposal from a ``ProposalContext`` and the templates.

What the model sees, in order: the role and the EVOLVE-BLOCK rule (system message); the
problem description and which way the objective goes; the parent program in full with
its score, metrics and evaluator feedback (or the failure text); inspirations (their
evolvable code only, to save tokens), or the second parent for a crossover; notes on
earlier attempts from this parent (an edit that did not apply, a child that crashed);
and the exact answer format for the chosen edit kind. Long feedback is cut in the middle
(head and tail kept) so one chatty evaluator cannot blow up the prompt.
"""

from __future__ import annotations

import math
from string import Template

from evolve.edits import EditError, blocks, evolvable_text
from evolve.proposers.llm import templates as T
from evolve.proposers.base import ProblemBrief, ProgramView, ProposalContext

EDIT_KINDS = ("diff", "rewrite", "crossover")
_INSTANCES_SHOWN = 8


def build_messages(context: ProposalContext, kind: str, *, max_feedback_chars: int = 2000) -> list[dict[str, str]]:
    """The system and user messages asking for an edit of ``kind`` (diff, rewrite or crossover)."""
    if kind not in EDIT_KINDS:
        raise ValueError(f"edit kind must be one of {EDIT_KINDS}, got {kind!r}")
    problem = context.problem
    objective = problem.objective
    system = Template(T.SYSTEM).substitute(goal="maximize" if problem.maximize else "minimize", objective=objective)
    parts = [
        Template(T.PROBLEM).substitute(
            name=problem.name, description=problem.description.strip(), objective=objective,
            better="higher" if problem.maximize else "lower",
        )
    ]
    partner = crossover_partner(context) if kind == "crossover" else None
    title = "Program A, the current one" if partner else "Current program"
    parts.append(_program(T.PROGRAM, context.parent, problem, max_feedback_chars, full=True, title=title))
    if partner is not None:
        parts.append(_program(T.PROGRAM, partner, problem, max_feedback_chars, full=False, title="Program B"))
    others = [p for p in context.inspirations if partner is None or p.id != partner.id]
    if others:
        parts.append(T.INSPIRATIONS_HEADER)
        parts.extend(_program(T.INSPIRATION, p, problem, max_feedback_chars // 2, full=False) for p in others)
    if context.notes:
        notes = "\n".join(f"- {_clip(n, 600)}" for n in dict.fromkeys(context.notes))
        parts.append(Template(T.NOTES).substitute(notes=notes))
    parts.append(_task(kind, context.parent.code, objective))
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def crossover_partner(context: ProposalContext) -> ProgramView | None:
    """The second parent of a crossover: the best-scoring inspiration (None without one)."""
    scored = [p for p in context.inspirations if p.score is not None and math.isfinite(p.score)]
    if not scored:
        return None
    return max(scored, key=lambda p: p.score if context.problem.maximize else -p.score)  # type: ignore[operator]


def render_text(messages: list[dict[str, str]]) -> str:
    """One string for storage and display: each message under a ``[role]`` header."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def _task(kind: str, parent_code: str, objective: str) -> str:
    if kind == "diff":
        return T.DIFF
    if kind == "crossover":
        return Template(T.CROSSOVER).substitute(objective=objective)
    try:
        many = len(blocks(parent_code)) > 1
    except EditError:
        many = False
    return Template(T.REWRITE_MANY_BLOCKS if many else T.REWRITE_ONE_BLOCK).substitute(objective=objective)


def _program(
    template: str, view: ProgramView, problem: ProblemBrief, max_feedback: int, *, full: bool, title: str = ""
) -> str:
    code = view.code if full else _evolvable(view.code)
    if not code.endswith("\n"):
        code += "\n"
    return Template(template).substitute(
        title=title, id=view.id, score_line=_score_line(view, problem.objective),
        details=_details(view, max_feedback, problem.maximize), code=code,
    )


def _evolvable(code: str) -> str:
    try:
        return evolvable_text(code)
    except EditError:
        return code


def _score_line(view: ProgramView, objective: str) -> str:
    if view.score is None:
        return f"failed: {view.failure_kind or 'no score'}"
    return f"{objective} = {view.score:.6g}"


def _details(view: ProgramView, max_feedback: int, maximize: bool = True) -> str:
    lines = []
    metrics = {k: v for k, v in view.metrics.items() if isinstance(v, (int, float))}
    if metrics:
        lines.append("Metrics: " + ", ".join(f"{k}={v:.6g}" for k, v in sorted(metrics.items())))
    if view.instances:
        worst = sorted(view.instances.items(), key=lambda kv: kv[1] if maximize else -kv[1])[:_INSTANCES_SHOWN]
        more = f" (worst {len(worst)} of {len(view.instances)})" if len(view.instances) > len(worst) else ""
        lines.append(f"Score per workload, worst first{more}: " + ", ".join(f"{k}={v:.6g}" for k, v in worst))
    if view.feedback.strip():
        label = "Failure" if view.score is None else "Evaluator feedback"
        lines.append(f"{label}:\n{_clip(view.feedback.strip(), max_feedback)}")
    return "".join(line + "\n" for line in lines)


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters by dropping its middle, saying how much was dropped."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters omitted ...]\n{text[-tail:]}"


def build_completion_prompt(context: ProposalContext, *, examples: int = 2) -> str:
    """A few-shot text for completion-style models: up to ``examples`` worse -> better pairs
    from the inspirations, then the parent, and an open code fence for its improved version."""
    problem = context.problem
    lines = problem.description.strip().splitlines()
    values = dict(objective=problem.objective, better="higher" if problem.maximize else "lower")
    parts = [Template(T.COMPLETION_HEADER).substitute(name=problem.name, summary=lines[0] if lines else "", **values)]
    scored = sorted(
        (p for p in context.inspirations if p.score is not None and math.isfinite(p.score)),
        key=lambda p: p.score if problem.maximize else -p.score,  # type: ignore[operator]
    )
    pairs = [(a, b) for a, b in zip(scored, scored[1:]) if a.score != b.score][-examples:]
    for worse, better in pairs:
        parts.append(Template(T.COMPLETION_PAIR).substitute(
            worse=f"{worse.score:.6g}", better_score=f"{better.score:.6g}",
            original=_with_newline(_evolvable(worse.code)), improved=_with_newline(_evolvable(better.code)), **values,
        ))
    parent = context.parent
    score = f"{parent.score:.6g}" if parent.score is not None else "failed"
    parts.append(Template(T.COMPLETION_ASK).substitute(score=score, code=_with_newline(_evolvable(parent.code)), **values))
    return "".join(parts)


def _with_newline(code: str) -> str:
    return code if code.endswith("\n") else code + "\n"
