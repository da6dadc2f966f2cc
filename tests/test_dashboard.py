import io

from rich.console import Console

from evolve.views.dashboard import Dashboard, PlainLog, heatmap, sparkline
from evolve.views.progress import CandidateRow, RunProgress


def _progress() -> RunProgress:
    progress = RunProgress(budget=10, maximize=True, axis_names=("a", "b"), grid_shape=(3, 2))
    for i, score in enumerate([0.5, 0.7, 0.6, 1.1]):
        progress.record_score(i + 1, score)
        progress.recent.appendleft(CandidateRow(i + 1, 0, "mutator", "mutation", "ok", score, 0.1, 0.2))
    progress.recent.appendleft(CandidateRow(5, 1, "mutator", "mutation", "timeout", None, None, 5.0))
    progress.failures["timeout"] += 1
    progress.evaluated = 5
    progress.grid = [{(0, 0): 0.5, (2, 1): 1.1}, {(1, 1): 0.7}]
    return progress


def test_sparkline_is_monotone_for_best_so_far():
    line = sparkline([0.1, 0.2, 0.2, 0.9])
    assert len(line) == 4 and line[0] == "▁" and line[-1] == "█"
    assert len(sparkline(list(range(500)), width=40)) == 40
    assert sparkline([]) == ""


def test_heatmap_marks_filled_cells_per_island():
    text = heatmap(_progress(), maximize=True).plain
    assert text.count("■") == 3 and "island 0" in text and "island 1" in text
    assert "x: a   y: b" in text


def test_dashboard_renders_everything():
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(Dashboard("demo", "runs/x", console=console).render(_progress()))
    out = console.export_text()
    for needle in ("best 1.1", "recent candidates", "timeout 1", "mutator", "+0.1"):
        assert needle in out


def test_plain_log_prints_one_line_per_new_candidate():
    stream = io.StringIO()
    log = PlainLog(stream)
    progress = _progress()
    log(progress)
    log(progress)  # nothing new: no line
    progress.finished, progress.message = True, "budget spent"
    log(progress)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "timeout" in lines[0] and lines[1] == "stopped: budget spent"
