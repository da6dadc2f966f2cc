"""The best programs of every archive cell as files, for ``evolve export``.

Every program whose evaluation completed is binned into its cell (the evaluator's features
plus ``code_size``, clipped to the axis ranges, as the archive bins it); the ``top`` best
of each cell, over all islands, are written as ``<dir>/<cell>/<rank>-program<id>.py`` with
a ``.json`` beside each (its search and holdout verdicts, lineage links, the cell's feature
ranges), and ``<dir>/index.json`` lists them all, best cell first.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from evolve.report.archive import bin_range, cell_of_program
from evolve.store.run import Run
from evolve.views import summary as summary_views

INDEX = "index.json"


def cell_name(cell: tuple[int, ...]) -> str:
    return "cell-" + "-".join(f"{i:02d}" for i in cell) if cell else "cell"


def export_top(run: Run, out: Path, top: int) -> list[dict[str, Any]]:
    """Write the ``top`` best programs of every cell under ``out``; return the index rows (best cell first)."""
    if top < 1:
        raise ValueError(f"--top must be at least 1, got {top}")
    config = run.config
    axes = config.feature_axes()
    maximize = config.objective.maximize
    cells: dict[tuple[int, ...], list] = defaultdict(list)
    for program in run.db.evaluated():
        if program.score is not None:
            cells[cell_of_program(axes, program)].append(program)
    sign = -1.0 if maximize else 1.0
    order = sorted(cells, key=lambda c: min(sign * p.score for p in cells[c]))
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for cell in order:
        ranked = sorted(cells[cell], key=lambda p: (sign * p.score, p.id))[:top]
        ranges = {axis.name: list(bin_range(axis, i)) for axis, i in zip(axes, cell)}
        folder = out / cell_name(cell)
        folder.mkdir(exist_ok=True)
        for rank, program in enumerate(ranked, start=1):
            stem = f"{rank}-program{program.id}"
            (folder / f"{stem}.py").write_text(program.code)
            record = summary_views.program_data(run, program, code=False)
            record.update(cell=list(cell), cell_ranges=ranges, rank=rank, objective=config.objective.name)
            (folder / f"{stem}.json").write_text(json.dumps(record, indent=2))
            index.append({
                "cell": list(cell), "cell_ranges": ranges, "rank": rank, "program_id": program.id,
                "score": program.score, "file": f"{folder.name}/{stem}.py",
            })  # fmt: skip
    (out / INDEX).write_text(json.dumps({"run": str(run.directory), "objective": config.objective.name,
                                         "direction": config.objective.direction, "top": top, "programs": index},
                                        indent=2))  # fmt: skip
    return index
