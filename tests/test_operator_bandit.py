import random

from evolve.proposers.mutator import MutatorProposer
from evolve.proposers.operator_bandit import OperatorBandit
from mutator_corpus import CIRCLES


def test_arms_that_improve_are_drawn_more_often_and_priors_of_zero_never():
    bandit = OperatorBandit({"good": 1.0, "bad": 1.0, "off": 0.0})
    for _ in range(60):
        bandit.record(["good"], True)
        bandit.record(["bad"], False)
    rng = random.Random(0)
    draws = [bandit.weights(rng) for _ in range(200)]
    assert sum(d["good"] > d["bad"] for d in draws) > 190
    assert all(d["off"] == 0.0 for d in draws)
    assert bandit.improvement_rates()["good"] > 0.9 > 0.1 > bandit.improvement_rates()["bad"]


def test_counts_decay_so_the_mix_can_change():
    bandit = OperatorBandit({"a": 1.0}, discount=0.5)
    bandit.record(["a"], True)
    for _ in range(10):
        bandit.record(["a"], False)
    assert bandit.successes["a"] < 0.01 and bandit.failures["a"] > 1.9


def test_state_round_trip():
    bandit = OperatorBandit({"a": 1.0, "b": 2.0})
    bandit.record(["a", "b"], True)
    again = OperatorBandit({"a": 1.0, "b": 2.0})
    again.restore(bandit.state())
    assert again.state() == bandit.state()


def test_the_adaptive_mutator_records_its_operators_and_learns_from_observe():
    proposer = MutatorProposer(adaptive=True)
    proposal = proposer.mutate(CIRCLES, 3)
    assert proposal.ok and proposal.operators and set(proposal.operators) <= set(proposer.weights)
    before = dict(proposer.bandit.successes)
    proposer.observe(proposal, 1.0, 2.0)
    assert all(proposer.bandit.successes[op] > before[op] for op in proposal.operators)
    restored = MutatorProposer(adaptive=True)
    restored.restore(proposer.state())
    assert restored.bandit.state() == proposer.bandit.state()
    assert MutatorProposer().state() == {}  # the default mutator is stateless


def test_the_same_seed_and_state_give_the_same_proposal():
    a, b = MutatorProposer(adaptive=True), MutatorProposer(adaptive=True)
    assert [a.mutate(CIRCLES, s).code for s in range(10)] == [b.mutate(CIRCLES, s).code for s in range(10)]


def test_the_llm_proposer_learns_edit_kinds_when_asked(tmp_path):
    from evolve.config import LLMConfig, ModelSpec
    from evolve.proposers.llm.proposer import LLMProposer
    from evolve.records import Proposal, ProposalUsage

    config = LLMConfig(models=[ModelSpec(name="openai/m", api_base="http://127.0.0.1:9/v1")], adaptive_edit_kinds=True)
    proposer = LLMProposer(config)
    assert set(proposer.edit_kinds.priors) == {"diff", "rewrite", "crossover"}
    usage = ProposalUsage(model="openai/m", edit_kind="rewrite")
    proposer.observe(Proposal("openai/m", "rewrite", code="x = 1", usage=usage, operators=("rewrite",)), 1.0, 2.0)
    assert proposer.edit_kinds.successes["rewrite"] == 1.0
    again = LLMProposer(config)
    again.restore(proposer.state())
    assert again.edit_kinds.state() == proposer.edit_kinds.state()
    assert LLMProposer(LLMConfig(models=config.models)).edit_kinds is None  # off by default
