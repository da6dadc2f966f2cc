"""What a run found and why, for people: the report, and the data behind ``show``/``lineage``/``failures``/``export``.

- ``queries``: the read-only questions ``RunDatabase`` does not answer (evaluation order
  and time, proposals with their cost);
- ``archive``: the archive rebuilt by replay, as cells with their feature ranges;
- ``lineage``: a program's chain of parents and the diff of each step;
- ``failures``: failures grouped by kind and message signature, and over time;
- ``stats``: best-so-far curves and per-proposer statistics;
- ``references``: the seed's and baselines' scores (baselines scored from the snapshot);
- ``data``: all of it gathered into one ``ReportData``;
- ``detail`` / ``export``: one program in full, and the best programs of every cell as files;
- ``sections``: the report's content as format-neutral blocks;
- ``plots``: the figures (matplotlib, the optional extra ``report``);
- ``html`` / ``markdown``: the two renderings.

``write_report`` is the entry point of ``evolve report`` and of the notebook API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from evolve.report.data import ReportData, gather
from evolve.store.run import Run

Format = Literal["html", "md"]


def write_report(
    run: Run, out: Path | str, *, format: Format = "html", score_baselines: bool = True,
    command: str = "evolve report",
) -> tuple[Path, ReportData]:
    """Write the report of ``run`` and return where (the HTML file, or the Markdown file) and its data.

    ``html``: ``out`` is the file to write. ``md``: ``out`` is a folder that receives
    ``report.md`` and the figures (``figures/*.png``).
    """
    from evolve.report import html, markdown, plots
    from evolve.report.sections import sections

    data = gather(run, score_baselines=score_baselines)
    images = plots.all_plots(data)
    parts = sections(data, command)
    out = Path(out)
    if format == "html":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html.render(parts, images, f"evolve report: {data.problem}"))
        return out, data
    if format == "md":
        figures = out / "figures"
        figures.mkdir(parents=True, exist_ok=True)
        for stem, image in images.items():
            (figures / f"{stem}.png").write_bytes(image)
        target = out / "report.md"
        target.write_text(markdown.render(parts, "figures"))
        return target, data
    raise ValueError(f"unknown report format {format!r}; choose html or md")


__all__ = ["ReportData", "gather", "write_report"]
