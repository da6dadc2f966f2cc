import pytest

from evolve.proposers.llm.cache import ReplayMiss, ReplyCache
from evolve.proposers.llm.client import ChatResult

M1 = [{"role": "user", "content": "prompt one"}]
M2 = [{"role": "user", "content": "prompt two"}]


def test_record_then_replay_in_occurrence_order(tmp_path):
    path = tmp_path / "rec" / "replies.jsonl"
    rec = ReplyCache(path, "record")
    rec.store("m", M1, ChatResult("first", 10, 2, "stop"), 0.5)
    rec.store("m", M2, ChatResult("other", 11, 3), 0.25)
    rec.store("m", M1, ChatResult("second", 10, 4), 0.75)
    assert "prompt one" not in path.read_text()  # replies only, never prompts

    play = ReplyCache(path, "replay")
    assert len(play) == 3
    assert play.lookup("m", M1) == (ChatResult("first", 10, 2, "stop"), 0.5)
    assert play.lookup("m", M1)[0].text == "second"
    assert play.lookup("m", M2)[0].text == "other"
    with pytest.raises(ReplayMiss, match="occurrence 2"):
        play.lookup("m", M1)
    with pytest.raises(ReplayMiss, match="model other"):
        ReplyCache(path, "replay").lookup("other", M1)


def test_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "r.jsonl"
    rec = ReplyCache(path, "record")
    rec.store("m", M1, ChatResult("ok", 1, 1), 0.0)
    with path.open("a") as f:
        f.write('{"model": "m", "request_sha256": "ab')  # killed mid-write
    assert len(ReplyCache(path, "replay")) == 1


def test_resumed_recording_continues_occurrences(tmp_path):
    path = tmp_path / "r.jsonl"
    ReplyCache(path, "record").store("m", M1, ChatResult("a", 1, 1), 0.0)
    ReplyCache(path, "record").store("m", M1, ChatResult("b", 1, 1), 0.0)
    play = ReplyCache(path, "replay")
    assert [play.lookup("m", M1)[0].text for _ in range(2)] == ["a", "b"]


def test_replay_state_round_trip_and_missing_file(tmp_path):
    path = tmp_path / "r.jsonl"
    rec = ReplyCache(path, "record")
    for text in "abc":
        rec.store("m", M1, ChatResult(text, 1, 1), 0.0)
    first = ReplyCache(path, "replay")
    first.lookup("m", M1)
    resumed = ReplyCache(path, "replay")
    resumed.restore(first.state())
    assert resumed.lookup("m", M1)[0].text == "b"
    with pytest.raises(FileNotFoundError, match="--record"):
        ReplyCache(tmp_path / "none.jsonl", "replay")
    with pytest.raises(ValueError, match="record"):
        ReplyCache(path, "write")
