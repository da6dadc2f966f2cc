"""``LLMProposer``: the LLM path of the loop, from a ProposalContext to a Proposal.

One proposal: draw the edit kind (diff, rewrite, crossover) from the configured weights
(crossover needs a scored inspiration, else it is a diff); let the bandit pick a model
among those whose circuit is not open (waiting, without spinning, while every circuit is
open or on trial); build the prompt; make the call through the ``Caller`` (budget, slot,
retries, breaker, cache) with the reply capped by ``reply_length.max_tokens_for`` and an
``AnswerWatch`` that ends a streamed reply once its answer is complete; parse and apply
the reply with ``evolve.edits.apply_reply``. Everything that goes wrong becomes
``Proposal.error`` with a reason the next prompt can quote; nothing raises for bad output
or provider errors.

Randomness comes only from ``context.seed``, so with replayed replies a run repeats.
When the budget is spent, or every model is given up (its circuit failed
``breaker_trials`` trials in a row), ``stop_reason`` says so and the controller stops the run.
"""

from __future__ import annotations

import random
from typing import Any

from evolve.edits import EditError, apply_reply
from evolve.proposers.llm.answer import AnswerWatch
from evolve.proposers.llm.bandit import ModelBandit
from evolve.proposers.llm.caller import BUDGET, Caller
from evolve.config.llm import LLMConfig
from evolve.proposers.llm.prompt import build_completion_prompt, build_messages, crossover_partner
from evolve.proposers.llm.reply_length import max_tokens_for
from evolve.proposers.base import ProposalContext, Proposer
from evolve.proposers.operator_bandit import OperatorBandit
from evolve.records import LLMCall, Proposal, ProposalUsage


class LLMProposer(Proposer):
    """Proposals are recorded under the model that made them (``Proposal.proposer``), so the
    database, the dashboard and ``evolve best`` say which model found what; "llm" is the
    name of the proposer as a whole (used when no model was asked)."""

    name = "llm"

    def __init__(self, config: LLMConfig, *, caller: Caller | None = None) -> None:
        if not config.models:
            raise ValueError("LLMProposer needs at least one model: add [[llm.models]] to problem.toml or pass --model")
        self.config = config
        self.caller = caller or Caller(config)
        unpriced = [n for n, p in self.caller.prices.items() if not p.known]
        if config.max_cost is not None and unpriced:
            raise ValueError(
                f"--max-cost needs a price for model {unpriced[0]!r}, which has none (a local server, or a model "
                "missing from the price table): set price_in_per_m and price_out_per_m for it under [[llm.models]] "
                "in problem.toml, or cap the run with --max-calls instead"
            )
        self.bandit = ModelBandit(
            {m.name: m.weight for m in config.models}, mode=config.selection, c=config.ucb_c
        )
        self.edit_kinds = OperatorBandit(config.edit_weights.as_dict()) if config.adaptive_edit_kinds else None
        self._stop_reason: str | None = None

    @property
    def stop_reason(self) -> str | None:
        """Set once the LLM budget is spent: the controller then stops launching proposals."""
        return self._stop_reason

    @property
    def unpriced_models(self) -> list[str]:
        return [n for n, p in self.caller.prices.items() if not p.known]

    async def propose(self, context: ProposalContext) -> Proposal:
        rng = random.Random(context.seed)
        kind = self._edit_kind(context, rng)
        if self._stop_reason:
            return Proposal(self.name, kind, error=self._stop_reason, usage=self._usage(None, kind, []))
        model = await self._choose_model(rng)
        if model is None:
            self._stop_reason = self._stop_reason or self.caller.why_given_up()
            return Proposal(self.name, kind, error=self._stop_reason, usage=self._usage(None, kind, []))
        completion = self.caller.specs[model].prompt_style == "completion"
        if completion:  # a base model continues a few-shot text: full rewrites only, the fence closed by a stop
            kind = "rewrite"
            messages = [{"role": "user", "content": build_completion_prompt(context)}]
        else:
            messages = build_messages(context, kind, max_feedback_chars=self.config.max_feedback_chars)
        partner = crossover_partner(context) if kind == "crossover" else None
        max_tokens = max_tokens_for(
            self.config, self.caller.specs[model], kind, context.parent.code, partner.code if partner else None
        )
        outcome = await self.caller.call(
            model, messages, rng, max_tokens=max_tokens, watch=None if completion else AnswerWatch(kind, context.parent.code)
        )
        usage = self._usage(model, kind, outcome.rows)
        if outcome.result is None:
            if outcome.outcome == BUDGET:
                self._stop_reason = outcome.error
            self._observe_failure(model, usage)
            return Proposal(model, kind, error=outcome.error, usage=usage)
        reply = outcome.result.text
        stored_reply = reply if self.config.store_text else ""  # summary too: it quotes the reply
        summary = summarize(reply) if self.config.store_text else ""
        try:
            if completion:
                code = apply_reply(context.parent.code, f"```python\n{reply.rstrip()}\n```", mode="rewrite")
            else:
                code = apply_reply(context.parent.code, reply, mode="auto")
        except EditError as exc:
            reason = str(exc)
            if outcome.result.finish_reason == "length":
                limit = f" of {max_tokens} tokens; raise max_tokens for {model} under [[llm.models]]" if max_tokens else ""
                reason = f"the reply was cut off at the token limit{limit} (finish_reason=length): {reason}"
            self._observe_failure(model, usage)
            return Proposal(model, kind, error=reason, reply=stored_reply, usage=usage, summary=summary)
        return Proposal(model, kind, code=code, reply=stored_reply, usage=usage, summary=summary, operators=(kind,))

    def observe(self, proposal: Proposal, parent_score: float | None, child_score: float | None) -> None:
        """Reward the model (improvement over the parent, 0 when none or no score, per dollar) and,
        when edit kinds are adaptive, credit the edit kind (a success iff the child beat its parent)."""
        usage = proposal.usage
        if usage is None or not usage.model or usage.observed:
            return
        usage.observed = True
        gain = 0.0
        if parent_score is not None and child_score is not None:
            gain = child_score - parent_score
        self.bandit.record(usage.model, usage.cost, gain)
        if self.edit_kinds is not None and proposal.operators:
            self.edit_kinds.record(proposal.operators, gain > 0)

    def state(self) -> dict:
        state: dict[str, Any] = {"bandit": self.bandit.state(), "budget": self.caller.budget.snapshot()}
        if self.edit_kinds is not None:
            state["edit_kinds"] = self.edit_kinds.state()
        if self.caller.cache is not None:
            state["cache"] = self.caller.cache.state()
        return state

    def restore(self, state: dict) -> None:
        self.bandit.restore(state.get("bandit", {}))
        if self.edit_kinds is not None and "edit_kinds" in state:
            self.edit_kinds.restore(state["edit_kinds"])
        budget = state.get("budget") or {}
        self.caller.budget.restore(float(budget.get("spent", 0.0)), int(budget.get("calls", 0)))
        if self.caller.cache is not None and "cache" in state:
            self.caller.cache.restore(state["cache"])

    def restore_spending(self, spent: float, calls: int) -> None:
        """Seed the budget from the run database's llm_calls totals (authoritative on resume)."""
        self.caller.budget.restore(spent, calls)
        self._stop_reason = self.caller.budget.exhausted_reason()

    async def aclose(self) -> None:
        await self.caller.aclose()

    # -- internals ------------------------------------------------------------------------
    def _edit_kind(self, context: ProposalContext, rng: random.Random) -> str:
        weights = self.config.edit_weights.as_dict()
        if self.edit_kinds is not None:  # its own rng: the proposal's draws stay those of the fixed mix
            weights = self.edit_kinds.weights(random.Random(f"{context.seed}:edit-kinds"))
        if crossover_partner(context) is None:
            weights["crossover"] = 0.0
        if sum(weights.values()) <= 0:
            return "diff"
        return rng.choices(list(weights), weights=list(weights.values()))[0]

    async def _choose_model(self, rng: random.Random) -> str | None:
        """A model to ask, waiting while every circuit is open or on trial; None once all are given up."""
        while not self._stop_reason:
            gone = set(self.caller.given_up())
            live = [n for n in self.caller.specs if n not in gone and self.bandit.weights.get(n, 0) > 0]
            if not live:
                return None
            usable = [n for n in self.caller.usable() if n in live]
            if usable:
                return self.bandit.choose(rng, usable)
            # Every circuit is open, or a half-open trial is in flight: wait for it rather than spin.
            await self.caller.wait_for_trial(self.config.breaker_cooldown_s)
        return None

    def _observe_failure(self, model: str, usage: ProposalUsage) -> None:
        """A proposal with no program is scored now (reward 0, its cost spent): it is never evaluated."""
        if not usage.calls:
            return  # nothing was asked (budget refused): no evidence about the model
        usage.observed = True
        self.bandit.record(model, usage.cost, 0.0)
        if self.edit_kinds is not None and usage.edit_kind:
            self.edit_kinds.record([usage.edit_kind], False)

    def _usage(self, model: str | None, kind: str, rows: list[LLMCall]) -> ProposalUsage:
        return ProposalUsage(model=model, edit_kind=kind, calls=rows, store_text=self.config.store_text)


def summarize(reply: str, limit: int = 160) -> str:
    """The first line of prose in a reply (the model's one-sentence idea), for dashboards."""
    in_fence = False
    for line in reply.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence or not stripped or stripped[0] in "<=>#":
            continue
        return stripped[:limit]
    return ""
