"""The dashboard says what a user needs: scales, legends, a windowed rate and ETA, why things fail, what next."""

import io

from rich.console import Console

from evolve.config import FeatureAxis
from evolve.views.dashboard import Dashboard, best_line, heatmap
from evolve.views.progress import CandidateRow, RunProgress
from evolve.views.rate import WindowedRate, duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_windowed_rate_follows_the_recent_pace_not_the_average():
    clock = Clock()
    rate = WindowedRate(window_s=10, clock=clock)
    assert rate.rate() is None and rate.eta(5) is None
    for _ in range(30):  # 30 s at 2 per second
        clock.now += 1
        rate.observe(int(2 * (clock.now - 100)))
    assert abs(rate.rate() - 2.0) < 0.25
    done = int(2 * (clock.now - 100))
    for _ in range(20):  # then 20 s at 0.5 per second
        clock.now += 2
        done += 1
        rate.observe(done)
    assert abs(rate.rate() - 0.5) < 0.1  # a cumulative average would still say about 1.4
    assert abs(rate.eta(10) - 20.0) < 5
    clock.now += 60  # a stall: the rate falls instead of freezing
    assert rate.rate() < 0.2


def test_durations_read_naturally():
    assert [duration(s) for s in (None, 0, 59, 75, 3725)] == ["—", "0s", "59s", "1m15s", "1h02m"]


def _progress(**extra) -> RunProgress:
    progress = RunProgress(budget=100, maximize=True, axis_names=("a", "b"), grid_shape=(3, 2), **extra)
    for i, score in enumerate([0.5, 0.7, 1.1]):
        progress.record_score(i + 1, score)
    progress.evaluated = 4
    progress.grid = [{(0, 0): 0.5, (2, 1): 1.1}, {(1, 1): 0.7}]
    return progress


def _render(dashboard: Dashboard, progress: RunProgress, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(dashboard.render(progress))
    return console.export_text()


def test_heat_maps_carry_a_colour_legend_and_the_axis_ranges():
    axes = [FeatureAxis(name="a", min=0, max=3, bins=3), FeatureAxis(name="b", min=-1, max=1, bins=2)]
    text = heatmap(_progress(), maximize=True, axes=axes).plain
    assert text.count("■") == 3  # one mark per filled cell; the legend uses its own glyph
    assert "worst 0.5 .. best 1.1" in text
    assert "x →: a 0..3 (3 bins)" in text and "y ↑: b -1..1 (2 bins)" in text
    first = text.splitlines()[0]
    assert "island 0" in first and "island 1 (1 elite)" in first  # islands side by side


def test_minimised_objectives_name_the_low_end_best():
    progress = _progress()
    progress.maximize = False
    assert "worst 1.1 .. best 0.5" in heatmap(progress, maximize=False).plain


def test_best_line_shows_its_scale():
    text = best_line(_progress()).plain
    assert text.startswith("best over time  0.5 ") and " 1.1 " in text and "+0.6" in text and "higher is better" in text


def test_header_counts_cells_explains_a_zero_qd_score_and_shows_the_eta():
    progress = _progress()
    progress.qd_score = 0.0
    dashboard = Dashboard("demo", "runs/x")
    dashboard(progress)
    out = _render(dashboard, progress)
    assert "3/12 cells (25.0%)" in out
    assert "qd_score_offset" in out  # 0 with elites is explained, not shown bare
    assert "ETA" in out and "rate" in out and "(last 30 s)" in out


def test_each_failure_kind_shows_its_latest_message_read_once():
    messages = {7: "Traceback ...\nZeroDivisionError: division by zero", 9: "circles 1 and 2 overlap by 0.1"}
    asked = []

    def describe(program_id: int) -> str:
        asked.append(program_id)
        return messages[program_id]

    progress = _progress()
    dashboard = Dashboard("demo", "runs/x", describe_failure=describe)
    for program_id, kind in ((7, "exception"), (8, "ok"), (9, "invalid_output")):
        progress.recent.appendleft(CandidateRow(program_id, 0, "mutator", "mutation", kind, None, None, 0.1))
        if kind != "ok":
            progress.failures[kind] += 1
        dashboard(progress)
    progress.recent.appendleft(CandidateRow(0, 1, "mutator", "mutation", "duplicate", None, None, 0.0, "identical to program 3"))
    progress.proposal_failures["duplicate"] += 1
    dashboard(progress)
    out = _render(dashboard, progress)
    assert "exception 1" in out and "latest (#7): ZeroDivisionError: division by zero" in out
    assert "invalid_output 1" in out and "latest (#9): circles 1 and 2 overlap by 0.1" in out
    assert "latest duplicate: identical to program 3" in out
    _render(dashboard, progress)
    assert sorted(asked) == [7, 9]  # each message read once, however often the view redraws


def test_a_finished_run_names_the_next_commands():
    progress = _progress()
    progress.finished, progress.message = True, "budget spent"
    out = _render(Dashboard("demo", "runs/demo-1"), progress, width=200)
    assert "budget spent" in out and "evolve best runs/demo-1" in out and "evolve report runs/demo-1" in out
    assert "ETA done" in out


def test_no_failed_evaluation_and_the_rejected_proposals_are_two_lines():
    progress = _progress()
    progress.failures.clear()
    progress.proposal_failures["duplicate"] += 6
    lines = [line.strip(" │") for line in _render(Dashboard("demo", "runs/x"), progress, width=200).splitlines()]
    assert any(line.startswith("failed evaluations: none") and "rejected" not in line for line in lines), lines
    assert any(line.startswith("rejected proposals: duplicate 6") for line in lines), lines
