"""Terminal renderings of ``show``, ``lineage`` and ``failures`` (rich), apart from the data they show.

On a terminal code and diffs are highlighted; in a pipe or a log they are printed as
plain text, never cropped, so what is copied out of a log is the program itself.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from evolve.records import EvaluationResult
from evolve.report.detail import ProgramDetail
from evolve.report.failures import FailureGroup
from evolve.report.lineage import Step
from evolve.report.sections import num, signed


def code(console: Console, text: str, lexer: str = "python") -> None:
    if console.is_terminal:
        console.print(Syntax(text, lexer, line_numbers=False, word_wrap=False))
    else:
        console.out(text.rstrip("\n"), highlight=False)


def show(console: Console, detail: ProgramDetail, objective: str, *, with_code: bool = True) -> None:
    program, ev = detail.program, detail.program.evaluation
    status = _status(ev)
    console.rule(f"program {program.id} · {objective} {num(program.score)} · {status}", style="bold")
    facts = Table(show_header=False, box=None, padding=(0, 2))
    facts.add_row("proposed by", f"{program.proposer} ({program.kind}), island {program.island}, generation {program.generation}")
    if detail.parent is not None:
        facts.add_row("parent", f"program {detail.parent.id}: {objective} {num(detail.parent.score)} (Δ {signed(detail.delta)}, positive: better)")
    if detail.proposal is not None:
        p = detail.proposal
        if p.summary:
            facts.add_row("change", escape(p.summary))
        if p.inspiration_ids:
            facts.add_row("inspirations", ", ".join(map(str, p.inspiration_ids)))
        if p.llm_calls:
            facts.add_row("LLM", f"{p.llm_calls} call(s), ${p.cost:.4f}, {p.latency_s:.1f} s")
    if detail.children:
        shown = ", ".join(map(str, detail.children[:20])) + (" …" if len(detail.children) > 20 else "")
        facts.add_row("children", f"{len(detail.children)}: {shown}")
    if detail.cell is not None:
        ranges = ", ".join(f"{k} {lo:.3g}–{hi:.3g}" for k, (lo, hi) in detail.cell_ranges.items())
        elite = f"elite on island(s) {', '.join(map(str, detail.elite_on))}" if detail.elite_on else "not an elite (beaten in its cell)"
        facts.add_row("cell", f"{tuple(detail.cell)}: {ranges}; {elite}")
    if ev is not None:
        numbers = {**ev.metrics, **ev.features, **ev.objectives}
        if numbers:
            facts.add_row("metrics", escape(", ".join(f"{k}={v:.6g}" for k, v in numbers.items())))
        if ev.instances:
            facts.add_row("instances", escape(", ".join(f"{k}={v:.6g}" for k, v in ev.instances.items())))
        if ev.private:
            facts.add_row("private", escape(", ".join(f"{k}={v:.6g}" for k, v in ev.private.items())) + " (never prompted)")
        facts.add_row("time", f"{ev.duration_s:.2f} s evaluation, {ev.candidate_s:.2f} s in candidate calls")
    if detail.holdout is not None:
        held = detail.holdout
        text = num(held.score) if held.ok else f"failed: {held.failure_kind}"
        facts.add_row("holdout", f"{text} (scored as the {detail.holdout_reason})")
    console.print(facts)
    if ev is not None and ev.feedback:
        console.print("[bold]feedback[/]")
        console.print(ev.feedback, highlight=False, markup=False)
    if ev is not None and not ev.ok:
        console.print(f"[bold red]{ev.failure_kind}[/]")
        console.print(ev.failure_message.strip(), highlight=False, markup=False)
        if ev.output.strip():
            console.print("[bold]candidate output (tail)[/]")
            console.print(ev.output.strip()[-2000:], highlight=False, markup=False, style="dim")
    if detail.diff:
        console.rule("diff to the parent", style="dim")
        code(console, detail.diff, "diff")
    if with_code:
        console.rule("code", style="dim")
        code(console, program.code)


def _status(ev: EvaluationResult | None) -> str:
    if ev is None:
        return "not evaluated (in flight, or the run stopped first)"
    if ev.complete:
        return "valid"
    if ev.ok:
        return f"stopped by the cascade at stage {ev.stage}"
    return f"failed: {ev.failure_kind}"


def lineage(console: Console, steps: list[Step], objective: str, *, diffs: bool = False) -> None:
    count = f"{len(steps) - 1} step{'s' if len(steps) != 2 else ''} from the seed" if len(steps) > 1 else "the seed itself"
    table = Table("program", "gen", "island", "proposer/kind", objective, "Δ parent", "change",
                  title=f"lineage of program {steps[-1].program_id}: {count}", title_justify="left")
    for s in steps:
        table.add_row(str(s.program_id), str(s.generation), str(s.island), f"{s.proposer}/{s.kind}", num(s.score),
                      signed(s.delta), escape(s.summary[:100]))
    console.print(table)
    if diffs:
        for step in steps[1:]:
            console.rule(f"program {step.parent_id} → {step.program_id} (Δ {signed(step.delta)})", style="dim")
            code(console, step.diff or "(no change)\n", "diff")


def failures(console: Console, evaluated: int, proposals: int, groups: list[FailureGroup], rejected: list[FailureGroup]) -> None:
    if not groups:
        console.print(f"no failed evaluations among {evaluated}")
    for title, found, total, ids in (("failed evaluations", groups, evaluated, "programs"),
                                     ("proposals with no candidate", rejected, proposals, "proposals")):  # fmt: skip
        if not found:
            continue
        table = Table("kind", "count", "share", "most common messages", f"example {ids}",
                      title=f"{title} (of {total})", title_justify="left")  # fmt: skip
        for g in found:
            for i, m in enumerate(g.messages):
                head = (g.kind, str(g.count), f"{100 * g.share:.0f}%") if i == 0 else ("", "", "")
                table.add_row(*head, escape(f"{m.count}× {m.example[:160]}"), ", ".join(map(str, m.ids)))
        console.print(table)
