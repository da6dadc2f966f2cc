"""The report's content as format-neutral blocks: what each section says, not how it looks.

Both renderers (``html`` and ``markdown``) walk the same list of ``Section``s, so the two
formats cannot drift apart: a section is a title, paragraphs, tables (header + rows of
strings), figures (a plot's stem and caption), code and diffs, and collapsible details.
All text here is plain; renderers escape it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Union

from evolve.report.data import ReportData
from evolve.report.failures import FailureGroup
from evolve.report.references import SCORED, STORED

MAX_ELITE_ROWS = 40
MAX_LINEAGE_DIFF_CHARS = 20_000


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    stem: str  # key of plots.all_plots
    caption: str


@dataclass(frozen=True)
class Code:
    text: str
    language: str = "python"  # python | diff | text


@dataclass(frozen=True)
class Details:
    summary: str
    body: tuple["Block", ...]
    open: bool = False


Block = Union[str, Table, Figure, Code, Details]


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)


def num(value: float | None, digits: int = 6) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.4g}"


def when(stamp: float | None) -> str:
    return "—" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def sections(data: ReportData, command: str) -> list[Section]:
    found = [_overview(data, command), _progress(data), _archive(data), _best(data), _lineage(data),
             _proposers(data), _failures(data)]  # fmt: skip
    if data.has_holdout:
        found.append(_holdout(data))
    found.append(_next(data))
    return found


def _overview(data: ReportData, command: str) -> Section:
    best = data.best
    seed_score = data.seed.score if data.seed else None
    rows = [
        ("problem", data.problem),
        ("objective", f"{data.objective}, {'maximised' if data.maximize else 'minimised'}"),
        ("status", data.status + (f" ({data.stop_reason})" if data.stop_reason else "")),
        ("evaluated", f"{data.evaluated} of {data.budget} (seed included), {data.valid} valid"
         + (f", {data.pending} in flight" if data.pending else "")),
        ("best", f"{num(best.score)} (program {best.id}, generation {best.generation}, {best.proposer}/{best.kind})" if best else "—"),
        ("seed", num(seed_score)),
    ]
    for ref in data.references.search():
        if ref.name != "seed":
            rows.append((ref.name, num(ref.score) if ref.score is not None else f"failed: {ref.failure}"))
    if best and seed_score is not None:
        rows.append(("best vs seed", signed(_gain(best.score, seed_score, data.maximize)) + " (positive: better)"))
    rows += [
        ("wall time", f"{data.seconds:.1f} s from the first to the last evaluation"),
        ("LLM", f"{data.llm_calls} calls, ${data.llm_cost:.4f}" if data.llm_calls else "no LLM calls (built-in mutator)"),
        ("sandbox", data.sandbox),
        ("run directory", data.run_dir),
    ]
    made = (f"Made by `{command}` at {when(data.generated_at)} with evolve {data.version}, reading the run database "
            f"read-only. Baselines: {data.references.baselines}")  # fmt: skip
    if data.references.baselines.startswith((SCORED, STORED)):
        made += f" at {when(data.references.scored_at)}, with the run's evaluator and sandbox"
    made += "."
    blocks: list[Block] = [Table(("", ""), tuple(rows)), made]
    if data.description:
        blocks.append(Details("problem description (as given to the proposer)", (Code(data.description, "text"),)))
    return Section("overview", f"evolve report: {data.problem}", tuple(blocks))


def _gain(score: float | None, reference: float | None, maximize: bool) -> float | None:
    if score is None or reference is None:
        return None
    return score - reference if maximize else reference - score


def _progress(data: ReportData) -> Section:
    caption = ("Best complete score among the candidates evaluated so far, overall (black) and per island (the "
               "programs proposed on that island, with the seed as every island's start). Horizontal lines: the seed "
               f"and each baseline on the search split; baselines {data.references.baselines}.")  # fmt: skip
    refs = [(r.name, r.split, num(r.score) if r.score is not None else "failed", r.failure) for r in data.references.items]
    blocks: list[Block] = [Figure("best_over_time", caption)]
    if refs:
        blocks.append(Table(("reference", "split", data.objective, "failure"), tuple(refs)))
    islands = [
        (str(i), num(points[-1].score) if points else "—", str(points[-1].program_id) if points else "—",
         str(points[-1].index) if points else "—")
        for i, points in sorted(data.per_island.items())
    ]  # fmt: skip
    blocks.append(Table(("island", "best", "program", "found at evaluation"), tuple(islands)))
    return Section("progress", "Best score over time", tuple(blocks))


def _archive(data: ReportData) -> Section:
    view = data.archive
    axes = ", ".join(f"{a.name} in [{a.min:g}, {a.max:g}] ({a.bins} bins)" for a in view.axes) or "none"
    filled = len(view.cells)
    total = view.cells_per_island * view.islands
    qd = f"QD score {num(view.qd_score)} (sum over elites of max(0, fitness - qd_score_offset))"
    if view.qd_score == 0 and view.cells:
        qd += (", 0 because no elite's fitness exceeds the offset (fitness is the score when maximising, minus the "
               "score when minimising): set [search] qd_score_offset below the worst score you care about")
    text = (f"Axes: {axes}. {filled} of {total} cells filled over {view.islands} island(s) (coverage "
            f"{100 * view.coverage:.1f}%); {qd}. Values outside an axis range are clipped into its edge cells.")  # fmt: skip
    ranked = sorted(view.cells, key=lambda c: (-c.score if data.maximize else c.score, c.island, c.cell))[:MAX_ELITE_ROWS]
    rows = tuple(
        (str(c.island), ", ".join(f"{a.name} {lo:.3g}–{hi:.3g}" for a, (lo, hi) in zip(view.axes, c.ranges)),
         str(c.program_id), num(c.score))
        for c in ranked
    )  # fmt: skip
    caption = "Each island's grid over the first two feature axes; a cell's colour and number are its elite's score."
    blocks: list[Block] = [text, Figure("archive", caption)]
    if rows:
        shown = f"the best {len(rows)} of {filled}" if filled > len(rows) else f"all {filled}"
        blocks.append(Details(f"elites ({shown})", (Table(("island", "cell", "program", data.objective), rows),), open=False))
    return Section("archive", "The archive", tuple(blocks))


def _best(data: ReportData) -> Section:
    best = data.best
    if best is None or best.evaluation is None:
        return Section("best", "Best program", ("No program has completed an evaluation yet.",))
    ev = best.evaluation
    numbers = [(k, num(v)) for group in (ev.metrics, ev.features, ev.objectives, ev.instances) for k, v in group.items()]
    blocks: list[Block] = [f"Program {best.id}: {data.objective} {num(best.score)}, island {best.island}, "
                           f"generation {best.generation}, proposed by {best.proposer} ({best.kind})."]  # fmt: skip
    if numbers:
        blocks.append(Table(("metric", "value"), tuple(numbers)))
    if ev.feedback:
        blocks.append(Details("evaluator feedback", (Code(ev.feedback, "text"),), open=True))
    if data.best_vs_seed:
        blocks.append(Details("diff: seed → best", (Code(data.best_vs_seed, "diff"),), open=True))
    blocks.append(Details("code of the best program", (Code(best.code),)))
    return Section("best", "Best program", tuple(blocks))


def _lineage(data: ReportData) -> Section:
    steps = data.lineage
    if not steps:
        return Section("lineage", "Lineage of the best program", ("No lineage: nothing has completed yet.",))
    rows = tuple(
        (str(s.program_id), str(s.generation), str(s.island), f"{s.proposer}/{s.kind}", num(s.score), signed(s.delta),
         s.summary[:160])
        for s in steps
    )  # fmt: skip
    blocks: list[Block] = [
        f"{len(steps) - 1} step(s) from the seed to program {steps[-1].program_id}; Δ is the improvement over the "
        "parent (positive: better).",
        Table(("program", "gen", "island", "proposer/kind", data.objective, "Δ parent", "change"), rows),
    ]
    diffs: list[Block] = []
    budget = MAX_LINEAGE_DIFF_CHARS
    for step in steps[1:]:
        if budget <= 0:
            diffs.append(f"(later diffs omitted; see `evolve lineage {data.run_dir} --diffs`)")
            break
        diffs.append(Details(f"program {step.parent_id} → {step.program_id} ({signed(step.delta)}): {step.summary[:120]}",
                             (Code(step.diff or "(no change)", "diff"),)))  # fmt: skip
        budget -= len(step.diff)
    if diffs:
        blocks.append(Details("the diff of every step", tuple(diffs)))
    return Section("lineage", "Lineage of the best program", tuple(blocks))


def _proposers(data: ReportData) -> Section:
    rows = tuple(
        (p.proposer, str(p.proposals), str(p.llm_calls), f"{100 * p.valid_edit_rate:.0f}%", f"{100 * p.valid_rate:.0f}%",
         str(p.improvements), str(p.new_bests), f"${p.cost:.4f}",
         "—" if p.cost_per_improvement is None else f"${p.cost_per_improvement:.4f}")
        for p in data.proposers
    )  # fmt: skip
    text = ("valid edits: proposals that became a candidate program; valid: candidates whose evaluation completed; "
            "improvements: candidates that beat their parent; new bests: candidates that raised the run's best.")
    header = ("proposer", "proposals", "LLM calls", "valid edits", "valid", "improvements", "new bests", "cost",
              "cost / improvement")  # fmt: skip
    return Section("proposers", "Proposers", (Table(header, rows), text) if rows else ("No proposals yet.",))


def _failures(data: ReportData) -> Section:
    blocks: list[Block] = [Figure("outcomes", "Share of each outcome per span of consecutive evaluations.")]
    if data.failures:
        rows = _group_rows(data.failures)
        blocks += [
            "Failed evaluations by kind, with their most common messages (numbers vary within a group) and example "
            f"programs (`evolve show {data.run_dir} ID`).",
            Table(("kind", "count", "share", "message", "times", "programs"), rows),
        ]
    else:
        blocks.append("No evaluation failed.")
    if data.rejections:
        rows = _group_rows(data.rejections)
        blocks += ["Proposals that produced no candidate (not evaluated, not counted against the budget):",
                   Table(("outcome", "count", "share of proposals", "message", "times", "proposals"), rows)]
    return Section("failures", "Failures", tuple(blocks))


def _group_rows(groups: tuple[FailureGroup, ...]) -> tuple[tuple[str, ...], ...]:
    """One row per common message; the kind, count and share only on a group's first row."""
    rows = []
    for g in groups:
        for i, m in enumerate(g.messages):
            head = (g.kind, str(g.count), f"{100 * g.share:.0f}%") if i == 0 else ("", "", "")
            rows.append((*head, m.example[:200], str(m.count), ", ".join(map(str, m.ids))))
    return tuple(rows)


def _holdout(data: ReportData) -> Section:
    if not data.holdout:
        return Section("holdout", "Search vs holdout",
                       (f"No program has been scored on the holdout split yet: run `evolve holdout {data.run_dir}`.",))
    rows = tuple(
        (str(r.program_id), r.reason, num(r.search), num(r.holdout), signed(r.gap), r.failure[:160]) for r in data.holdout
    )
    text = ("The best program (and each cell's best) re-scored on the holdout split, data the search never saw. A gap "
            "near zero means the discovery generalises; a large negative one (when maximising) that it fits the "
            "search workloads only.")  # fmt: skip
    held = [r for r in data.references.holdout()]
    caption = ("Each point is one program; on the dashed line holdout equals search. Red horizontal lines: the "
               "baselines' holdout scores (those near the programs'), the bar a discovery has to clear on unseen data.")
    blocks: list[Block] = [text, Figure("holdout", caption),
                           Table(("program", "why", "search", "holdout", "gap", "failure"), rows)]  # fmt: skip
    if held:
        blocks.append(Table(("reference", "holdout " + data.objective), tuple((r.name, num(r.score)) for r in held)))
    return Section("holdout", "Search vs holdout", tuple(blocks))


def _next(data: ReportData) -> Section:
    run = data.run_dir
    best = data.best.id if data.best else "ID"
    commands = "\n".join([
        f"evolve show {run} {best}          # one program: code, metrics, feedback, diff to its parent",
        f"evolve lineage {run} --diffs      # every step from the seed to the best",
        f"evolve failures {run}             # why candidates failed, with example programs",
        f"evolve export {run} out/ --top 3  # the best programs of every cell as files",
        f"evolve resume {run} --budget {2 * (data.budget - 1)}   # continue the search (budget: total candidates)",
    ])  # fmt: skip
    return Section("next", "Next", (Code(commands, "text"),))
