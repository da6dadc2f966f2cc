"""The LR-schedule problem's in-sandbox adapter, appended to every candidate program.

The trusted trainer runs K runs of a sweep in lockstep and asks for all K learning rates of
a step in one call (``lr_step``), so a step costs one pipe round-trip however many runs
there are. This adapter keeps each run's history and calls the candidate's
``lr(step, total_steps, base_lr, stats)`` once per run. ``stats`` holds:

* ``loss``, ``grad_norm``: this step's training loss and gradient L2 norm (the gradient
  about to be applied);
* ``losses``, ``grad_norms``: the run's history of both so far, oldest first (lists);
* ``pilot_grad_norms``: the per-step gradient norms of a linear-decay run with the same
  data, seed and base LR (a numpy array of ``total_steps`` values): what a refinement
  schedule (Defazio et al.) is computed from;
* ``optimizer``: "sgd" or "adamw", the optimiser the learning rate is for;
* ``run``: the run's index in the sweep (state kept per run must be keyed by it).

The values returned go back as they are: the trusted side checks every one of them.
"""

LR_RUNS = []


def lr_begin(runs):
    """Start a sweep: ``runs`` is a list of {"base_lr", "total_steps", "pilot_grad_norms", "optimizer"}."""
    global LR_RUNS
    LR_RUNS = [dict(run, losses=[], grad_norms=[]) for run in runs]
    return len(LR_RUNS)


def lr_step(step, losses, grad_norms):
    """The learning rate of every run at ``step``, given this step's losses and gradient norms [K]."""
    rates = []
    for k, run in enumerate(LR_RUNS):
        loss, norm = float(losses[k]), float(grad_norms[k])
        run["losses"].append(loss)
        run["grad_norms"].append(norm)
        stats = {
            "loss": loss,
            "grad_norm": norm,
            "losses": run["losses"],
            "grad_norms": run["grad_norms"],
            "pilot_grad_norms": run["pilot_grad_norms"],
            "optimizer": run["optimizer"],
            "run": k,
        }
        rates.append(lr(int(step), int(run["total_steps"]), float(run["base_lr"]), stats))  # noqa: F821 (the candidate's)
    return rates

