"""Trusted evaluator for learning-rate schedules: this side trains, the candidate only says the LR.

For each workload and budget of the stage (``WORKLOADS``), the sweep of every base LR of the
workload's grid x two seeds trains as one batched model (``evaluators.lr_workloads``); at
every step the candidate's ``lr`` is asked for all runs in one call on a persistent worker
and every value is checked (``evaluators.lr_harness.checked_rates``). The model, the data,
the optimiser and the loss are all on this side; the candidate sees only the step, the
budget, the base LR and loss/gradient-norm statistics.

Score: the mean over workloads of the improvement over linear decay relative to linear
decay's excess loss, (L_linear - L) / (L_linear - L_Bayes), each schedule at its best base LR
of the same grid. Stage 0 ("quick") is the cheapest workload; stage 1 ("full") runs every
search workload and is self-contained. Holdout uses a workload (a tiny transformer) and
budgets the search never sees, and other seeds (other teachers, other data).
"""

import numpy as np
import torch

from evaluators import Evaluation, EvaluationContext
from evaluators import lr_runtime
from evaluators.injection import appended
from evaluators.lr_harness import best_of_grid, checked_rates, reference, relative_improvement, schedule_shape, train
from evaluators.lr_workloads import prepare

QUICK = [("logistic", 300)]
SEARCH = [("logistic", 300), ("logistic", 1000), ("mlp", 300), ("mlp", 900)]
HOLDOUT = [("transformer", 800), ("mlp", 600), ("logistic", 600)]
SEEDS = {"search": (0, 1), "holdout": (100, 101)}
CALL_TIMEOUT_S = 10.0


def workloads(context: EvaluationContext) -> list[tuple[str, int]]:
    if context.is_holdout:
        return HOLDOUT
    if context.stages > 1 and not context.is_last_stage:
        return QUICK
    return SEARCH


PROBE_BUDGETS = (300, 1000)


def fingerprint(candidate, context=None):
    """The learning rates the schedule gives along two fixed synthetic runs (budgets 300 and 1000,
    two base LRs, SGD and AdamW, decreasing losses and gradient norms with noise): schedules with
    the same answers train every sweep alike, so the second is a behavioural duplicate
    (``evaluators.fingerprint``). About 1,300 calls on one worker, where an evaluation trains
    several batched sweeps."""
    rng = np.random.default_rng(11)
    answers = []
    with appended(candidate, lr_runtime) as program, program.worker() as worker:
        for steps in PROBE_BUDGETS:
            pilot = np.linspace(2.0, 0.5, steps) * (1 + 0.1 * rng.standard_normal(steps))
            worker.call("lr_begin", [
                {"base_lr": base, "total_steps": steps, "pilot_grad_norms": pilot, "optimizer": optimizer}
                for base, optimizer in ((0.1, "sgd"), (0.003, "adamw"))
            ])
            losses = 2.5 * np.exp(-np.arange(steps) / (steps / 3)) + 0.5 + 0.05 * rng.standard_normal(steps)
            norms = np.linspace(3.0, 0.3, steps) * (1 + 0.2 * rng.standard_normal(steps))
            for step in range(steps):
                answers.append(worker.call("lr_step", step, np.array([losses[step]] * 2), np.array([norms[step]] * 2),
                                           timeout=CALL_TIMEOUT_S))
    return answers


def evaluate(candidate, context=None):
    context = context or EvaluationContext()
    torch.set_num_threads(1)
    seeds = SEEDS[context.split]
    scores, metrics, shapes = {}, {}, []
    with appended(candidate, lr_runtime) as program, program.worker() as worker:
        for name, steps in workloads(context):
            ref_sweep, ref = reference(name, steps, seeds, context.device)
            sweep = prepare(name, steps, seeds, context.device)
            base = sweep.base_lrs.tolist()
            worker.call("lr_begin", [
                {"base_lr": base[k], "total_steps": steps, "pilot_grad_norms": ref.grad_norms[:, k].copy(),
                 "optimizer": sweep.workload.optimizer}
                for k in range(sweep.runs)
            ])

            def schedule(step, losses, grad_norms, sweep=sweep):
                values = worker.call("lr_step", step, losses.double().cpu().numpy(), grad_norms.double().cpu().numpy(),
                                     timeout=CALL_TIMEOUT_S)
                return checked_rates(values, step, sweep)

            result = train(sweep, schedule)
            loss, best = best_of_grid(sweep, result)
            linear_loss, _ = best_of_grid(ref_sweep, ref)
            bayes = float(sweep.bayes.mean())
            key = f"{name}/T{steps}"
            scores[key] = relative_improvement(loss, linear_loss, bayes)
            metrics[f"{key} excess loss"] = loss - bayes
            metrics[f"{key} linear excess loss"] = linear_loss - bayes
            metrics[f"{key} best base lr"] = sweep.workload.base_lrs[best]
            metrics[f"{key} diverged runs"] = float(result.diverged)
            shapes.append(schedule_shape(result.lrs, np.asarray(base)))
    score = sum(scores.values()) / len(scores)
    warmup = float(np.mean([s[0] for s in shapes]))
    anneal = float(np.mean([s[1] for s in shapes]))
    worst = min(scores, key=scores.get)
    feedback = (
        f"improvement over linear decay {score:+.4f} (fraction of linear decay's excess loss removed, mean of "
        f"{len(scores)} workloads; 0 = linear decay). "
        + "; ".join(
            f"{key}: {value:+.4f} (excess loss {metrics[f'{key} excess loss']:.4f} vs linear "
            f"{metrics[f'{key} linear excess loss']:.4f}, best base lr {metrics[f'{key} best base lr']:g}"
            + (f", {metrics[f'{key} diverged runs']:.0f} runs diverged" if metrics[f"{key} diverged runs"] else "") + ")"
            for key, value in scores.items()
        )
        + f". Worst: {worst}. Schedule shape: warm-up fraction {warmup:.2f}, anneal fraction {anneal:.2f}."
    )
    return Evaluation(
        score=score,
        metrics=metrics,
        features={"warmup_fraction": warmup, "anneal_fraction": anneal},
        feedback=feedback,
        instances=scores,
    )


if __name__ == "__main__":
    from evaluators.scoring_cli import main

    main(evaluate, thresholds=(-1.0, None))
