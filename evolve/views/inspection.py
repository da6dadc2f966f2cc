"""The commands that read a run and change nothing in it: ``status``, ``best``, ``holdout``,
``report``, ``show``, ``lineage``, ``failures`` and ``export``.

Each one opens the run (read-only where it can), asks ``evolve.views.summary`` or
``evolve.report`` for the data, and prints a table, or the same data as JSON with ``--json``.
``cli.py`` registers them on the typer app (``register``); nothing here computes search state.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.syntax import Syntax
from rich.table import Table

from evolve import loop
from evolve.loop import RunError
from evolve.store import Run
from evolve.views import summary as summary_views
from evolve.views.cli_common import JsonOpt, RunArg, console, fail, fmt, open_run_dir


def status(run_dir: Path = RunArg, as_json: bool = JsonOpt) -> None:
    """Summarise a run: progress, best score (search and holdout), failures, proposals and LLM cost."""
    handle = open_run_dir(run_dir, readonly=True)
    summary = summary_views.run_summary(handle)
    handle.close()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table(show_header=False, box=None)
    table.add_row("problem", summary["problem"])
    reason = f" ({summary['stop_reason']})" if summary["stop_reason"] else ""
    table.add_row("status", summary["status"] + reason)
    table.add_row("evaluated", f"{summary['evaluated']} of {summary['budget']} (seed included), {summary['valid']} valid")
    table.add_row("pending", str(summary["pending"]))
    best = summary["best"]
    table.add_row(f"best {summary['objective']}", f"{best['search_score']:.6f} (program {best['program_id']})" if best else "—")
    if best and best["holdout"] is not None:
        held = best["holdout"]
        text = f"{held['score']:.6f} (gap {best['holdout_gap']:+.6f})" if held["ok"] else f"failed: {held['failure_kind']}"
        table.add_row("holdout", f"{text}; {summary['holdout_scored']} program(s) scored on the holdout split")
    if summary["cascade_stopped"]:
        table.add_row("cascade", f"{summary['cascade_stopped']} stopped early ({summary['cascade_saved_stage_runs']} stage runs saved)")
    table.add_row("failures", ", ".join(f"{k} {n}" for k, n in summary["failures"].items()) or "none")
    table.add_row("proposals", ", ".join(f"{k} {n}" for k, n in summary["proposals"].items()) or "none")
    table.add_row("LLM", f"{summary['llm_calls']} calls, ${summary['llm_cost']:.4f}")
    table.add_row("sandbox", summary["sandbox"])
    console.print(table)


def best(
    run_dir: Path = RunArg,
    top: int = typer.Option(1, "--top", min=1, help="How many of the best programs to show."),
    code_only: bool = typer.Option(False, "--code-only", help="Print only the best program's source (for redirection)."),
    pareto: bool = typer.Option(False, "--pareto", help="Show the Pareto front over the primary and [[objectives]] instead."),
    as_json: bool = JsonOpt,
) -> None:
    """Print the best program(s) of a run with their metrics, search and holdout scores."""
    handle = open_run_dir(run_dir, readonly=True)
    config = handle.config
    if pareto and not config.objectives:
        handle.close()
        fail(f"{config.problem.name} declares no secondary objectives ([[objectives]] in problem.toml)")
    programs = summary_views.pareto_programs(handle) if pareto else handle.db.best(maximize=config.objective.maximize, limit=top)
    data = [summary_views.program_data(handle, p) for p in programs]
    handle.close()
    if not programs:
        fail("the run has no successfully evaluated program yet", code=1)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    if code_only:
        sys.stdout.write(programs[0].code)
        return
    for program, row in zip(programs, data):
        ev = program.evaluation
        assert ev is not None
        holdout = ""
        if row["holdout"] is not None:
            held = row["holdout"]
            holdout = f" · holdout {held['score']:.6f} (gap {row['holdout_gap']:+.4g})" if held["ok"] else f" · holdout failed ({held['failure_kind']})"
        console.rule(
            f"program {program.id} · {config.objective.name} {ev.score:.6f}{holdout} · generation {program.generation}"
            f" · {program.proposer}/{program.kind}"
        )
        numbers = {**ev.objectives, **ev.metrics, **ev.features}
        console.print(", ".join(f"{k}={v:.6g}" for k, v in numbers.items()), highlight=False)
        if ev.feedback:
            console.print(ev.feedback, style="dim", highlight=False)
        if console.is_terminal:
            console.print(Syntax(program.code, "python", line_numbers=False))
        else:  # never crop code that may be copied out of a log
            typer.echo(program.code)


def holdout(run_dir: Path = RunArg, as_json: bool = JsonOpt) -> None:
    """Score a run's best program (and each archive cell's best) on the problem's holdout split."""
    handle = open_run_dir(run_dir)
    try:
        gap = loop.holdout(handle)
        rows = [summary_views.program_data(handle, p, code=False) for p in _holdout_programs(handle)]
    except (ValueError, RunError) as exc:
        fail(str(exc))
    finally:
        handle.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("program", "search", "holdout", "gap", "detail")
    for row in rows:
        held = row["holdout"]
        detail = "" if held["ok"] else f"{held['failure_kind']}: {held['failure_message'][:100]}"
        table.add_row(str(row["program_id"]), fmt(row["search_score"]), fmt(row["holdout_score"]),
                      "—" if row["holdout_gap"] is None else f"{row['holdout_gap']:+.6f}", detail)
    console.print(table)
    if gap is not None and gap.holdout is not None:
        console.print(f"best program {gap.program_id}: search {gap.search:.6f}, holdout {gap.holdout:.6f} (gap {gap.gap:+.6f})")


def _holdout_programs(run: Run) -> list:
    ids = list(run.db.holdout_results())
    return [p for p in (run.db.program(i) for i in ids) if p is not None]


ProgramIdArg = typer.Argument(..., help="A program id, as shown by `evolve best`, `lineage` or the report.")


def report(
    run_dir: Path = RunArg,
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Where to write: the HTML file, or with --format md a folder (default: in the run directory).",
    ),
    fmt: str = typer.Option("html", "--format", "-f", help="html: one self-contained file; md: report.md plus PNG figures."),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="Do not score the problem's baselines (faster)."),
    as_json: bool = JsonOpt,
) -> None:
    """Write a report of a run: progress, archive, lineage of the best, proposers, failures, holdout."""
    from evolve.report import write_report
    from evolve.report.plots import MissingMatplotlib

    if fmt not in ("html", "md"):
        fail(f"--format {fmt!r}: choose html or md")
    handle = open_run_dir(run_dir, readonly=True)
    target = out or handle.directory / ("report.html" if fmt == "html" else "report")
    try:
        path, data = write_report(handle, target, format=fmt, score_baselines=not no_baselines,  # type: ignore[arg-type]
                                  command=f"evolve report {run_dir}")
    except (MissingMatplotlib, ValueError, OSError) as exc:
        fail(str(exc), code=1)
    finally:
        handle.close()
    best = data.best
    summary = {"report": str(path), "format": fmt, "baselines": data.references.baselines,
               "best_program_id": best.id if best else None, "best_score": best.score if best else None}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(f"report: {path}")
    console.print(f"baselines {data.references.baselines}", style="dim", highlight=False)


def show(
    run_dir: Path = RunArg,
    program_id: int = ProgramIdArg,
    no_code: bool = typer.Option(False, "--no-code", help="Leave out the program's source."),
    as_json: bool = JsonOpt,
) -> None:
    """Show one program: code, metrics, feedback or failure, parent and the diff to it, cell, holdout."""
    from evolve.report import terminal
    from evolve.report.archive import archive_view
    from evolve.report.detail import detail_data, program_detail
    from evolve.report.queries import RunQueries

    handle = open_run_dir(run_dir, readonly=True)
    try:
        with RunQueries(handle.directory) as queries:
            detail = program_detail(handle, program_id, queries, archive_view(handle))
            data = detail_data(handle, detail) if as_json else None
    except KeyError:
        total = handle.db.totals().programs
        fail(f"the run has no program {program_id} (its programs are 1 to {total})")
    finally:
        handle.close()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    terminal.show(console, detail, handle.config.objective.name, with_code=not no_code)


def lineage(
    run_dir: Path = RunArg,
    program_id: Optional[int] = typer.Argument(None, help="The program whose ancestry to show (default: the best)."),
    diffs: bool = typer.Option(False, "--diffs", help="Also print the diff of every step."),
    as_json: bool = JsonOpt,
) -> None:
    """The chain of parents from the seed to a program: each step's score, proposer and change."""
    from dataclasses import asdict

    from evolve.report import terminal
    from evolve.report.lineage import lineage as lineage_of
    from evolve.report.queries import RunQueries

    handle = open_run_dir(run_dir, readonly=True)
    try:
        if program_id is None:
            best = handle.db.best(maximize=handle.config.objective.maximize)
            if not best:
                fail("the run has no successfully evaluated program yet; pass a PROGRAM_ID", code=1)
            program_id = best[0].id
        with RunQueries(handle.directory) as queries:
            steps = lineage_of(handle, program_id, queries)
    except KeyError:
        fail(f"the run has no program {program_id} (its programs are 1 to {handle.db.totals().programs})")
    finally:
        handle.close()
    if as_json:
        typer.echo(json.dumps([asdict(s) for s in steps], indent=2))
        return
    terminal.lineage(console, steps, handle.config.objective.name, diffs=diffs)


def failures(
    run_dir: Path = RunArg,
    messages: int = typer.Option(3, "--messages", min=1, help="Most common messages shown per kind."),
    examples: int = typer.Option(5, "--examples", min=1, help="Example ids kept per message."),
    as_json: bool = JsonOpt,
) -> None:
    """Why candidates failed: counts by kind, the most common messages, example program ids."""
    from dataclasses import asdict

    from evolve.report import terminal
    from evolve.report.failures import evaluation_failures, proposal_failures
    from evolve.report.queries import RunQueries

    handle = open_run_dir(run_dir, readonly=True)
    with RunQueries(handle.directory) as queries:
        rows, proposals = queries.evaluations(), queries.proposals()
    handle.close()
    groups = evaluation_failures(rows, messages, examples)
    rejected = proposal_failures(proposals, messages, examples)
    if as_json:
        typer.echo(json.dumps({"evaluated": len(rows), "proposals": len(proposals),
                               "evaluations": [asdict(g) for g in groups], "proposals_without_candidate":
                               [asdict(g) for g in rejected]}, indent=2))  # fmt: skip
        return
    terminal.failures(console, len(rows), len(proposals), groups, rejected)
    if groups:
        console.print(f"open one: evolve show {run_dir} {groups[0].latest_id}", style="dim", highlight=False)


def export(
    run_dir: Path = RunArg,
    out: Path = typer.Argument(..., help="Folder to write the programs into (created)."),
    top: int = typer.Option(1, "--top", "-k", min=1, help="Programs per archive cell, best first."),
    as_json: bool = JsonOpt,
) -> None:
    """Write the best programs of every archive cell as .py files, each with a .json of its metrics."""
    from evolve.report.export import INDEX, export_top

    handle = open_run_dir(run_dir, readonly=True)
    try:
        index = export_top(handle, out, top)
    except (ValueError, OSError) as exc:
        fail(str(exc), code=1)
    finally:
        handle.close()
    if as_json:
        typer.echo(json.dumps(index, indent=2))
        return
    cells = len({tuple(row["cell"]) for row in index})
    typer.echo(f"wrote {len(index)} program(s) from {cells} cell(s) to {out} (list: {out / INDEX})")


COMMANDS = (status, best, holdout, report, show, lineage, failures, export)


def register(app: typer.Typer) -> None:
    """Add the inspection commands to ``app``, in the order ``evolve --help`` lists them."""
    for command in COMMANDS:
        app.command()(command)
