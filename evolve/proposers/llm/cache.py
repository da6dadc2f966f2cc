"""Record/replay of model replies, so a run can be re-executed without the network.

An entry is keyed by ``(model, sha256 of the request's messages, occurrence)`` where
occurrence counts how many times that same request was answered before in the run: a
search that sends one prompt twice (likely with an unchanged parent) gets its two
different replies back in order. The file is JSONL, one successful reply a line, appended
and flushed as it comes (a killed run keeps what it recorded; a torn last line is
skipped on load). It holds replies and token counts, never prompts or keys.

Replay answers from the file with the recorded tokens and cost, so the budget and the
model bandit see exactly what the recorded run saw and make the same choices: with the
same seed and settings the re-executed run sends the same prompts, as far as the loop's
schedule is deterministic: with one proposal at a time and replies that all become
candidates it is; with concurrent proposals a fast-failing proposal races evaluations, so
a prompt may show an elite in one run and not in the other. A request the file does not
have is an explicit ``replay_miss`` outcome (recorded; the run goes on), never a silent
network call.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from evolve.proposers.llm.client import ChatResult


def request_hash(messages: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ReplayMiss(Exception):
    """The recording has no reply for this request."""


class ReplyCache:
    """``mode`` is "record" (append replies to ``path``) or "replay" (answer from it)."""

    def __init__(self, path: str | Path, mode: str) -> None:
        if mode not in ("record", "replay"):
            raise ValueError(f"cache mode must be 'record' or 'replay', got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self._entries: dict[tuple[str, str, int], dict[str, Any]] = {}
        if mode == "replay":
            if not self.path.is_file():
                raise FileNotFoundError(f"--replay {self.path}: no such recording (make one with --record)")
            self._load()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.is_file():  # appending to an earlier recording (a resumed run): continue its counts
                self._load()
                for model, digest, occurrence in self._entries:
                    key = f"{model}|{digest}"
                    self._seen[key] = max(self._seen[key], occurrence + 1)
                self._entries.clear()

    def _load(self) -> None:
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key = (entry["model"], entry["request_sha256"], int(entry["occurrence"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a torn line from a killed recording
            self._entries[key] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, model: str, messages: list[dict[str, str]]) -> tuple[ChatResult, float]:
        """Replay: the next recorded reply to this request and its recorded cost, or ReplayMiss."""
        digest = request_hash(messages)
        with self._lock:
            occurrence = self._seen[f"{model}|{digest}"]
            entry = self._entries.get((model, digest, occurrence))
            if entry is None:
                raise ReplayMiss(
                    f"replay: no recorded reply for model {model}, request {digest[:12]} (occurrence {occurrence}); "
                    "the run diverged from the recording (different seed, settings or code?)"
                )
            self._seen[f"{model}|{digest}"] += 1
        result = ChatResult(entry["reply"], int(entry["prompt_tokens"]), int(entry["completion_tokens"]), entry.get("finish_reason"))
        return result, float(entry.get("cost", 0.0))

    def store(self, model: str, messages: list[dict[str, str]], result: ChatResult, cost: float) -> None:
        """Record: append one successful reply."""
        digest = request_hash(messages)
        with self._lock:
            occurrence = self._seen[f"{model}|{digest}"]
            self._seen[f"{model}|{digest}"] += 1
            line = json.dumps(
                {
                    "model": model, "request_sha256": digest, "occurrence": occurrence, "reply": result.text,
                    "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                    "finish_reason": result.finish_reason, "cost": cost,
                },
                ensure_ascii=False,
            )
            with self.path.open("a") as f:
                f.write(line + "\n")
                f.flush()

    def state(self) -> dict[str, int]:
        with self._lock:
            return dict(self._seen)

    def restore(self, state: dict[str, int]) -> None:
        with self._lock:
            self._seen = Counter({k: int(v) for k, v in state.items()})
