"""What every `evolve` command shares: the consoles, the run-directory argument, ``--json``,
and the one way a command fails (a red line on stderr and an exit code, never a traceback)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from evolve.config import ConfigError
from evolve.store import Run, RunLocked, open_run

console = Console()
errors = Console(stderr=True)

RunArg = typer.Argument(..., help="A run directory, as printed by `evolve run`.")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` as an error and exit with ``code`` (2: bad input; 1: the work itself failed)."""
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def open_run_dir(run_dir: Path, readonly: bool = False) -> Run:
    """The run at ``run_dir``, or exit 2 naming why it cannot be opened (not a run, or locked by a live writer)."""
    try:
        return open_run(run_dir, readonly=readonly)
    except (ConfigError, RunLocked) as exc:
        fail(str(exc))


def fmt(value: float | None, digits: int = 6) -> str:
    """A score for a table: fixed digits, or a dash where there is none."""
    return "—" if value is None else f"{value:.{digits}f}"
