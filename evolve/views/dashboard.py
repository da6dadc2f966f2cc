"""Views of a running search: a rich Live dashboard on a TTY, plain progress lines elsewhere.

Both are observers of ``RunProgress``; they read it and render, nothing else. The
dashboard redraws at most ``refresh_per_second`` times a second however fast events come.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from evolve.views.progress import RunProgress

_SPARK = "▁▂▃▄▅▆▇█"
_HEAT = ["grey23", "dark_red", "red3", "dark_orange3", "orange1", "gold1", "yellow1", "green_yellow", "green1"]


def sparkline(values: list[float], width: int = 48) -> str:
    """Best-so-far values resampled to ``width`` columns, scaled between their min and max."""
    if not values:
        return ""
    if len(values) > width:
        values = [values[int(i * len(values) / width)] for i in range(width - 1)] + [values[-1]]
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    return "".join(_SPARK[min(len(_SPARK) - 1, int((v - lo) / span * (len(_SPARK) - 1)))] for v in values)


def heatmap(progress: RunProgress, maximize: bool) -> Text:
    """Each island's grid over its first two axes; a cell's colour ranks its best score."""
    text = Text()
    if not progress.grid:
        return text
    shape = progress.grid_shape or (1,)
    rows = shape[0]
    cols = shape[1] if len(shape) > 1 else 1
    scores = [s for grid in progress.grid for s in grid.values()]
    lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
    span = hi - lo or 1.0
    for island, grid in enumerate(progress.grid):
        flat: dict[tuple[int, int], float] = {}
        for cell, score in grid.items():
            key = (cell[0], cell[1] if len(cell) > 1 else 0)
            better = flat.get(key) is None or (score > flat[key] if maximize else score < flat[key])
            if better:
                flat[key] = score
        text.append(f"island {island} ", style="bold")
        text.append(f"({len(grid)} elites)\n", style="dim")
        for c in reversed(range(cols)):
            for r in range(rows):
                score = flat.get((r, c))
                if score is None:
                    text.append("· ", style="grey35")
                else:
                    level = (score - lo) / span if maximize else (hi - score) / span
                    text.append("■ ", style=_HEAT[1 + min(len(_HEAT) - 2, int(level * (len(_HEAT) - 2)))])
            text.append("\n")
    axes = progress.axis_names
    if axes:
        text.append(f"x: {axes[0]}" + (f"   y: {axes[1]}" if len(axes) > 1 else ""), style="dim")
    return text


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.5g}" if signed else f"{value:.6g}"


def llm_lines(progress: RunProgress) -> list[Text]:
    """Model health: calls by outcome with the latest failure, and the advice line if any."""
    health = progress.llm
    if not health.calls:
        return []
    rate = f"    {health.tokens_per_s:.1f} tokens/s" if health.tokens_per_s else ""
    line = Text(f"LLM calls: {health.counts()}{rate}", style="red" if health.failures else "")
    if health.last_failure:
        line.append(f"    last failure: {health.last_failure}"[:400], style="dim")
    lines = [line]
    if health.advice:
        lines.append(Text(f"advice: {health.advice}", style="bold yellow"))
    return lines


class Dashboard:
    """Rich Live view. Use as a context manager; call it with the progress on every event."""

    def __init__(self, title: str, run_dir: str, console: Console | None = None, refresh_per_second: float = 4.0) -> None:
        self.title = title
        self.run_dir = run_dir
        self.console = console or Console()
        self._live = Live(console=self.console, refresh_per_second=refresh_per_second, transient=False)
        self._last = 0.0
        self._min_interval = 1.0 / refresh_per_second

    def __enter__(self) -> "Dashboard":
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(*exc)

    def __call__(self, progress: RunProgress) -> None:
        now = time.monotonic()
        if progress.finished or now - self._last >= self._min_interval:
            self._last = now
            self._live.update(self.render(progress))

    def render(self, progress: RunProgress) -> Panel:
        head = Table.grid(padding=(0, 2))
        head.add_row(
            f"[bold]evaluated[/] {progress.evaluated}/{progress.budget + 1}",
            f"[bold]best[/] {_fmt(progress.best_score)} (#{progress.best_program_id})",
            f"[bold]rate[/] {progress.throughput:.2f}/s",
            f"[bold]in flight[/] {progress.in_flight}",
        )
        head.add_row(
            f"[bold]coverage[/] {progress.coverage:.0%}",
            f"[bold]QD score[/] {progress.qd_score:.4g}",
            f"[bold]LLM[/] {progress.llm_calls} calls ${progress.llm_cost:.4f}",
            f"[bold]elapsed[/] {progress.elapsed:.0f}s",
        )
        spark = sparkline([score for _, score in progress.best_history])
        recent = Table(title="recent candidates", expand=True, title_justify="left")
        for column in ("id", "isl", "proposer", "kind", "status", "score", "Δ parent", "s"):
            recent.add_column(column, no_wrap=True)
        for row in progress.recent:
            style = "green" if row.status == "ok" else "red"
            delta_style = "bold green" if row.delta and row.delta > 0 else ""
            recent.add_row(
                str(row.program_id or "—"), str(row.island), row.proposer, row.kind, Text(row.status, style=style),
                _fmt(row.score), Text(_fmt(row.delta, signed=True), style=delta_style), f"{row.seconds:.2f}",
            )
        failures = ", ".join(f"{k} {n}" for k, n in progress.failures.most_common()) or "none"
        rejected = ", ".join(f"{k} {n}" for k, n in progress.proposal_failures.most_common()) or "none"
        body = Group(
            head,
            Text(f"best over time  {spark}", style="cyan"),
            heatmap(progress, progress.maximize),
            recent,
            Text(f"failed evaluations: {failures}    rejected proposals: {rejected}"),
            *llm_lines(progress),
            Text(progress.message, style="bold yellow") if progress.message else Text(""),
        )
        return Panel(body, title=f"evolve · {self.title}", subtitle=self.run_dir)


class PlainLog:
    """One line per evaluated candidate, for logs and pipes; a line when LLM calls fail, with
    the counts by outcome, so a run waiting on a slow model says so."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._seen = 0
        self._llm_failures = 0
        self._advice = ""

    def __call__(self, progress: RunProgress) -> None:
        self._llm(progress)
        total = progress.evaluated + progress.proposals_failed
        if total != self._seen and progress.recent:
            self._seen = total
            row = progress.recent[0]
            delta = f" ({_fmt(row.delta, signed=True)})" if row.delta is not None else ""
            print(
                f"[{progress.evaluated:>5}/{progress.budget + 1}] #{row.program_id or '-'} isl {row.island} "
                f"{row.proposer}/{row.kind} {row.status} score={_fmt(row.score)}{delta} "
                f"best={_fmt(progress.best_score)} {progress.throughput:.2f}/s",
                file=self.stream,
                flush=True,
            )
        if progress.finished and progress.message:
            print(f"stopped: {progress.message}", file=self.stream, flush=True)

    def _llm(self, progress: RunProgress) -> None:
        """A line per newly failed batch of LLM calls (with the counts), and each new advice once."""
        health = progress.llm
        if health.failures != self._llm_failures:
            self._llm_failures = health.failures
            print(f"llm calls: {health.counts()}; last failure: {health.last_failure}", file=self.stream, flush=True)
        if health.advice and health.advice != self._advice:
            self._advice = health.advice
            print(f"advice: {health.advice}", file=self.stream, flush=True)
