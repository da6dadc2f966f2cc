"""Model health as the user sees it: calls by outcome, the latest failure, and advice after timeouts."""

import io

from rich.console import Console

from evolve.proposers.llm.advice import Advisor, ModelPace, Settings, advise
from evolve.records import LLMCall
from evolve.views.dashboard import Dashboard, PlainLog
from evolve.views.progress import CandidateRow, RunProgress

SETTINGS = Settings(timeout_s=20, max_tokens=1200, capacity=None, capacity_source="none", peak_in_flight=4, stream=True)


def call(outcome="ok", error="", first=None, rate=None, reply="", tokens=0, advice="", model="openai/local"):
    return LLMCall(model=model, prompt="p", created_at=0.0, outcome=outcome, error=error, first_token_s=first,
                   tokens_per_s=rate, reply=reply, completion_tokens=tokens, advice=advice)


def test_advice_comes_once_at_the_threshold_with_the_measured_pace():
    advisor = Advisor("openai/local", threshold=3)
    assert advisor.observe(call(first=8.0, rate=14.5), SETTINGS) == ""
    assert advisor.observe(call(first=9.0, rate=15.5), SETTINGS) == ""
    lines = [advisor.observe(call("timeout", "no token within 20s"), SETTINGS) for _ in range(4)]
    assert lines[0] == lines[1] == lines[3] == "" and lines[2]
    line = lines[2]
    assert line.startswith("openai/local: 3 attempts in a row timed out before the first token")
    assert "measured 15.0 tokens/s, first token after up to 9.0 s" in line
    assert "timeout_s = 40 (now 20)" in line  # max(2 x 20, 3 x 9) rounded up to 5 s
    assert "max_concurrent = 1" in line and "4 requests were in flight" in line
    assert "max_tokens = 1200 is 80 s of generation at that rate" in line


def test_an_ok_call_resets_the_streak_and_other_errors_do_not_count():
    advisor = Advisor("m", threshold=2)
    assert advisor.observe(call("timeout"), SETTINGS) == ""
    assert advisor.observe(call("http_error"), SETTINGS) == ""
    assert advisor.observe(call("ok", rate=10.0), SETTINGS) == ""
    assert advisor.observe(call("timeout"), SETTINGS) == ""
    assert advisor.observe(call("timeout"), SETTINGS) != ""


def test_advice_for_stalls_known_slots_and_unstreamed_calls():
    pace = ModelPace()
    pace.add(call(first=2.0, rate=8.0))
    known = Settings(timeout_s=5, max_tokens=800, capacity=1, capacity_source="server", peak_in_flight=1, stream=True)
    line = advise("m", 3, 2, pace, known)
    assert "(2 stalled mid-reply, 1 before the first token)" in line and "max_concurrent" not in line
    unstreamed = Settings(timeout_s=30, max_tokens=800, capacity=1, capacity_source="config", peak_in_flight=1,
                          stream=False)
    assert "more than timeout_s: set stream = true or timeout_s >= 150" in advise("m", 3, 0, pace, unstreamed)
    assert "no reply measured yet" in advise("m", 3, 0, ModelPace(), known)


def progress() -> RunProgress:
    progress = RunProgress(budget=10, maximize=True)
    progress.recent.appendleft(CandidateRow(0, 0, "openai/local", "diff", "edit_failed", None, None, 40.0))
    progress.proposals_failed = 1
    return progress


def test_health_counts_calls_by_outcome_group_and_keeps_the_latest_failure_and_advice():
    p = progress()
    p.llm.observe([call("ok", rate=12.0), call("timeout", "no token within 20s"), call("rate_limited", "HTTP 429"),
                   call("connection_error", "refused", advice="openai/local: do this")])
    assert p.llm.counts() == "ok 1, timeout 1, rate-limited 1, error 1" and p.llm.failures == 3
    assert p.llm.last_failure == "openai/local: connection_error: refused" and p.llm.advice == "openai/local: do this"
    assert p.llm.tokens_per_s == 12.0


def test_plain_lines_name_failed_calls_once_each_and_the_advice_once():
    stream = io.StringIO()
    log = PlainLog(stream)
    p = progress()
    p.llm.observe([call("timeout", "no token within 20s")])
    log(p)
    p.llm.observe([call("timeout", "no token within 20s", advice="openai/local: raise timeout_s")])
    p.proposals_failed += 1
    log(p)
    log(p)  # nothing new
    lines = stream.getvalue().splitlines()
    llm = [line for line in lines if line.startswith("llm calls:")]
    assert llm == ["llm calls: ok 0, timeout 1, rate-limited 0, error 0; last failure: openai/local: timeout: no token within 20s",
                   "llm calls: ok 0, timeout 2, rate-limited 0, error 0; last failure: openai/local: timeout: no token within 20s"]
    assert [line for line in lines if line.startswith("advice:")] == ["advice: openai/local: raise timeout_s"]


def test_the_dashboard_shows_model_health():
    p = progress()
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(Dashboard("demo", "runs/x", console=console).render(p))
    assert "LLM calls" not in console.export_text()  # no call yet: no line
    p.llm.observe([call("ok", rate=9.5), call("timeout", "the reply stalled", advice="openai/local: raise timeout_s")])
    console.print(Dashboard("demo", "runs/x", console=console).render(p))
    out = console.export_text()
    assert "LLM calls: ok 1, timeout 1, rate-limited 0, error 0" in out and "9.5 tokens/s" in out
    assert "last failure: openai/local: timeout: the reply stalled" in out and "advice: openai/local: raise timeout_s" in out
