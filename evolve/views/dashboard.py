"""Views of a running search: a rich Live dashboard on a TTY, plain progress lines elsewhere.

Both are observers of ``RunProgress``; they read it and render, nothing else. The
dashboard redraws at most ``refresh_per_second`` times a second however fast events come.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Protocol, Sequence, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from evolve.views.progress import RunProgress
from evolve.views.rate import WindowedRate, duration

_SPARK = "▁▂▃▄▅▆▇█"
_HEAT = ["grey23", "dark_red", "red3", "dark_orange3", "orange1", "gold1", "yellow1", "green_yellow", "green1"]
_FAILURE_KINDS_SHOWN = 4


class Axis(Protocol):
    """A feature axis as the dashboard shows it (``evolve.config.FeatureAxis`` is one)."""

    name: str
    min: float
    max: float
    bins: int


def sparkline(values: list[float], width: int = 48) -> str:
    """Best-so-far values resampled to ``width`` columns, scaled between their min and max."""
    if not values:
        return ""
    if len(values) > width:
        values = [values[int(i * len(values) / width)] for i in range(width - 1)] + [values[-1]]
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    return "".join(_SPARK[min(len(_SPARK) - 1, int((v - lo) / span * (len(_SPARK) - 1)))] for v in values)


def best_line(progress: RunProgress, width: int = 48) -> Text:
    """The best-so-far sparkline between its first and last values, with the time it spans."""
    history = progress.best_history
    text = Text("best over time  ", style="bold")
    if not history:
        return text.append("—", style="dim")
    first, last = history[0][1], history[-1][1]
    text.append(f"{_fmt(first)} ", style="dim")
    text.append(sparkline([score for _, score in history], width), style="cyan")
    text.append(f" {_fmt(last)}", style="bold cyan")
    gain = (last - first) if progress.maximize else (first - last)
    text.append(f"   ({len(history)} improvements, {_fmt(gain, signed=True)} in {duration(history[-1][0])};"
                f" {'higher' if progress.maximize else 'lower'} is better)", style="dim")
    return text


def heatmap(progress: RunProgress, maximize: bool, axes: Sequence[Axis] | None = None) -> Text:
    """Each island's grid over its first two axes, islands side by side; a cell's colour is its best score's rank.

    Below the grids: what the colours mean (the score range, worst to best) and, with
    ``axes``, each axis's feature range and bins (x left to right, y bottom to top).
    """
    text = Text()
    if not progress.grid:
        return text
    shape = progress.grid_shape or (1,)
    rows = shape[0]
    cols = shape[1] if len(shape) > 1 else 1
    scores = [s for grid in progress.grid for s in grid.values()]
    lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
    rank = _ranks(scores, maximize)
    columns = []
    for island, grid in enumerate(progress.grid):
        flat: dict[tuple[int, int], float] = {}
        for cell, score in grid.items():
            key = (cell[0], cell[1] if len(cell) > 1 else 0)
            better = flat.get(key) is None or (score > flat[key] if maximize else score < flat[key])
            if better:
                flat[key] = score
        count = f"({len(grid)} elite{'' if len(grid) == 1 else 's'})"
        lines = [Text(f"island {island} ", style="bold") + Text(count, style="dim")]
        for c in reversed(range(cols)):
            line = Text()
            for r in range(rows):
                score = flat.get((r, c))
                if score is None:
                    line.append("· ", style="grey35")
                else:
                    line.append("■ ", style=_HEAT[1 + min(len(_HEAT) - 2, int(rank[score] * (len(_HEAT) - 2)))])
            lines.append(line)
        columns.append(lines)
    gap = 4
    widths = [max(len(line.plain) for line in lines) + gap for lines in columns]
    for row in range(max(len(lines) for lines in columns)):
        for lines, column_width in zip(columns, widths):
            cell = lines[row] if row < len(lines) else Text()
            text.append_text(cell)
            text.append(" " * (column_width - len(cell.plain)))
        text.rstrip()
        text.append("\n")
    text.append_text(_heat_legend(lo, hi, maximize) if scores else Text())
    names = progress.axis_names
    if axes:
        described = [f"{a.name} {a.min:g}..{a.max:g} ({a.bins} bins)" for a in axes[:2]]
        text.append(f"\nx →: {described[0]}" + (f"   y ↑: {described[1]}" if len(described) > 1 else ""), style="dim")
        if len(axes) > 2:
            text.append(f"   (best over {', '.join(a.name for a in axes[2:])})", style="dim")
    elif names:
        text.append(f"\nx: {names[0]}" + (f"   y: {names[1]}" if len(names) > 1 else ""), style="dim")
    return text


def _ranks(scores: list[float], maximize: bool) -> dict[float, float]:
    """Each distinct score's rank in [0, 1] (1: best): colour by rank, so one outlier cannot wash out the rest."""
    distinct = sorted(set(scores), reverse=not maximize)
    if len(distinct) < 2:
        return {score: 1.0 for score in distinct}
    return {score: i / (len(distinct) - 1) for i, score in enumerate(distinct)}


def _heat_legend(lo: float, hi: float, maximize: bool) -> Text:
    """``████ worst 0.98 .. best 1.89`` in the heat map's own colours."""
    legend = Text("colour: ", style="dim")
    for style in _HEAT[1:]:
        legend.append("█", style=style)
    worst, best = (lo, hi) if maximize else (hi, lo)
    legend.append(f"  worst {_fmt(worst)} .. best {_fmt(best)} (by rank)", style="dim")
    return legend


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

    def __init__(
        self, title: str, run_dir: str, console: Console | None = None, refresh_per_second: float = 4.0, *,
        axes: Sequence[Axis] | None = None, describe_failure: Callable[[int], str] | None = None,
        rate_window_s: float = 30.0,
    ) -> None:
        """``axes`` label the heat maps with their ranges; ``describe_failure(program_id)`` returns a
        failed program's message, shown as the latest of its kind (the CLI reads it from the run)."""
        self.title = title
        self.run_dir = run_dir
        self.console = console or Console()
        self.axes = list(axes or [])
        self.rate = WindowedRate(rate_window_s)
        self._describe = describe_failure
        self._latest_failure: dict[str, tuple[int, str | None]] = {}  # kind -> (program id, message once read)
        self._latest_rejection: dict[str, str] = {}
        self._newest_seen: object = None  # kept as a reference, so its identity stays unique
        self._live = Live(console=self.console, refresh_per_second=refresh_per_second, transient=False)
        self._last = 0.0
        self._min_interval = 1.0 / refresh_per_second

    def __enter__(self) -> "Dashboard":
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(*exc)

    def __call__(self, progress: RunProgress) -> None:
        self.observe(progress)
        now = time.monotonic()
        if progress.finished or now - self._last >= self._min_interval:
            self._last = now
            self._live.update(self.render(progress))

    def observe(self, progress: RunProgress) -> None:
        """Every event, rendered or not: feed the rate window and note the latest failure of each kind."""
        self.rate.observe(progress.evaluated)
        updated: set[str] = set()
        for row in progress.recent:  # newest first, down to the newest row seen last time
            if row is self._newest_seen:
                break
            if row.status in updated:
                continue
            updated.add(row.status)
            if row.program_id and row.status in progress.failures:
                self._latest_failure[row.status] = (row.program_id, None)
            elif not row.program_id and row.summary:
                self._latest_rejection[row.status] = row.summary
        self._newest_seen = progress.recent[0] if progress.recent else None

    def _head(self, progress: RunProgress) -> Table:
        """Progress, best, the pace over the last window with the time left, the archive's fill, spending."""
        head = Table.grid(padding=(0, 2))
        remaining = progress.budget + 1 - progress.evaluated
        rate = self.rate.rate()
        head.add_row(
            f"[bold]evaluated[/] {progress.evaluated}/{progress.budget + 1}",
            f"[bold]best[/] {_fmt(progress.best_score)} (#{progress.best_program_id})",
            f"[bold]rate[/] {'—' if rate is None else f'{rate:.2f}/s'} [dim](last {self.rate.window_s:.0f} s)[/]",
            f"[bold]ETA[/] {'done' if progress.finished else duration(self.rate.eta(remaining))}",
            f"[bold]in flight[/] {progress.in_flight}",
        )
        head.add_row(
            f"[bold]archive[/] {self._coverage(progress)}",
            f"[bold]QD score[/] {self._qd(progress)}",
            f"[bold]LLM[/] {progress.llm_calls} calls ${progress.llm_cost:.4f}",
            f"[bold]elapsed[/] {duration(progress.elapsed)}",
            "",
        )
        return head

    @staticmethod
    def _coverage(progress: RunProgress) -> str:
        """Filled cells as a count (a percentage reads 0% or 1% for the first elites)."""
        elites = sum(len(grid) for grid in progress.grid)
        cells = 1
        for bins in progress.grid_shape:
            cells *= bins
        total = cells * max(1, len(progress.grid))
        return f"{elites}/{total} cells ({100 * elites / total:.1f}%)" if progress.grid else "—"

    @staticmethod
    def _qd(progress: RunProgress) -> str:
        """The QD score, or why it is 0 while there are elites: every elite is at or below the offset."""
        if progress.qd_score == 0 and any(progress.grid):
            return "0 [dim](elites at/below [search] qd_score_offset)[/]"
        return f"{progress.qd_score:.4g}"

    def _failure_lines(self, progress: RunProgress) -> Text:
        """One line per failure kind (most common first) with its latest message, then rejected proposals."""
        text = Text()
        if not progress.failures:
            text.append("failed evaluations: none\n", style="dim")
        for kind, count in progress.failures.most_common(_FAILURE_KINDS_SHOWN):
            text.append("failed ", style="dim").append(f"{kind} {count}", style="red")
            latest = self._latest_message(kind)
            if latest:
                text.append(f"  latest (#{latest[0]}): ", style="dim").append(latest[1][:110])
            text.append("\n")
        hidden = len(progress.failures) - _FAILURE_KINDS_SHOWN
        if hidden > 0:
            text.append(f"... and {hidden} more kind(s): evolve failures {self.run_dir}\n", style="dim")
        rejected = ", ".join(f"{k} {n}" for k, n in progress.proposal_failures.most_common()) or "none"
        text.append(f"rejected proposals: {rejected}", style="dim")
        for outcome, message in list(self._latest_rejection.items())[:2]:
            if outcome in progress.proposal_failures:
                text.append(f"\n  latest {outcome}: {message[:110]}", style="dim")
        return text

    def _latest_message(self, kind: str) -> tuple[int, str] | None:
        found = self._latest_failure.get(kind)
        if found is None or self._describe is None:
            return None
        program_id, message = found
        if message is None:
            try:
                message = _last_line(self._describe(program_id))
            except Exception:  # a view never breaks a run over a message it cannot read
                message = ""
            self._latest_failure[kind] = (program_id, message)
        return (program_id, message) if message else None

    def _footer(self, progress: RunProgress) -> Text:
        if not progress.finished:
            return Text(progress.message, style="bold yellow") if progress.message else Text("")
        text = Text(f"{progress.message or 'finished'}\n", style="bold yellow")
        text.append(f"next: evolve best {self.run_dir}   ·   evolve report {self.run_dir}", style="bold")
        return text

    def render(self, progress: RunProgress) -> Panel:
        head = self._head(progress)
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
        body = Group(
            head,
            best_line(progress),
            heatmap(progress, progress.maximize, self.axes),
            recent,
            self._failure_lines(progress),
            *llm_lines(progress),
            self._footer(progress),
        )
        return Panel(body, title=f"evolve · {self.title}", subtitle=self.run_dir)


def _last_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


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
