"""The `evolve` command: parse, call the engine, render. No search logic lives here.

This file holds the typer app and the commands that start or drive work (``run``, ``resume``,
``check``, ``init``, ``problems``, ``models``); the commands that only read a run live in
``evolve.views.inspection`` and are registered at the end.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from evolve import loop
from evolve.config import ConfigError, LLMConfig, ProblemConfig
from evolve.loop import RunError, execute
from evolve.problem import builtin_problems, load_problem
from evolve.problem_checks import Finding, check_folder, check_scores
from evolve.proposers import llm as llm_options
from evolve.records import RunStatus
from evolve.store import Run, create_run
from evolve.views import Dashboard, PlainLog, inspection
from evolve.views import summary as summary_views
from evolve.views.cli_common import JsonOpt, RunArg, console, errors, fail, fmt, open_run_dir

app = typer.Typer(
    help="LLM-driven algorithm discovery: evolve programs with MAP-Elites, scored by trusted evaluators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ProblemArg = typer.Argument(..., help="A problem folder, or the name of a built-in problem (see `evolve problems`).")
PlainOpt = typer.Option(False, "--plain", help="Plain progress lines instead of the live dashboard (automatic when not a TTY).")
ModelOpt = typer.Option(
    None, "--model", "-m",
    help="A model to propose with, NAME[:WEIGHT], repeatable (e.g. openai/gpt-4o-mini:3), or a .gguf file evolve "
    "serves itself with llama.cpp (pip install -e '.[local]'). Replaces the problem's "
    "llm.models list (their prices are kept). Keys come from the environment (OPENAI_API_KEY, or api_key_env).",
)
ApiBaseOpt = typer.Option(None, "--api-base", help="Base URL of an OpenAI-compatible server (vLLM, ollama, llama.cpp, OpenRouter).")
MaxCostOpt = typer.Option(None, "--max-cost", min=0.0, help="Stop the run cleanly once this many dollars of LLM calls are spent.")
PriceOpt = typer.Option(
    None, "--price", help="IN,OUT dollars per 1M prompt/completion tokens for models without a known price (local servers, proxies).",
)
MaxCallsOpt = typer.Option(None, "--max-calls", min=0, help="Stop the run cleanly after this many LLM calls (retries count).")
ProposalsOpt = typer.Option(None, "--proposals", min=1, help="Proposals (LLM calls) in flight at once ([run] max_concurrent_proposals).")
EvaluationsOpt = typer.Option(
    None, "--evaluations", "--workers", "-j", min=1, help="Evaluations in parallel ([run] max_concurrent_evaluations)."
)
ExecutorOpt = typer.Option(None, "--executor", help="Where evaluations run: local (default) or ray (needs the ray extra).")
RayAddressOpt = typer.Option(None, "--ray-address", help="The Ray cluster to join with --executor ray (default: RAY_ADDRESS, else a local Ray).")


def _scale_overrides(
    config: ProblemConfig, proposals: Optional[int], evaluations: Optional[int], executor: Optional[str], ray_address: Optional[str]
) -> ProblemConfig:
    """``config`` with the concurrency and executor options applied (ValueError names a bad one)."""
    if executor is not None and executor not in ("local", "ray"):
        raise ValueError(f"--executor {executor!r}: choose local or ray")
    if ray_address is not None and (executor or config.run.executor) != "ray":
        raise ValueError("--ray-address needs --executor ray")
    return config.with_overrides(
        "run", max_concurrent_proposals=proposals, max_concurrent_evaluations=evaluations, executor=executor,
        ray_address=ray_address,
    )


def _observer(run: Run, plain: bool):
    if plain or not sys.stdout.isatty():
        return PlainLog()
    return Dashboard(run.config.problem.name, str(run.directory), console=console, axes=run.config.feature_axes(),
                     describe_failure=lambda program_id: _failure_message(run, program_id))


def _failure_message(run: Run, program_id: int) -> str:
    """A failed program's message, for the dashboard's 'latest' line (read on the controller's own connection)."""
    program = run.db.program(program_id)
    return program.evaluation.failure_message if program and program.evaluation else ""


def _next_steps(run: Run) -> None:
    """What to run after a run: the best program, the report, and how to continue."""
    where = run.directory
    console.print(f"next: evolve best {where}\n      evolve report {where}\n      evolve resume {where} --budget N",
                  style="dim", highlight=False, soft_wrap=True)


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
    except (RunError, ConfigError, ValueError) as exc:
        fail(str(exc), code=1)
    if run.db.get_meta("status") == RunStatus.INTERRUPTED:
        typer.echo(f"{progress.message}; every committed candidate is saved. Continue with: evolve resume {run.directory}",
                   err=True)  # one unwrapped line: scripts and people copy the command from it
        raise typer.Exit(130)
    typer.echo(f"run directory: {run.directory}")  # plain: scripts parse this line
    best = run.db.best(maximize=run.config.objective.maximize)
    if best:
        typer.echo(f"best {run.config.objective.name}: {best[0].score:.6f} (program {best[0].id})")
    if progress.holdout is not None:
        gap = progress.holdout
        held = f"{gap.holdout:.6f} (gap {gap.gap:+.6f})" if gap.holdout is not None else "failed (see evolve holdout)"
        typer.echo(f"holdout {run.config.objective.name} of program {gap.program_id}: {held}")
    console.print(f"evaluated {progress.evaluated} programs, {progress.succeeded} valid; {progress.message}")
    if best and run.problem.baselines and run.config.evaluation.compare_baselines:
        _compare_baselines(run, best[0].score, progress.holdout.holdout if progress.holdout else None)
    _next_steps(run)


def _compare_baselines(run: Run, search: float, holdout: float | None) -> None:
    """The problem's baselines scored by the run's own evaluator (stored for `evolve report`), against the best."""
    from evolve.report.references import references

    refs = references(run)
    maximize = run.config.objective.maximize
    rows = {}
    for ref in refs.items:
        if ref.name != "seed":
            rows.setdefault(ref.name.removeprefix("baselines/").removesuffix(".py"), {})[ref.split] = ref.score
    if not rows:
        return
    console.print("baselines, scored by the run's evaluator:", highlight=False)
    table = Table("baseline", "search", "holdout" if holdout is not None else "", box=None)
    for name, scores in rows.items():
        table.add_row(name, fmt(scores.get("search")), fmt(scores.get("holdout")) if holdout is not None else "")
    console.print(table)
    split, ours = ("holdout", holdout) if holdout is not None else ("search", search)
    scored = {n: s[split] for n, s in rows.items() if s.get(split) is not None}
    if not scored:
        return
    name = max(scored, key=lambda n: scored[n] if maximize else -scored[n])
    margin = (ours - scored[name]) if maximize else (scored[name] - ours)
    verdict = "beats" if margin > 0 else "does not beat"
    relative = f" ({margin / abs(scored[name]):+.1%})" if scored[name] else ""
    console.print(f"the best program {verdict} the best baseline ({name}) on the {split} split by {margin:+.6f}{relative}",
                  style="bold green" if margin > 0 else "bold yellow", highlight=False, soft_wrap=True)


@app.command()
def run(
    problem: str = ProblemArg,
    budget: Optional[int] = typer.Option(None, "--budget", "-n", min=1, help="Candidates to evaluate (default: the problem's)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; the same seed gives the same mutator run."),
    out: Path = typer.Option(Path("runs"), "--out", "-o", help="Folder in which the run directory is created."),
    islands: Optional[int] = typer.Option(None, "--islands", min=1, help="Number of MAP-Elites islands."),
    proposals: Optional[int] = ProposalsOpt,
    evaluations: Optional[int] = EvaluationsOpt,
    executor: Optional[str] = ExecutorOpt,
    ray_address: Optional[str] = RayAddressOpt,
    sandbox: Optional[str] = typer.Option(
        None, "--sandbox", help="Isolation backend: auto (bwrap where it works, else process), bwrap, process or docker."
    ),
    model: Optional[list[str]] = ModelOpt,
    api_base: Optional[str] = ApiBaseOpt,
    max_cost: Optional[float] = MaxCostOpt,
    max_calls: Optional[int] = MaxCallsOpt,
    price: Optional[str] = PriceOpt,
    no_store_text: bool = typer.Option(False, "--no-store-text", help="Store only sha256 and sizes of prompts and replies."),
    prompt_style: Optional[str] = typer.Option(
        None, "--prompt-style",
        help="chat (default) or completion: a few-shot text continued by the model, for small base models (full rewrites).",
    ),
    record: Optional[Path] = typer.Option(None, "--record", help="Append every LLM reply to this JSONL file."),
    replay: Optional[Path] = typer.Option(None, "--replay", help="Answer LLM calls from a --record file, offline."),
    plain: bool = PlainOpt,
) -> None:
    """Start a new search on PROBLEM and run it to its budget."""
    try:
        loaded = load_problem(problem)
        config = loaded.config.with_overrides("run", budget=budget, seed=seed, sandbox=sandbox).with_overrides(
            "search", islands=islands
        )
        config = _scale_overrides(config, proposals, evaluations, executor, ray_address)
        config = _with_llm(
            config, model, api_base, price, max_cost=max_cost, max_calls=max_calls,
            store_text=False if no_store_text else None, prompt_style=prompt_style,
            record=str(record.resolve()) if record else None, replay=str(replay.resolve()) if replay else None,
        )
        config = config.with_overrides("run", sandbox=_check_sandbox(config.run.sandbox))
        _check_llm(config)
        handle = create_run(loaded, config, out)
    except (ConfigError, ValueError) as exc:
        fail(str(exc))
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
    proposals: Optional[int] = ProposalsOpt,
    evaluations: Optional[int] = EvaluationsOpt,
    executor: Optional[str] = ExecutorOpt,
    ray_address: Optional[str] = RayAddressOpt,
    plain: bool = PlainOpt,
) -> None:
    """Continue a stopped, interrupted or killed run from its database (concurrency and executor may change)."""
    handle = open_run_dir(run_dir)
    changes = (budget, max_cost, max_calls, proposals, evaluations, executor, ray_address)
    if any(value is not None for value in changes):
        try:
            config = handle.config.with_overrides("run", budget=budget)
            config = _scale_overrides(config, proposals, evaluations, executor, ray_address)
            handle.config = _with_llm(config, None, None, None, max_cost=max_cost, max_calls=max_calls)
        except (ConfigError, ValueError) as exc:
            handle.close()
            fail(str(exc))
        handle.db.set_meta("config", handle.config.model_dump(mode="json"))
    try:
        _drive(handle, plain)
    finally:
        handle.close()


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
    as_json: bool = JsonOpt,
) -> None:
    """Validate a problem folder and score its seed program and baselines (search and holdout splits)."""
    try:
        loaded = load_problem(problem)
    except ConfigError as exc:
        fail(str(exc))
    findings = check_folder(loaded)
    errors_found = [f for f in findings if f.level == "error"]
    if errors_found:
        if as_json:
            typer.echo(json.dumps({"problem": str(loaded.root), "valid": False, "findings": _findings_data(findings),
                                   "programs": []}, indent=2))
        else:
            _print_findings(findings)
        fail(f"{loaded.root}: {len(errors_found)} error(s) to fix before the problem can be scored")
    try:
        sandbox = _check_sandbox(sandbox or loaded.config.run.sandbox)
        scored = loop.score_problem(loaded, sandbox)
    except (ConfigError, ValueError) as exc:
        fail(str(exc))
    findings += check_scores(loaded, scored)
    seed_failed = any(row.name == "initial.py" and row.split == "search" and not row.result.complete for row in scored)
    if as_json:
        data = [{"program": row.name, "split": row.split, **summary_views.result_data(row.result)} for row in scored]
        typer.echo(json.dumps({"problem": str(loaded.root), "valid": not seed_failed, "findings": _findings_data(findings),
                               "programs": data}, indent=2))
        if seed_failed:
            raise typer.Exit(1)
        return
    console.print(f"[green]✓[/] {loaded.root}: problem.toml, initial.py and evaluate.py are valid")
    table = Table("program", "split", "status", loaded.config.objective.name, "seconds", "detail")
    for row in scored:
        result = row.result
        status = "ok" if result.complete else (f"stopped at stage {result.stage}" if result.ok else result.failure_kind)
        text = (result.feedback if result.ok else result.failure_message).strip().splitlines()
        detail = (text[0] if result.ok else text[-1]) if text else ""
        table.add_row(row.name, row.split, status, fmt(result.score) if result.ok else "—", f"{result.duration_s:.2f}",
                      detail if len(detail) <= 90 else detail[:89] + "…")
    console.print(table)
    _print_findings(findings)
    for row in scored:  # every failure in full: the evaluator's exception, its message and last frames
        if not row.result.ok:
            errors.rule(f"{row.name} ({row.split}): {row.result.failure_kind}")
            errors.print(row.result.failure_message.strip(), highlight=False, markup=False)
            if row.result.output.strip():
                errors.print("candidate output:\n" + row.result.output.strip()[-2000:], highlight=False, markup=False, style="dim")
    if seed_failed:
        fail("the seed program does not evaluate; a run would have nothing to evolve from", code=1)


def _findings_data(findings: list[Finding]) -> list[dict]:
    return [{"level": f.level, "where": f.where, "message": f.message} for f in findings]


def _print_findings(findings: list[Finding]) -> None:
    for finding in findings:
        style = "bold red" if finding.level == "error" else "yellow"
        errors.print(f"[{style}]{finding.level}:[/] {escape(finding.where)}: {escape(finding.message)}", highlight=False)


@app.command()
def models(
    problem: Optional[str] = typer.Argument(None, help="Use this problem's llm settings and seed prompt (optional)."),
    model: Optional[list[str]] = ModelOpt,
    api_base: Optional[str] = ApiBaseOpt,
    price: Optional[str] = PriceOpt,
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds to wait for each model."),
    measure: bool = typer.Option(
        True, "--measure/--no-measure",
        help="Also time one streamed request on the problem's first prompt (circle_packing's when none is named): "
        "tokens/s, first token, the server's slots, and the settings that fit.",
    ),
    tokens: int = typer.Option(128, "--tokens", min=8, help="Completion tokens of the measuring request."),
) -> None:
    """Check that each configured model answers; measure its speed and suggest its settings."""
    try:
        loaded = load_problem(problem or "circle_packing")
        base = loaded.config.llm if problem else LLMConfig()
        brief = llm_options.MeasurePrompt(
            loaded.config.problem.name, loaded.config.problem.description, loaded.config.objective.name,
            loaded.config.objective.maximize, loaded.initial_code,
        )
        health = llm_options.ping_models(
            llm_options.apply_cli_options(base, model, api_base, price), timeout,
            measure_with=brief if measure else None, tokens=tokens,
        )
    except (ConfigError, ValueError) as exc:
        fail(str(exc))
    table = Table("model", "route", "endpoint", "price $/1M in/out", "status", "latency", "reply",
                  *(("tokens/s", "first token", "slots") if measure else ()))
    failed = 0
    for h in health:
        failed += not h.ok
        speed: tuple[str, ...] = ()
        if measure:
            m = h.measurement
            speed = ("—", "—", str(h.slots) if h.slots else "?")
            if m is not None and m.error:
                speed = (f"[red]{escape(m.error[:40])}[/]", "—", speed[2])
            elif m is not None:
                speed = (f"{m.tokens_per_s:.1f}" if m.tokens_per_s else "—",
                         f"{m.first_token_s:.1f} s ({m.prompt_tokens} tok)" if m.first_token_s is not None else "—", speed[2])
        table.add_row(h.name, h.route, h.endpoint, h.price, "[green]ok[/]" if h.ok else "[red]failed[/]",
                      f"{h.latency_s * 1000:.0f} ms", escape(" ".join(h.reply.split())[:60]), *speed)
    console.print(table)
    for h in health:
        if h.suggestion is None:
            continue
        s = h.suggestion
        reply = f"; a {s.max_tokens}-token reply takes {s.reply_s:.0f} s" if s.reply_s is not None else ""
        rate = f", at least {s.proposals_per_hour:.0f} proposals an hour" if s.proposals_per_hour else ""
        slots = "" if s.max_concurrent else "; its server reports no slot count: set max_concurrent to its parallel slots"
        console.print(f"\nsuggested settings for {h.name} (measured on {brief.name}'s first prompt{reply}{rate}{slots}):",
                      highlight=False, markup=False)
        console.print(h.toml, highlight=False, markup=False)
    if failed:
        fail(f"{failed} of {len(health)} model(s) did not answer", code=1)


@app.command()
def init(
    folder: Path = typer.Argument(..., help="The new problem folder (must not exist, or be empty)."),
    template: str = typer.Option(
        "function", "--template", "-t",
        help="function: called once per evaluation; simulator: called many times in a persistent worker, batched; "
        "training: a heavy job returning an artifact (with a cascade and a holdout split).",
    ),
    name: Optional[str] = typer.Option(None, "--name", help="The problem's name (default: the folder's name)."),
) -> None:
    """Create a problem folder from a template that passes `evolve check` and runs as it is."""
    from evolve.scaffold import scaffold

    try:
        created = scaffold(folder, template, name)
    except ConfigError as exc:
        fail(str(exc))
    typer.echo(f"created {created} from the {template!r} template")
    typer.echo(f"next: evolve check {created}   then: evolve run {created} --budget 50")


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


inspection.register(app)  # status, best, holdout, report, show, lineage, failures, export


if __name__ == "__main__":
    app()
