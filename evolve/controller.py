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
evaluates the programs that were in flight.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Callable

from evolve.archive import Archive, Elite
from evolve.edits import evolvable_text
from evolve.evaluation import request_for
from evolve.executor import Executor
from evolve.novelty import NoveltyIndex
from evolve.program import Program, Proposal
from evolve.progress import CandidateRow, RunProgress
from evolve.proposers.base import ProblemBrief, ProgramView, ProposalContext, Proposer
from evolve.run import Run

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
        self.axes = self.config.feature_axes()
        self.archive = Archive(self.axes, search.islands, search.migration_interval, search.migration_size)
        self.maximize = self.config.objective.maximize
        self.progress = RunProgress(budget=self.config.run.budget, maximize=self.maximize)
        self.progress.axis_names = tuple(a.name for a in self.axes)
        self.progress.grid_shape = tuple(a.bins for a in self.axes)
        self._programs: dict[int, Program] = {}
        self._stop_reason: str | None = None
        self._failed_in_row = 0
        self._notes: dict[int, list[str]] = {}  # parent id -> notes for its next prompts
        self._proposal_slots = asyncio.Semaphore(self.config.run.max_concurrent_proposals)
        self._novelty = NoveltyIndex()  # shingles of archive members, computed once per program

    # -- public ---------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Stop launching pipelines; those in flight finish. Used by budgets and signals."""
        if self._stop_reason is None:
            self._stop_reason = reason

    async def run_loop(self) -> RunProgress:
        """Run until the budget is spent or a stop is requested; return the final progress."""
        db = self.run.db
        db.set_meta("status", "running")
        self._replay()
        self.progress.evaluated_at_start = self.progress.evaluated
        restored = db.get_meta("proposer_state")
        if restored:
            getattr(self.proposer, "restore", lambda s: None)(restored)
        totals = db.totals()
        if hasattr(self.proposer, "restore_spending"):  # the llm_calls rows are the authoritative spend
            self.proposer.restore_spending(totals.llm_cost, totals.llm_calls)
        await self._ensure_seed()
        totals = db.totals()  # after the seed: the seed does not count against the budget
        self.progress.llm_calls, self.progress.llm_cost = totals.llm_calls, totals.llm_cost
        pending = [p for p in db.unevaluated() if p.kind != "seed"]  # in flight when the run stopped
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
        self.progress.message = self._stop_reason or "budget spent"
        self.progress.finished = True
        db.set_meta("status", "finished" if finished else "stopped")
        db.set_meta("stop_reason", self.progress.message)
        db.set_meta("archive_fingerprint", self.archive.fingerprint())
        self._notify()
        return self.progress

    # -- start-up -----------------------------------------------------------------------
    def _replay(self) -> None:
        """Rebuild the archive and progress from committed evaluations, in commit order."""
        for program in self.run.db.evaluated():
            self._programs[program.id] = program
            self._account(program, replay=True)
        self._refresh_grid()

    async def _ensure_seed(self) -> None:
        db = self.run.db
        seed = next((p for p in db.unevaluated() if p.kind == "seed"), None)
        if seed is None and db.totals().programs == 0:
            seed = db.add_seed(self.run.problem.initial_code, island=0)
        if seed is not None:
            self._programs[seed.id] = seed
            await self._evaluate_and_insert(seed)
        if self.archive.best() is None:
            first = db.program(1)
            ev = first.evaluation if first else None
            detail = f"{ev.failure_kind}: {ev.failure_message}" if ev else "not evaluated"
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
                notes=tuple(self._notes.get(parent.program.id, ())[-3:]),
            )
            started = time.perf_counter()
            try:
                proposal = await self.proposer.propose(context)
            except Exception as exc:  # a proposer bug must not kill the run: record it like a bad reply
                proposal = Proposal(proposer=getattr(self.proposer, "name", "?"), kind="?", error=f"proposer raised {exc!r}")
            latency = time.perf_counter() - started
        if getattr(self.proposer, "stop_reason", None):  # e.g. the LLM budget is spent
            self.request_stop(self.proposer.stop_reason)
        program = self._commit_proposal(island, parent.program, [e.program_id for e in inspirations], proposal, latency)
        if program is None:
            return False
        await self._evaluate_and_insert(program, proposal)
        return True

    def _select_parent(self, island: int) -> _Parent:
        search = self.config.search
        elite = self.archive.select_parent(island, self._rng, search.parent_selection, search.fitness_temperature)
        return _Parent(elite, self._programs[elite.program_id])

    def _commit_proposal(
        self, island: int, parent: Program, inspiration_ids: list[int], proposal: Proposal, latency: float
    ) -> Program | None:
        db = self.run.db
        outcome, message = "candidate", ""
        if not proposal.ok:
            outcome, message = "edit_failed", proposal.error or "the proposer returned no code"
        elif (duplicate := db.has_code(proposal.code or "")) is not None:
            outcome, message = "duplicate", f"identical to program {duplicate}"
        elif (near := self._near_duplicate(proposal.code or "")) is not None:
            outcome, message = "novelty_rejected", f"near-duplicate of archive program {near[0]} (similarity {near[1]:.3f})"
        program_row = None
        if outcome == "candidate":
            program_row = dict(
                code=proposal.code, generation=parent.generation + 1, proposer=proposal.proposer, kind=proposal.kind
            )
        proposal_id, program = db.add_proposal(
            island=island, parent_id=parent.id, inspiration_ids=inspiration_ids, proposer=proposal.proposer,
            kind=proposal.kind, outcome=outcome, message=message, summary=proposal.summary, latency_s=latency,
            program=program_row,
        )
        calls = proposal.usage.get("calls") if proposal.usage else None
        if calls:
            db.add_llm_calls(proposal_id, calls, store_text=bool(proposal.usage.get("store_text", True)))
            self.progress.llm_calls += len(calls)
            self.progress.llm_cost += sum(float(c.get("cost") or 0.0) for c in calls)
        self.progress.proposals += 1
        if program is None:
            if proposal.ok and hasattr(self.proposer, "observe"):  # rejected unevaluated: no improvement
                self.proposer.observe(proposal, self._fitness(parent), None)
            self.progress.proposals_failed += 1
            self.progress.proposal_failures[outcome] += 1
            self._notes.setdefault(parent.id, []).append(f"A previous {proposal.kind} proposal for this program was rejected ({outcome}): {message}")
            self.progress.recent.appendleft(
                CandidateRow(0, island, proposal.proposer, proposal.kind, outcome, None, None, latency, message[:80])
            )
            self._failed_in_row += 1
            if self._failed_in_row >= self.config.run.max_failed_proposals_in_row:
                self.request_stop(f"{self._failed_in_row} proposals in a row produced no candidate; last: {message}")
            self._notify()
            return None
        self._failed_in_row = 0
        self._programs[program.id] = program
        return program

    async def _evaluate_and_insert(self, program: Program, proposal: Proposal | None = None) -> bool:
        request = request_for(self.config, str(self.run.problem.root), program.code)
        result = await self.executor.evaluate(request)
        program.evaluation = result
        self.run.db.add_evaluation(program.id, result)
        self._account(program)
        if proposal is not None and hasattr(self.proposer, "observe"):
            parent = self._programs.get(program.parent_id or -1)
            self.proposer.observe(proposal, self._fitness(parent), self._fitness(program))
            state = self.proposer.state() if hasattr(self.proposer, "state") else {}
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
        parent = self._programs.get(program.parent_id or -1)
        parent_score = parent.score if parent else None
        if result.ok and result.score is not None:
            progress.succeeded += 1
            features = dict(result.features)
            features["code_size"] = float(len(evolvable_text(program.code)))
            island = None if program.kind == "seed" else program.island
            self.archive.insert(program.id, self._fitness(program), features, program.code, island)
            progress.record_score(program.id, result.score)
            status = "ok"
        else:
            progress.failures[result.failure_kind or "unknown"] += 1
            status = result.failure_kind or "failed"
            if program.parent_id is not None:
                self._notes.setdefault(program.parent_id, []).append(
                    f"A child of this program failed ({status}): {result.failure_message[:300]}"
                )
        delta = None
        if result.ok and parent_score is not None and result.score is not None:
            delta = (result.score - parent_score) if self.maximize else (parent_score - result.score)
        progress.recent.appendleft(
            CandidateRow(program.id, program.island, program.proposer, program.kind, status, result.score, delta, result.duration_s)
        )
        if not replay:
            self._refresh_grid()

    def _near_duplicate(self, code: str) -> tuple[int, float] | None:
        """The archive member ``code`` nearly duplicates (see evolve.novelty), if novelty rejection is on."""
        if not self.config.search.novelty_rejection:
            return None
        members = [e.program_id for e in self.archive.all_elites()]
        for program_id in members:
            self._novelty.add(program_id, self._programs[program_id].code)
        return self._novelty.nearest(code, among=members, floor=self.config.search.novelty_threshold)

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
            feedback=feedback, failure_kind=ev.failure_kind if ev else None, island=program.island,
            generation=program.generation,
        )

    def _notify(self) -> None:
        self.observer(self.progress)


def hash_seed(run_seed: int, index: int) -> int:
    """A per-proposal seed that depends only on the run seed and the proposal's index."""
    return random.Random(f"{run_seed}/{index}").getrandbits(63)
