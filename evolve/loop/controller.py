"""The asynchronous steady-state loop: select, propose, commit, evaluate, commit, insert.

Each *pipeline* takes one turn of the loop for one island: draw a parent and inspirations
from the archive as it is now, ask the proposer, commit the proposal (and its program, if
any), evaluate the program on the executor, commit the evaluation, insert into the
archive. Up to ``max_concurrent_proposals + max_concurrent_evaluations`` pipelines run at
once; the proposal step is bounded by ``max_concurrent_proposals`` and the evaluation step
by the executor's slots. There are no generation barriers: a finished evaluation is in the
archive before the next parent is drawn.

The controller is the database's only writer. Every outcome is committed before anything
depends on it, so killing the controller at any instant loses no committed candidate:
``resume`` replays the evaluations into a fresh archive (same order, same archive) and
evaluates the programs that were in flight. The controller is the loop alone: what a
proposal becomes is ``commit.CommitRules``' call, spending is ``ledger.Ledger``'s, the notes
for a parent's next prompts are ``lineage.LineageNotes``', and the archive's policies are
the archive's (``evolve.archive``).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Callable

from evolve.archive import Elite, archive_for
from evolve.edits import evolvable_text
from evolve.evaluation import request_for
from evolve.evaluation.executor import Executor
from evolve.loop import checkpoint
from evolve.loop.cascade import CascadeBars
from evolve.loop.behaviour import BehaviourIndex
from evolve.loop.commit import CommitRules, Verdict
from evolve.loop.holdout import HoldoutGap, holdout_targets
from evolve.loop.ledger import Ledger
from evolve.loop.lineage import LineageNotes
from evolve.proposers.base import ProblemBrief, ProgramView, ProposalContext, Proposer
from evolve.records import EvaluationResult, Program, ProgramKind, Proposal, ProposalOutcome, RunStatus
from evolve.store.run import Run
from evolve.views.progress import CandidateRow, RunProgress

Observer = Callable[[RunProgress], None]


class RunError(Exception):
    """The run cannot go on (for example: the seed program fails to evaluate)."""


@dataclass
class _Parent:
    elite: Elite
    program: Program


class Controller:
    def __init__(self, run: Run, proposer: Proposer, executor: Executor, observer: Observer | None = None) -> None:
        self.run = run
        self.config = run.config
        self.proposer = proposer
        self.executor = executor
        self.observer = observer or (lambda progress: None)
        search = self.config.search
        self.maximize = self.config.objective.maximize
        self._fresh_state()
        self.axes = self.archive.axes
        self._elite_ids: set[int] = set()
        self._stop_reason: str | None = None
        self._tasks: set[asyncio.Task] = set()
        self.interrupted = False  # stopped by a signal (Ctrl-C, SIGTERM) rather than by its budget or a cap
        self._failed_in_row = 0
        self.rules = CommitRules(run.db, novelty=search.novelty_rejection, threshold=search.novelty_threshold)
        self.behaviour = BehaviourIndex(False)  # replay() builds the real one from the database
        self.ledger = Ledger(run.db)
        self._proposal_slots = asyncio.Semaphore(self.config.run.max_concurrent_proposals)

    # -- public ---------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Stop launching pipelines; those in flight finish. Used by budgets and signals."""
        if self._stop_reason is None:
            self._stop_reason = reason

    def interrupt(self, reason: str) -> None:
        """Graceful stop: launch nothing more; in-flight proposals and evaluations finish."""
        self.interrupted = True
        self.request_stop(reason)

    def abort(self, reason: str) -> None:
        """Immediate stop: in-flight work is cancelled. Their programs stay committed without an
        evaluation, so ``resume`` evaluates them; nothing committed is lost."""
        self.interrupt(reason)
        self._stop_reason = reason
        for task in self._tasks:
            task.cancel()

    async def run_loop(self) -> RunProgress:
        """Run until the budget is spent or a stop is requested; return the final progress."""
        db = self.run.db
        db.set_meta("status", RunStatus.RUNNING)
        self.replay()
        self.progress.evaluated_at_start = self.progress.evaluated
        restored = db.get_meta("proposer_state")
        if restored:
            self.proposer.restore(restored)
        self.proposer.restore_spending(self.ledger.cost, self.ledger.calls)  # the rows are authoritative
        await self._ensure_seed()
        totals = db.totals()  # after the seed: the seed does not count against the budget
        self.ledger.reload()
        self._sync_spending()
        pending = [p for p in db.unevaluated() if p.kind != ProgramKind.SEED]  # in flight when the run stopped
        self._programs.update((p.id, p) for p in pending)
        self._rng = random.Random(f"{self.config.run.seed}:{totals.programs}")
        created = totals.programs - 1  # programs other than the seed count against the budget
        self._tasks = tasks = {asyncio.create_task(self._evaluate_and_insert(p)) for p in pending}
        self.progress.in_flight = len(tasks)
        width = self.config.run.max_concurrent_proposals + self.config.run.max_concurrent_evaluations
        reserved = created
        launched = 0
        try:
            while True:
                while self._stop_reason is None and len(tasks) < width and reserved < self.config.run.budget:
                    island = (totals.proposals + launched) % len(self.archive.islands)
                    launched += 1
                    reserved += 1
                    tasks.add(asyncio.create_task(self._pipeline(island, totals.proposals + launched)))
                self.progress.in_flight = len(tasks)
                self._notify()
                if not tasks:
                    break
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                self._tasks = tasks
                for task in done:
                    if task.cancelled():  # aborted: its program (if any) is committed, resume evaluates it
                        continue
                    if not task.result():  # the proposal produced no candidate: free its reservation
                        reserved -= 1
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        finished = self._stop_reason is None or db.totals().programs - 1 >= self.config.run.budget
        if not self.interrupted and self.config.evaluation.holdout and self.config.evaluation.holdout_at_end:
            await self.score_holdout()
        self.progress.message = self._stop_reason or "budget spent"
        self.progress.finished = True
        status = RunStatus.FINISHED if finished else RunStatus.INTERRUPTED if self.interrupted else RunStatus.STOPPED
        db.set_meta("status", status)
        db.set_meta("stop_reason", self.progress.message)
        db.set_meta("archive_fingerprint", self.archive.fingerprint())
        self.save_checkpoint()
        self._notify()
        return self.progress

    # -- start-up -----------------------------------------------------------------------
    def _fresh_state(self) -> None:
        """The state that replaying evaluations rebuilds, empty."""
        self.archive = archive_for(self.config)
        self.progress = RunProgress(budget=self.config.run.budget, maximize=self.maximize)
        self.progress.axis_names = tuple(a.name for a in self.archive.axes)
        self.progress.grid_shape = tuple(a.bins for a in self.archive.axes)
        self.cascade = CascadeBars(self.config.stages, self.maximize)
        self.notes = LineageNotes()
        self._programs: dict[int, Program] = {}

    def replay(self) -> None:
        """Rebuild the archive and progress from committed evaluations, in commit order: from the
        resume checkpoint and the evaluations after it when it verifies, else from the first."""
        after = self._restore_checkpoint()
        for program in self.run.db.evaluated(after=after):
            self._programs[program.id] = program
            self._account(program, replay=True)
        self._refresh_grid()
        for elite in self.archive.all_elites():
            self.rules.index(elite.program_id, elite.code)
        enabled = self.config.evaluation.behavioural_duplicates and self.run.problem.has_fingerprint
        self.behaviour = BehaviourIndex(enabled, self.run.db.fingerprints())

    def _restore_checkpoint(self) -> int:
        """Restore the stored checkpoint; the evaluation row it covers (0: none, or it did not verify)."""
        state = self.run.db.get_meta("checkpoint")
        if not state:
            return 0
        try:
            programs = self.run.db.programs(checkpoint.elite_ids(state))
            if checkpoint.restore(state, self.archive, self.cascade, self.progress, self.notes, programs):
                self._programs.update(programs)
                for key, digest in state["prints"].items():
                    self.rules.index_fingerprint(int(key), programs[int(key)].code, bytes.fromhex(digest))
                return int(state["evaluation_id"])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            pass
        self._fresh_state()  # fall back to the full replay, the definition
        return 0

    def save_checkpoint(self) -> None:
        elites = {e.program_id for e in self.archive.all_elites()}
        state = checkpoint.capture(self.archive, self.cascade, self.progress, self.notes, self.run.db.last_evaluation(),
                                   self.rules.fingerprints(elites))
        self.run.db.set_meta("checkpoint", state)

    async def _ensure_seed(self) -> None:
        db = self.run.db
        seed = next((p for p in db.unevaluated() if p.kind == ProgramKind.SEED), None)
        if seed is None and db.totals().programs == 0:
            seed = db.add_seed(self.run.problem.initial_code, island=0)
        if seed is not None:
            self._programs[seed.id] = seed
            await self._evaluate_and_insert(seed)
        if self.archive.best() is None:
            first = db.program(1)
            ev = first.evaluation if first else None
            detail = f"{ev.failure_kind}: {ev.failure_message}" if ev else "not evaluated"
            if ev is not None and ev.ok:
                detail = f"it stopped at the cascade stage '{self._stage_name(ev.stage)}' (score {ev.score:.6g} missed its bar)"
            raise RunError(f"the seed program (initial.py) failed to evaluate, so there is nothing to evolve from: {detail}")

    # -- one pipeline -------------------------------------------------------------------
    async def _pipeline(self, island: int, index: int) -> bool:
        """One proposal and, if it yields a program, its evaluation. True iff a program was created."""
        async with self._proposal_slots:
            parent = self._select_parent(island)
            inspirations = self.archive.inspirations(island, parent.elite, self.config.search.num_inspirations, self._rng)
            context = ProposalContext(
                problem=self._brief(),
                parent=self._view(parent.program),
                inspirations=tuple(self._view(self._programs[e.program_id]) for e in inspirations),
                island=island,
                seed=hash_seed(self.config.run.seed, index),
                notes=self.notes.for_parent(parent.program.id),
            )
            started = time.perf_counter()
            try:
                proposal = await self.proposer.propose(context)
            except Exception as exc:  # a proposer bug must not kill the run: record it like a bad reply
                proposal = Proposal(self.proposer.name, ProgramKind.UNKNOWN, error=f"proposer raised {exc!r}")
            latency = time.perf_counter() - started
        if self.proposer.stop_reason:  # e.g. the LLM budget is spent
            self.request_stop(self.proposer.stop_reason)
        verdict = self.rules.judge(proposal, self._elite_ids)
        probe, meaning = None, "unique"
        if verdict.is_candidate and self.behaviour.active:
            probe = await self.executor.evaluate(
                request_for(self.config, str(self.run.problem.root), proposal.code or "", mode="fingerprint")
            )
            meaning = self.behaviour.judge_probe(probe)
            if meaning == "duplicate":
                twin = self.behaviour.twin(probe.fingerprint)
                verdict = Verdict(ProposalOutcome.BEHAVIOURAL_DUPLICATE, f"behaves exactly like program {twin} on the problem's probe")
                self.behaviour.saved += 1
                self.progress.behaviour_saved = self.behaviour.saved
        program = self._commit_proposal(island, parent.program, [e.program_id for e in inspirations], proposal, latency, verdict)
        if program is None:
            return False
        if probe is not None and meaning == "failed":  # it failed in the probe: that is its evaluation
            await self._evaluate_and_insert(program, proposal, result=probe)
        else:
            await self._evaluate_and_insert(program, proposal, fingerprint=probe.fingerprint if probe is not None else "")
        return True

    def _select_parent(self, island: int) -> _Parent:
        elite = self.archive.select_parent(island, self._rng)
        return _Parent(elite, self._programs[elite.program_id])

    def _commit_proposal(
        self, island: int, parent: Program, inspiration_ids: list[int], proposal: Proposal, latency: float,
        verdict: Verdict,
    ) -> Program | None:
        """Commit the judged proposal (with its program if it is a candidate) and its LLM calls."""
        program_row = None
        if verdict.is_candidate:
            program_row = dict(
                code=proposal.code, generation=parent.generation + 1, proposer=proposal.proposer, kind=proposal.kind
            )
        proposal_id, program = self.run.db.add_proposal(
            island=island, parent_id=parent.id, inspiration_ids=inspiration_ids, proposer=proposal.proposer,
            kind=proposal.kind, outcome=verdict.outcome, message=verdict.message, summary=proposal.summary,
            latency_s=latency, program=program_row,
        )
        self.ledger.record(proposal_id, proposal.usage)
        self.progress.llm.observe(proposal.usage.calls if proposal.usage else [])
        self._sync_spending()
        self.progress.proposals += 1
        if program is None:
            if proposal.ok:  # rejected unevaluated: no improvement
                self.proposer.observe(proposal, self._fitness(parent), None)
            self.progress.proposals_failed += 1
            self.progress.proposal_failures[verdict.outcome.value] += 1
            self.notes.rejected_proposal(parent.id, proposal.kind, verdict.outcome.value, verdict.message)
            self.progress.recent.appendleft(
                CandidateRow(0, island, proposal.proposer, proposal.kind, verdict.outcome.value, None, None, latency,
                             verdict.message[:80])
            )
            self._failed_in_row += 1
            if self._failed_in_row >= self.config.run.max_failed_proposals_in_row:
                self.request_stop(f"{self._failed_in_row} proposals in a row produced no candidate; last: {verdict.message}")
            self._notify()
            return None
        self._failed_in_row = 0
        self._programs[program.id] = program
        return program

    async def score_holdout(self) -> HoldoutGap | None:
        """Score the best program (and each cell's best) on the holdout split; the best's gap.

        Programs already scored on the holdout split are not scored again. The verdicts are
        committed to the holdout table only: nothing of them enters the archive, the
        progress the proposers see, or a prompt.
        """
        targets = holdout_targets(self.archive, cells=self.config.evaluation.holdout_cells)
        if not targets:
            return None
        done = self.run.db.holdout_results()
        todo = [(pid, reason) for pid, reason in targets if pid not in done]
        self.progress.message = f"scoring {len(todo)} program(s) on the holdout split"
        self._notify()

        async def one(program_id: int, reason: str) -> None:
            program = self._program(program_id)
            assert program is not None
            request = request_for(
                self.config, str(self.run.problem.root), program.code, program_id=program_id, split="holdout"
            )
            result = await self.executor.evaluate(request)
            self.run.db.add_holdout(program_id, result, reason)
            done[program_id] = result

        await asyncio.gather(*(one(pid, reason) for pid, reason in todo))
        best_id = targets[0][0]
        holdout = done[best_id]
        gap = HoldoutGap(best_id, self._program(best_id).score or 0.0, holdout.score if holdout.ok else None)
        self.progress.holdout = gap
        self.progress.holdout_scored = len(done)
        return gap

    async def _evaluate_and_insert(
        self, program: Program, proposal: Proposal | None = None, *, fingerprint: str = "",
        result: EvaluationResult | None = None,
    ) -> bool:
        """Evaluate ``program`` (unless ``result``, a probe's failure, already is its evaluation),
        commit the evaluation, and insert it into the archive."""
        if result is None:
            request = request_for(
                self.config, str(self.run.problem.root), program.code, program_id=program.id,
                stage_bars=self.cascade.bars(), fingerprint=fingerprint,
            )
            result = await self.executor.evaluate(request)
        self.behaviour.add(result.fingerprint, program.id)
        program.evaluation = result
        self.run.db.add_evaluation(program.id, result)
        self._account(program)
        if self.progress.evaluated % checkpoint.EVERY == 0:
            self.save_checkpoint()
        if proposal is not None:
            parent = self._program(program.parent_id)
            self.proposer.observe(proposal, self._fitness(parent), self._fitness(program))
            state = self.proposer.state()
            if state:
                self.run.db.set_meta("proposer_state", state)
        self._notify()
        return True

    # -- bookkeeping --------------------------------------------------------------------
    def _account(self, program: Program, replay: bool = False) -> None:
        """Insert an evaluated program into the archive and the progress counters."""
        result = program.evaluation
        assert result is not None
        progress = self.progress
        progress.evaluated += 1
        self.cascade.observe(result)
        progress.cascade_stopped, progress.cascade_saved = self.cascade.stopped, self.cascade.saved
        parent = self._program(program.parent_id)
        parent_score = parent.score if parent else None
        changed = False  # whether the archive's elites changed (then the grid view is refreshed)
        if result.ok and not result.complete:
            status = f"stopped@{self._stage_name(result.stage)}"
            if program.parent_id is not None:
                self.notes.stopped_child(program.parent_id, self._stage_name(result.stage), result.score or 0.0)
        elif result.ok and result.score is not None:
            progress.succeeded += 1
            features = dict(result.features)
            features["code_size"] = float(len(evolvable_text(program.code)))
            island = None if program.kind == ProgramKind.SEED else program.island
            migrations = self.archive.migrations
            outcome = self.archive.insert(program.id, self._fitness(program), features, program.code, island)
            changed = outcome != "rejected" or self.archive.migrations != migrations
            if not replay and outcome != "rejected":
                self.rules.index(program.id, program.code)
            progress.record_score(program.id, result.score)
            status = "ok"
        else:
            progress.failures[result.failure_kind or "unknown"] += 1
            status = result.failure_kind or "failed"
            if program.parent_id is not None:
                self.notes.failed_child(program.parent_id, status, result.failure_message)
        delta = None
        if result.complete and parent_score is not None and result.score is not None:
            delta = (result.score - parent_score) if self.maximize else (parent_score - result.score)
        progress.recent.appendleft(
            CandidateRow(program.id, program.island, program.proposer, program.kind, status, result.score, delta, result.duration_s)
        )
        if not replay and changed:
            self._refresh_grid()

    def _program(self, program_id: int | None) -> Program | None:
        """A program by id: from memory, else (after a checkpoint resume) from the database, then kept."""
        if program_id is None:
            return None
        program = self._programs.get(program_id)
        if program is None and (program := self.run.db.program(program_id)) is not None:
            self._programs[program_id] = program
        return program

    def _stage_name(self, stage: int) -> str:
        stages = self.config.stages
        return stages[stage].name if stage < len(stages) else str(stage)

    def _sync_spending(self) -> None:
        self.progress.llm_calls, self.progress.llm_cost = self.ledger.calls, self.ledger.cost

    def _refresh_grid(self) -> None:
        sign = 1.0 if self.maximize else -1.0
        self.progress.grid = [{c: sign * e.fitness for c, e in island.elites.items()} for island in self.archive.islands]
        self._elite_ids = {e.program_id for island in self.archive.islands for e in island.elites.values()}
        self.progress.coverage = self.archive.coverage()
        self.progress.qd_score = self.archive.qd_score()

    def _fitness(self, program: Program | None) -> float | None:
        if program is None or program.score is None:
            return None
        return program.score if self.maximize else -program.score

    def _brief(self) -> ProblemBrief:
        cfg = self.config
        return ProblemBrief(cfg.problem.name, cfg.problem.description, cfg.objective.name, cfg.objective.maximize)

    def _view(self, program: Program) -> ProgramView:
        ev = program.evaluation
        feedback = ""
        if ev is not None:
            feedback = ev.feedback if ev.ok else f"{ev.failure_kind}: {ev.failure_message}"
        return ProgramView(
            id=program.id, code=program.code, score=program.score, metrics=dict(ev.metrics) if ev else {},
            feedback=feedback, instances=dict(ev.instances) if ev else {}, failure_kind=ev.failure_kind if ev else None,
            island=program.island, generation=program.generation,
        )

    def _notify(self) -> None:
        self.observer(self.progress)


def hash_seed(run_seed: int, index: int) -> int:
    """A per-proposal seed that depends only on the run seed and the proposal's index."""
    return random.Random(f"{run_seed}/{index}").getrandbits(63)
