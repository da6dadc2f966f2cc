"""The report's figures, drawn with matplotlib and returned as PNG bytes.

matplotlib is the optional extra ``report`` (``pip install -e ".[report]"``). Figures are
built with ``matplotlib.figure.Figure`` and the Agg canvas directly, never ``pyplot``, so
making a report in a notebook leaves the notebook's backend and open figures alone.

Every plot states its scale: axes are labelled with the objective and its direction, heat
maps carry a colour bar and their feature ranges at the bin edges, reference lines are in
the legend with their values.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

from evolve.report.data import ReportData
from evolve.report.failures import STOPPED, VALID

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 110
_STATUS_COLOURS = {VALID: "#4c9a2a", STOPPED: "#9ecae1"}
_FAILURE_COLOURS = ["#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#1f77b4"]
_REFERENCE_STYLES = [(0, (4, 2)), (0, (1, 1)), (0, (6, 2, 1, 2)), (0, (2, 3))]


class MissingMatplotlib(ImportError):
    """matplotlib is not installed; the message says how to install it."""


def _figure(width: float, height: float) -> "Figure":
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingMatplotlib(
            "the report's plots need matplotlib: pip install 'evolve[report]' (or pip install matplotlib)"
        ) from None
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def png(figure: "Figure") -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def objective_label(data: ReportData) -> str:
    return f"{data.objective} ({'higher' if data.maximize else 'lower'} is better)"


def best_over_time(data: ReportData) -> bytes:
    """Best-so-far per island (thin) and overall (thick) against evaluations, with the seed and baselines."""
    figure = _figure(9.0, 4.2)
    ax = figure.add_subplot()
    end = data.rows[-1].index if data.rows else 1
    for island, points in sorted(data.per_island.items()):
        if points and len(data.per_island) > 1:
            xs, ys = _steps(points, end)
            ax.plot(xs, ys, linewidth=1.0, alpha=0.75, label=f"island {island}")
    if data.overall:
        xs, ys = _steps(data.overall, end)
        ax.plot(xs, ys, color="black", linewidth=2.2, label=f"overall (best {data.overall[-1].score:.6g})")
    window = _reference_window(data)
    for i, ref in enumerate(r for r in data.references.search() if r.score is not None):
        style = _REFERENCE_STYLES[i % len(_REFERENCE_STYLES)]
        colour = "grey" if ref.name == "seed" else "tab:red"
        label = f"{ref.name}: {ref.score:.6g}"
        if window is None or window[0] <= ref.score <= window[1]:
            ax.axhline(ref.score, color=colour, linestyle=style, linewidth=1.2, label=label)
        else:  # a far-off baseline (always-on-demand's 0, say) would squash the run's curve flat
            ax.plot([], [], color=colour, linestyle=style, linewidth=1.2, label=f"{label} (off the scale)")
    ax.set_xlabel("candidates evaluated (commit order)")
    ax.set_ylabel(objective_label(data))
    ax.set_title("best score so far")
    ax.set_xlim(1, max(end, 2))
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    else:
        ax.text(0.5, 0.5, "no complete evaluation yet", ha="center", va="center", transform=ax.transAxes)
    return png(figure)


def _reference_window(data: ReportData) -> tuple[float, float] | None:
    """The scores a reference line may sit at and still be drawn: the run's own range, widened
    by that range on each side (at least 5% of its magnitude). None when nothing has a score."""
    scores = [p.score for points in data.per_island.values() for p in points] + [p.score for p in data.overall]
    if not scores:
        return None
    low, high = min(scores), max(scores)
    span = max(high - low, 0.05 * max(abs(low), abs(high)), 1e-9)
    return low - span, high + span


def _steps(points: Any, end: int) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for point in points:
        if xs:
            xs.append(point.index)
            ys.append(ys[-1])
        xs.append(point.index)
        ys.append(point.score)
    xs.append(end)
    ys.append(ys[-1])
    return xs, ys


def archive_heatmaps(data: ReportData) -> bytes:
    """One heat map per island over the first two feature axes: each cell's best score, on one colour scale."""
    import numpy as np

    view = data.archive
    axes = view.axes
    nx = axes[0].bins if axes else 1
    ny = axes[1].bins if len(axes) > 1 else 1
    scores = [c.score for c in view.cells]
    lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 0.5 * (abs(lo) or 1), hi + 0.5 * (abs(hi) or 1)
    norm = _colour_norm(scores, lo, hi)
    columns = min(view.islands, 3)
    rows = math.ceil(view.islands / columns)
    figure = _figure(4.3 * columns + 0.8, 3.6 * rows + 0.3)
    cmap = _colormap(data.maximize)
    image = None
    grids = figure.subplots(rows, columns, squeeze=False)
    for island in range(rows * columns):
        ax = grids[island // columns][island % columns]
        if island >= view.islands:
            ax.set_visible(False)
            continue
        grid = np.full((ny, nx), np.nan)
        ids: dict[tuple[int, int], int] = {}
        for cell in view.island_cells(island):
            x, y = cell.cell[0] if axes else 0, cell.cell[1] if len(axes) > 1 else 0
            if math.isnan(grid[y, x]) or _better(cell.score, grid[y, x], data.maximize):
                grid[y, x] = cell.score
                ids[(x, y)] = cell.program_id
        image = ax.imshow(grid, origin="lower", cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
        ax.set_facecolor("#eeeeee")
        if nx * ny <= 160:
            for (x, y), _pid in ids.items():
                value = grid[y, x]
                shade = float(norm(value))
                light = shade < 0.55 if data.maximize else shade > 0.45
                ax.text(x, y, f"{value:.3g}", ha="center", va="center", fontsize=7 if nx <= 8 else 5.5,
                        color="white" if light else "black")
        filled = len(view.island_cells(island))
        ax.set_title(f"island {island}: {filled} of {view.cells_per_island} cells", fontsize=9)
        _edge_ticks(ax, axes[0] if axes else None, nx, "x")
        _edge_ticks(ax, axes[1] if len(axes) > 1 else None, ny, "y")
    if image is not None:
        bar = figure.colorbar(image, ax=grids.ravel().tolist(), shrink=0.9)
        bar.set_label(f"best {objective_label(data)}; bands: quantiles of the cells", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    extra = f"; axes beyond the first two: best over them ({', '.join(a.name for a in axes[2:])})" if len(axes) > 2 else ""
    figure.suptitle(f"MAP-Elites archive: each cell's best score (grey: empty){extra}", fontsize=10)
    return png(figure)


def _colour_norm(scores: list[float], lo: float, hi: float) -> Any:
    """Colour by quantile bands of the cells' scores, so one outlier cannot wash out every other cell.

    With fewer than 4 distinct scores the scale is linear between the extremes; otherwise
    its boundaries are the 0, 1/8, ..., 1 quantiles (the colour bar shows their values).
    """
    import numpy as np
    from matplotlib.colors import BoundaryNorm, Normalize

    distinct = sorted(set(scores))
    if len(distinct) < 4:
        return Normalize(vmin=lo, vmax=hi)
    bounds = np.unique(np.quantile(distinct, np.linspace(0, 1, min(9, len(distinct)))))
    return BoundaryNorm(bounds, ncolors=256)


def _colormap(maximize: bool) -> Any:
    import matplotlib

    return matplotlib.colormaps["viridis" if maximize else "viridis_r"]


def _better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b


def _edge_ticks(ax: Any, axis: Any, bins: int, which: str) -> None:
    """Ticks on the bin edges, labelled with the feature value there (at most ~8 labels)."""
    set_ticks, set_labels, set_label = (
        (ax.set_xticks, ax.set_xticklabels, ax.set_xlabel) if which == "x" else (ax.set_yticks, ax.set_yticklabels, ax.set_ylabel)
    )
    if axis is None:
        set_ticks([])
        return
    step = max(1, math.ceil(bins / 8))
    edges = list(range(0, bins + 1, step))
    if edges[-1] != bins:
        edges.append(bins)
    width = (axis.max - axis.min) / bins
    set_ticks([e - 0.5 for e in edges])
    set_labels([_tick(axis.min + e * width) for e in edges], fontsize=7)
    set_label(f"{axis.name} [{axis.min:g}, {axis.max:g}]", fontsize=8)


def _tick(value: float) -> str:
    """A bin edge as a short label: 4000 not 4e+03, 0.125 as it is."""
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def failure_timeline(data: ReportData) -> bytes:
    """Each span of evaluations as a stacked bar: valid, stopped by the cascade, each failure kind."""
    figure = _figure(8.0, 3.6)
    ax = figure.add_subplot()
    spans = data.failure_spans
    if not spans:
        ax.text(0.5, 0.5, "no evaluations yet", ha="center", va="center", transform=ax.transAxes)
        return png(figure)
    lefts = [first - 0.5 for first, _ in spans]
    widths = [last - first + 1 for first, last in spans]
    bottom = [0.0] * len(spans)
    order = [VALID, STOPPED] + sorted(k for k in data.failure_counts if k not in (VALID, STOPPED))
    colours = iter(_FAILURE_COLOURS)
    for status in order:
        counts = data.failure_counts.get(status)
        if not counts:
            continue
        shares = [c / w for c, w in zip(counts, widths)]
        colour = _STATUS_COLOURS.get(status) or next(colours, "#333333")
        ax.bar(lefts, shares, width=widths, bottom=bottom, align="edge", color=colour, label=f"{status} ({sum(counts)})",
               edgecolor="white", linewidth=0.4)
        bottom = [b + s for b, s in zip(bottom, shares)]
    ax.set_ylim(0, 1)
    ax.set_xlim(lefts[0], lefts[-1] + widths[-1])
    ax.set_ylabel("share of evaluations")
    ax.set_xlabel("candidates evaluated (commit order)")
    ax.set_title("outcome of evaluations over the run")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return png(figure)


def holdout_scatter(data: ReportData) -> bytes:
    """Search score against holdout score per program scored on both, with the line of no gap
    and the baselines' holdout scores (the bar a discovery has to clear on unseen data)."""
    figure = _figure(5.0, 4.4)
    ax = figure.add_subplot()
    pairs = [(r.search, r.holdout, r) for r in data.holdout if r.search is not None and r.holdout is not None]
    if pairs:
        xs = [p[0] for p in pairs]
        ys = [p[1] for p in pairs]
        colours = ["tab:red" if p[2].reason == "best" else "tab:blue" for p in pairs]
        ax.scatter(xs, ys, c=colours, s=28, zorder=3)
        lo, hi = min(xs + ys), max(xs + ys)
        pad = (hi - lo) * 0.05 or 0.5
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", linestyle="--", linewidth=1, label="no gap")
        for search, held, row in pairs:
            if row.reason == "best":
                ax.annotate(f"best #{row.program_id}", (search, held), textcoords="offset points", xytext=(5, -10), fontsize=8)
        baselines = [r for r in data.references.holdout() if r.score is not None and r.name != "seed"]
        for i, ref in enumerate(r for r in baselines if lo - (hi - lo) <= r.score <= hi + (hi - lo)):
            style = _REFERENCE_STYLES[i % len(_REFERENCE_STYLES)]
            ax.axhline(ref.score, color="tab:red", linestyle=style, linewidth=1.0,
                       label=f"{ref.name.removeprefix('baselines/')} on holdout: {ref.score:.4g}")
        ax.scatter([], [], c="tab:red", label="best program")
        ax.scatter([], [], c="tab:blue", label="best of a cell")
        ax.legend(fontsize=7, loc="best")
    else:
        ax.text(0.5, 0.5, "no program scored on both splits", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"search {data.objective}")
    ax.set_ylabel(f"holdout {data.objective}")
    ax.set_title("search vs holdout")
    ax.grid(True, alpha=0.3)
    return png(figure)


def all_plots(data: ReportData) -> dict[str, bytes]:
    """Every figure the report shows, by file stem."""
    plots = {
        "best_over_time": best_over_time(data),
        "archive": archive_heatmaps(data),
        "outcomes": failure_timeline(data),
    }
    if data.holdout:
        plots["holdout"] = holdout_scatter(data)
    return plots
