"""The `evolve` command: parse, call the engine, render. No search logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from evolve.config import ConfigError, LLMConfig, ProblemConfig
from evolve.loop import RunError, execute, score_source
from evolve.problem import builtin_problems, load_problem
from evolve.proposers import llm as llm_options
from evolve.store import Run, create_run, open_run
from evolve.views import Dashboard, PlainLog

app = typer.Typer(
    help="LLM-driven algorithm discovery: evolve programs with MAP-Elites, scored by trusted evaluators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

ProblemArg = typer.Argument(..., help="A problem folder, or the name of a built-in problem (see `evolve problems`).")
RunArg = typer.Argument(..., help="A run directory, as printed by `evolve run`.")
PlainOpt = typer.Option(False, "--plain", help="Plain progress lines instead of the live dashboard (automatic when not a TTY).")
ModelOpt = typer.Option(
    None, "--model", "-m",
    help="A model to propose with, NAME[:WEIGHT], repeatable (e.g. openai/gpt-4o-mini:3). Replaces the problem's "
    "llm.models list (their prices are kept). Keys come from the environment (OPENAI_API_KEY, or api_key_env).",
)
ApiBaseOpt = typer.Option(None, "--api-base", help="Base URL of an OpenAI-compatible server (vLLM, ollama, llama.cpp, OpenRouter).")
MaxCostOpt = typer.Option(None, "--max-cost", min=0.0, help="Stop the run cleanly once this many dollars of LLM calls are spent.")
PriceOpt = typer.Option(
    None, "--price", help="IN,OUT dollars per 1M prompt/completion tokens for models without a known price (local servers, proxies).",
)
MaxCallsOpt = typer.Option(None, "--max-calls", min=0, help="Stop the run cleanly after this many LLM calls (retries count).")


def _fail(message: str, code: int = 2) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def _observer(run: Run, plain: bool):
    if plain or not sys.stdout.isatty():
        return PlainLog()
    return Dashboard(run.config.problem.name, str(run.directory), console=console)


def _drive(run: Run, plain: bool) -> None:
    view = _observer(run, plain)
    try:
        if isinstance(view, Dashboard):
            with view:
                progress = execute(run, view)
        else:
            progress = execute(run, view)
    except KeyboardInterrupt:
        errors.print(f"interrupted; every committed candidate is saved. Continue with: evolve resume {run.directory}")
        raise typer.Exit(130)
    except (RunError, ConfigError) as exc:
        _fail(str(exc), code=1)
    typer.echo(f"run directory: {run.directory}")  # plain: scripts parse this line
    best = run.db.best(maximize=run.config.objective.maximize)
    if best:
        typer.echo(f"best {run.config.objective.name}: {best[0].score:.6f} (program {best[0].id})")
    console.print(f"evaluated {progress.evaluated} programs, {progress.succeeded} valid; {progress.message}")


@app.command()
def run(
    problem: str = ProblemArg,
    budget: Optional[int] = typer.Option(None, "--budget", "-n", min=1, help="Candidates to evaluate (default: the problem's)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; the same seed gives the same mutator run."),
    out: Path = typer.Option(Path("runs"), "--out", "-o", help="Folder in which the run directory is created."),
    islands: Optional[int] = typer.Option(None, "--islands", min=1, help="Number of MAP-Elites islands."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="Evaluations in parallel."),
    sandbox: Optional[str] = typer.Option(
        None, "--sandbox", help="Isolation backend: auto (bwrap where it works, else process), bwrap, process or docker."
    ),
    model: Optional[list[str]] = ModelOpt,
    api_base: Optional[str] = ApiBaseOpt,
    max_cost: Optional[float] = MaxCostOpt,
    max_calls: Optional[int] = MaxCallsOpt,
    price: Optional[str] = PriceOpt,
    no_store_text: bool = typer.Option(False, "--no-store-text", help="Store only sha256 and sizes of prompts and replies."),
    record: Optional[Path] = typer.Option(None, "--record", help="Append every LLM reply to this JSONL file."),
    replay: Optional[Path] = typer.Option(None, "--replay", help="Answer LLM calls from a --record file, offline."),
    plain: bool = PlainOpt,
) -> None:
    """Start a new search on PROBLEM and run it to its budget."""
    try:
        loaded = load_problem(problem)
        config = loaded.config.with_overrides(
            "run", budget=budget, seed=seed, max_concurrent_evaluations=workers, sandbox=sandbox
        ).with_overrides("search", islands=islands)
        config = _with_llm(
            config, model, api_base, price, max_cost=max_cost, max_calls=max_calls,
            store_text=False if no_store_text else None,
            record=str(record.resolve()) if record else None, replay=str(replay.resolve()) if replay else None,
        )
        config = config.with_overrides("run", sandbox=_check_sandbox(config.run.sandbox))
        _check_llm(config)
        handle = create_run(loaded, config, out)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"run directory: {handle.directory}")
    try:
        _drive(handle, plain)
    finally:
        handle.close()


@app.command()
def resume(
    run_dir: Path = RunArg,
    budget: Optional[int] = typer.Option(None, "--budget", "-n", min=1, help="Raise the run's total budget."),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", min=0.0, help="Raise the run's total LLM cost cap (dollars)."),
    max_calls: Optional[int] = typer.Option(None, "--max-calls", min=0, help="Raise the run's total LLM call cap."),
    plain: bool = PlainOpt,
) -> None:
    """Continue a stopped, interrupted or killed run from its database."""
    handle = _open(run_dir)
    if budget is not None or max_cost is not None or max_calls is not None:
        try:
            config = handle.config.with_overrides("run", budget=budget)
            handle.config = _with_llm(config, None, None, None, max_cost=max_cost, max_calls=max_calls)
        except (ConfigError, ValueError) as exc:
            _fail(str(exc))
        handle.db.set_meta("config", handle.config.model_dump(mode="json"))
    try:
        _drive(handle, plain)
    finally:
        handle.close()


@app.command()
def status(run_dir: Path = RunArg) -> None:
    """Summarise a run: progress, best score, failures, proposals and LLM cost."""
    handle = _open(run_dir, readonly=True)
    db, config = handle.db, handle.config
    totals = db.totals()
    table = Table(show_header=False, box=None)
    table.add_row("problem", config.problem.name)
    table.add_row("status", f"{db.get_meta('status')}" + (f" ({db.get_meta('stop_reason')})" if db.get_meta("stop_reason") else ""))
    table.add_row("evaluated", f"{totals.evaluated} of {config.run.budget + 1} (seed included), {totals.succeeded} valid")
    table.add_row("pending", str(totals.programs - totals.evaluated))
    best = db.best(maximize=config.objective.maximize)
    table.add_row(f"best {config.objective.name}", f"{best[0].score:.6f} (program {best[0].id})" if best else "—")
    table.add_row("failures", ", ".join(f"{k} {n}" for k, n in db.failure_counts().items()) or "none")
    table.add_row("proposals", ", ".join(f"{k} {n}" for k, n in db.proposal_outcomes().items()) or "none")
    table.add_row("LLM", f"{totals.llm_calls} calls, ${totals.llm_cost:.4f}")
    table.add_row("sandbox", config.run.sandbox)
    console.print(table)
    handle.close()


@app.command()
def best(
    run_dir: Path = RunArg,
    top: int = typer.Option(1, "--top", min=1, help="How many of the best programs to show."),
    code_only: bool = typer.Option(False, "--code-only", help="Print only the best program's source (for redirection)."),
) -> None:
    """Print the best program(s) of a run with their metrics."""
    handle = _open(run_dir, readonly=True)
    programs = handle.db.best(maximize=handle.config.objective.maximize, limit=top)
    handle.close()
    if not programs:
        _fail("the run has no successfully evaluated program yet", code=1)
    if code_only:
        sys.stdout.write(programs[0].code)
        return
    for program in programs:
        ev = program.evaluation
        assert ev is not None
        console.rule(f"program {program.id} · {handle.config.objective.name} {ev.score:.6f} · generation {program.generation} · {program.proposer}/{program.kind}")
        metrics = ", ".join(f"{k}={v:.6g}" for k, v in {**ev.metrics, **ev.features}.items())
        console.print(metrics, highlight=False)
        if ev.feedback:
            console.print(ev.feedback, style="dim", highlight=False)
        if console.is_terminal:
            console.print(Syntax(program.code, "python", line_numbers=False))
        else:  # never crop code that may be copied out of a log
            typer.echo(program.code)


@app.command()
def problems() -> None:
    """List the built-in problems."""
    table = Table("name", "objective", "description")
    for folder in builtin_problems():
        try:
            loaded = load_problem(folder)
        except ConfigError as exc:
            table.add_row(folder.name, "—", f"[red]broken: {exc}[/]")
            continue
        cfg = loaded.config
        first = cfg.problem.description.strip().splitlines()[0] if cfg.problem.description.strip() else ""
        table.add_row(folder.name, f"{cfg.objective.direction} {cfg.objective.name}", first)
    console.print(table)


@app.command()
def check(
    problem: str = ProblemArg,
    sandbox: Optional[str] = typer.Option(None, "--sandbox", help="Isolation backend (default: the problem's, usually auto)."),
) -> None:
    """Validate a problem folder and score its seed program and baselines."""
    try:
        loaded = load_problem(problem)
        sandbox = _check_sandbox(sandbox or loaded.config.run.sandbox)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    console.print(f"[green]✓[/] {loaded.root}: problem.toml, initial.py and evaluate.py are valid")
    table = Table("program", "status", loaded.config.objective.name, "seconds", "detail")
    failed = False
    for name, code in [("initial.py", loaded.initial_code)] + [(f"baselines/{k}.py", v) for k, v in loaded.baselines.items()]:
        result = score_source(loaded, code, sandbox)
        failed |= name == "initial.py" and not result.ok
        detail = result.feedback if result.ok else result.failure_message
        table.add_row(name, "ok" if result.ok else result.failure_kind, f"{result.score:.6f}" if result.ok else "—",
                      f"{result.duration_s:.2f}", detail[:160])
    console.print(table)
    if failed:
        _fail("the seed program does not evaluate; a run would have nothing to evolve from", code=1)


@app.command()
def models(
    problem: Optional[str] = typer.Argument(None, help="Use this problem's llm settings (optional)."),
    model: Optional[list[str]] = ModelOpt,
    api_base: Optional[str] = ApiBaseOpt,
    price: Optional[str] = PriceOpt,
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds to wait for each model."),
) -> None:
    """Check that each configured model answers, and print its latency and price."""
    try:
        base = load_problem(problem).config.llm if problem else LLMConfig()
        health = llm_options.ping_models(llm_options.apply_cli_options(base, model, api_base, price), timeout)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    table = Table("model", "route", "endpoint", "price $/1M in/out", "status", "latency", "reply")
    failed = 0
    for h in health:
        failed += not h.ok
        table.add_row(h.name, h.route, h.endpoint, h.price, "[green]ok[/]" if h.ok else "[red]failed[/]",
                      f"{h.latency_s * 1000:.0f} ms", h.reply[:60])
    console.print(table)
    if failed:
        _fail(f"{failed} of {len(health)} model(s) did not answer", code=1)


def _with_llm(
    config: ProblemConfig, model: Optional[list[str]], api_base: Optional[str], price: Optional[str] = None,
    **overrides: object,
) -> ProblemConfig:
    """``config`` with the CLI's LLM options applied (validated; ConfigError names the option)."""
    llm = llm_options.apply_cli_options(config.llm, model, api_base, price, **overrides)
    return config.model_copy(update={"llm": llm})


def _check_llm(config: ProblemConfig) -> None:
    """Fail before the run starts if the models cannot be used; warn about unpriced ones."""
    if not config.llm.enabled:
        return
    for name in llm_options.check_models(config.llm):
        errors.print(f"warning: model {name} has no known price; its calls are recorded with cost 0 "
                     "(set price_in_per_m / price_out_per_m for it under llm.models in problem.toml)", highlight=False, markup=False)


def _open(run_dir: Path, readonly: bool = False) -> Run:
    try:
        return open_run(run_dir, readonly=readonly)
    except ConfigError as exc:
        _fail(str(exc))
        raise  # unreachable


def _check_sandbox(name: str) -> str:
    """The concrete backend ``name`` runs as here; fail before the run starts if it cannot run.

    ``auto`` is resolved once, here, with its fallback warning printed once; the run stores
    the concrete name, so its evaluator processes neither probe again nor repeat the warning.
    """
    from sandbox import SandboxError, get_sandbox, resolve

    try:
        concrete, why = resolve(name)
        backend = get_sandbox(concrete)  # ValueError naming the choices
    except SandboxError as exc:
        raise ValueError(str(exc)) from None
    info = backend.info()
    if not info.available:
        raise ValueError(f"sandbox {name!r} cannot run here: {info.reason}")
    if why:
        errors.print(f"[yellow]warning:[/] sandbox {name!r}: {escape(why)}", highlight=False)
    return concrete


if __name__ == "__main__":
    app()
