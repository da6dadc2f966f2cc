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
from evolve.loop.cascade import CascadeBars
from evolve.loop.commit import CommitRules
from evolve.loop.holdout import HoldoutGap, holdout_targets
from evolve.loop.ledger import Ledger
from evolve.loop.lineage import LineageNotes
from evolve.proposers.base import ProblemBrief, ProgramView, ProposalContext, Proposer
from evolve.records import Program, ProgramKind, Proposal, ProposalOutcome, RunStatus
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
        self.archive = archive_for(self.config)
        self.axes = self.archive.axes
        self.maximize = self.config.objective.maximize
        self.progress = RunProgress(budget=self.config.run.budget, maximize=self.maximize)
        self.progress.axis_names = tuple(a.name for a in self.axes)
        self.progress.grid_shape = tuple(a.bins for a in self.axes)
        self._programs: dict[int, Program] = {}
        self._stop_reason: str | None = None
        self._failed_in_row = 0
        self.notes = LineageNotes()
        self.rules = CommitRules(run.db, novelty=search.novelty_rejection, threshold=search.novelty_threshold)
        self.ledger = Ledger(run.db)
        self.cascade = CascadeBars(self.config.stages, self.maximize)
        self._proposal_slots = asyncio.Semaphore(self.config.run.max_concurrent_proposals)

    # -- public ---------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Stop launching pipelines; those in flight finish. Used by budgets and signals."""
        if self._stop_reason is None:
            self._stop_reason = reason

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
        tasks: set[asyncio.Task] = {asyncio.create_task(self._evaluate_and_insert(p)) for p in pending}
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
                for task in done:
                    if not task.result():  # the proposal produced no candidate: free its reservation
                        reserved -= 1
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        finished = self._stop_reason is None or db.totals().programs - 1 >= self.config.run.budget
        if self.config.evaluation.holdout and self.config.evaluation.holdout_at_end:
            await self.score_holdout()
        self.progress.message = self._stop_reason or "budget spent"
        self.progress.finished = True
        db.set_meta("status", RunStatus.FINISHED if finished else RunStatus.STOPPED)
        db.set_meta("stop_reason", self.progress.message)
        db.set_meta("archive_fingerprint", self.archive.fingerprint())
        self._notify()
        return self.progress

    # -- start-up -----------------------------------------------------------------------
    def replay(self) -> None:
        """Rebuild the archive and progress from committed evaluations, in commit order."""
        for program in self.run.db.evaluated():
            self._programs[program.id] = program
            self._account(program, replay=True)
        self._refresh_grid()

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
        program = self._commit_proposal(island, parent.program, [e.program_id for e in inspirations], proposal, latency)
        if program is None:
            return False
        await self._evaluate_and_insert(program, proposal)
        return True

    def _select_parent(self, island: int) -> _Parent:
        elite = self.archive.select_parent(island, self._rng)
        return _Parent(elite, self._programs[elite.program_id])

    def _commit_proposal(
        self, island: int, parent: Program, inspiration_ids: list[int], proposal: Proposal, latency: float
    ) -> Program | None:
        """Judge the proposal, commit it (with its program if it is a candidate) and its LLM calls."""
        verdict = self.rules.judge(proposal, self._elite_codes)
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
            program = self._programs[program_id]
            request = request_for(
                self.config, str(self.run.problem.root), program.code, program_id=program_id, split="holdout"
            )
            result = await self.executor.evaluate(request)
            self.run.db.add_holdout(program_id, result, reason)
            done[program_id] = result

        await asyncio.gather(*(one(pid, reason) for pid, reason in todo))
        best_id = targets[0][0]
        holdout = done[best_id]
        gap = HoldoutGap(best_id, self._programs[best_id].score or 0.0, holdout.score if holdout.ok else None)
        self.progress.holdout = gap
        self.progress.holdout_scored = len(done)
        return gap

    async def _evaluate_and_insert(self, program: Program, proposal: Proposal | None = None) -> bool:
        request = request_for(
            self.config, str(self.run.problem.root), program.code, program_id=program.id, stage_bars=self.cascade.bars()
        )
        result = await self.executor.evaluate(request)
        program.evaluation = result
        self.run.db.add_evaluation(program.id, result)
        self._account(program)
        if proposal is not None:
            parent = self._programs.get(program.parent_id or -1)
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
        parent = self._programs.get(program.parent_id or -1)
        parent_score = parent.score if parent else None
        if result.ok and not result.complete:
            status = f"stopped@{self._stage_name(result.stage)}"
            if program.parent_id is not None:
                self.notes.stopped_child(program.parent_id, self._stage_name(result.stage), result.score or 0.0)
        elif result.ok and result.score is not None:
            progress.succeeded += 1
            features = dict(result.features)
            features["code_size"] = float(len(evolvable_text(program.code)))
            island = None if program.kind == ProgramKind.SEED else program.island
            self.archive.insert(program.id, self._fitness(program), features, program.code, island)
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
        if not replay:
            self._refresh_grid()

    def _stage_name(self, stage: int) -> str:
        stages = self.config.stages
        return stages[stage].name if stage < len(stages) else str(stage)

    def _elite_codes(self) -> list[tuple[int, str]]:
        """(program id, code) of every archive elite, for the near-duplicate rule."""
        return [(e.program_id, self._programs[e.program_id].code) for e in self.archive.all_elites()]

    def _sync_spending(self) -> None:
        self.progress.llm_calls, self.progress.llm_cost = self.ledger.calls, self.ledger.cost

    def _refresh_grid(self) -> None:
        sign = 1.0 if self.maximize else -1.0
        self.progress.grid = [{c: sign * e.fitness for c, e in island.elites.items()} for island in self.archive.islands]
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
