"""The ES task runtime: the fitness functions an evolution strategy optimises, in torch.

This one file serves both sides of the trust boundary. The ES problem appends its source text
to every candidate program (``evaluators.injection``), so the candidate's ``train`` runs its
whole ES inside the sandbox against these tasks; and the trusted evaluator imports it to
re-score the returned parameters on held-out data and seeds. It therefore imports only
numpy and torch (the sandbox has no ``evaluators``) and its names are prefixed ``es_`` or
``ES`` so they do not collide with a candidate's own.

Tasks (``make_es_task(spec)``; ``spec`` is plain data built by ``evaluators.es_workloads``):

* ``blackbox``: minimise f(x) for x a matrix parameter ``x`` [a, b], D = a*b, over a shifted
  (and for the ellipsoid rotated) instance; fitness = -f.
* ``mlp``: a tanh MLP classifier on a shipped dataset's training split; fitness = minus the
  mean cross-entropy of a minibatch that the whole population shares.
* ``cartpole``: a tanh MLP policy on CartPole (gym's constants and termination), vectorised
  over population and episodes; fitness = mean return, where each step up earns up to 1 for
  keeping the cart centred and the pole upright.

Perturbations. ``task.fitness(params, perturbation)`` scores N members theta + delta_i. For
each parameter name, ``perturbation`` holds either a dense delta [N, *shape] or, for a matrix
W [a, b], a low-rank pair (A [N, a, r], B [N, b, r]) meaning delta_i = A_i B_i^T (EGGROLL). A
linear layer then computes y = x W^T + ((x B_i) A_i^T): the shared matmul runs once for the
whole population and a member costs O(r(a + b)), never materialising W + delta_i. Names left
out are not perturbed. Each call adds N to ``task.evaluations``; the budget (``task.budget``
member evaluations) is the problem's cost model, checked by the trusted side.
"""

import math

import numpy as np
import torch

ES_GRAVITY, ES_CART_MASS, ES_POLE_MASS, ES_POLE_HALF_LENGTH = 9.8, 1.0, 0.1, 0.5
ES_FORCE, ES_TAU, ES_X_LIMIT, ES_THETA_LIMIT = 10.0, 0.02, 2.4, 12 * 2 * math.pi / 360


class ESTask:
    """Shared bookkeeping: parameter shapes, budget, evaluation count, noise memory."""

    kind = ""

    def __init__(self, spec):
        self.name = str(spec["name"])
        self.budget = int(spec["budget"])
        self.device = torch.device(spec.get("device", "cpu"))
        self.evaluations = 0
        self.max_population = 0
        self.noise_fraction = 0.0  # max over calls of (noise floats per member) / (parameter count)
        self.data_generator = torch.Generator(device=self.device).manual_seed(int(spec["data_seed"]))
        self.init_seed = int(spec["instance_seed"])
        self.shapes = {}

    @property
    def remaining(self):
        return self.budget - self.evaluations

    @property
    def num_params(self):
        return sum(math.prod(s) for s in self.shapes.values())

    def initial_params(self):
        """Parameters at which every ES starts (a fixed draw per task instance)."""
        gen = torch.Generator(device=self.device).manual_seed(self.init_seed)
        params = {}
        for name, shape in self.shapes.items():
            if len(shape) == 2 and self.kind != "blackbox":
                bound = 1.0 / math.sqrt(shape[1])
                params[name] = (torch.rand(shape, generator=gen, device=self.device) * 2 - 1) * bound
            else:
                params[name] = torch.zeros(shape, device=self.device)
        return params

    def to_vector(self, params):
        """Concatenate the parameters (leading batch dims kept) into [..., D], in ``shapes`` order."""
        parts = []
        for name, shape in self.shapes.items():
            value = params[name]
            parts.append(value.reshape(*value.shape[: value.dim() - len(shape)], -1))
        return torch.cat(parts, dim=-1)

    def from_vector(self, vector):
        """Inverse of ``to_vector``: [..., D] -> dict of [..., *shape]."""
        params, start = {}, 0
        lead = vector.shape[:-1]
        for name, shape in self.shapes.items():
            size = math.prod(shape)
            params[name] = vector[..., start : start + size].reshape(*lead, *shape)
            start += size
        return params

    def fitness(self, params, perturbation=None):
        """Fitness (higher is better) of each member theta + delta_i: a tensor [N] (N = 1 unperturbed)."""
        deltas, n = self._check(params, perturbation or {})
        self.evaluations += n
        self.max_population = max(self.max_population, n)
        return self._fitness(params, deltas, n)

    def _fitness(self, params, deltas, n):
        raise NotImplementedError(f"{type(self).__name__} defines no fitness")

    def _check(self, params, perturbation):
        missing = [name for name in self.shapes if name not in params]
        if missing:
            raise KeyError(f"params has no {missing[0]!r}; this task's parameters are {list(self.shapes)}")
        sizes, floats = set(), 0
        for name, delta in perturbation.items():
            if name not in self.shapes:
                raise KeyError(f"perturbation names {name!r}, not a parameter ({list(self.shapes)})")
            shape = self.shapes[name]
            if isinstance(delta, (tuple, list)):
                a, b = delta
                if len(shape) != 2 or a.dim() != 3 or b.dim() != 3 or a.shape[1] != shape[0] or b.shape[1] != shape[1]:
                    raise ValueError(f"low-rank perturbation of {name!r} {tuple(shape)} needs A [N, {shape[0]}, r] and B [N, {shape[1]}, r]")
                sizes.add(int(a.shape[0]))
                floats += a.shape[1] * a.shape[2] + b.shape[1] * b.shape[2]
            else:
                if tuple(delta.shape[1:]) != tuple(shape):
                    raise ValueError(f"dense perturbation of {name!r} must be [N, *{tuple(shape)}], got {tuple(delta.shape)}")
                sizes.add(int(delta.shape[0]))
                floats += math.prod(shape)
        if len(sizes) > 1:
            raise ValueError(f"perturbations disagree on the population size: {sorted(sizes)}")
        if perturbation:
            self.noise_fraction = max(self.noise_fraction, floats / self.num_params)
        return perturbation, (sizes.pop() if sizes else 1)

    def report(self, params):
        """What crosses back to the trusted side: parameters as float32 numpy plus what they were."""
        out, kinds = {}, {}
        for name, value in (params.items() if isinstance(params, dict) else []):
            if isinstance(value, torch.Tensor):
                kinds[str(name)] = {"type": "tensor", "dtype": str(value.dtype), "device": str(value.device)}
                out[str(name)] = value.detach().to("cpu", torch.float32).numpy()
            else:
                kinds[str(name)] = {"type": type(value).__name__, "dtype": "", "device": ""}
        return {
            "params": out,
            "kinds": kinds,
            "returned": type(params).__name__,
            "evaluations": int(self.evaluations),
            "noise_fraction": float(self.noise_fraction),
            "max_population": int(self.max_population),
            "device": str(self.device),
        }


def es_members(params, deltas, n):
    """Dense member batch {name: [N, *shape]} = theta + delta_i (low-rank pairs expanded)."""
    members = {}
    for name, value in params.items():
        delta = deltas.get(name)
        if delta is None:
            members[name] = value.expand(n, *value.shape)
        elif isinstance(delta, (tuple, list)):
            members[name] = value + delta[0] @ delta[1].transpose(1, 2)
        else:
            members[name] = value + delta
    return members


def es_linear(x, weight, bias, d_weight=None, d_bias=None):
    """y = x W^T + b for each member; x is [B, in] (shared) or [N, B, in].

    Dense delta [N, out, in]: adds x dW_i^T. Low-rank (A [N, out, r], B [N, in, r]): adds
    (x B_i) A_i^T, so no [N, out, in] tensor is ever built.
    """
    y = x @ weight.T
    if isinstance(d_weight, (tuple, list)):
        y = y + (x @ d_weight[1]) @ d_weight[0].transpose(1, 2)
    elif d_weight is not None:
        y = y + x @ d_weight.transpose(1, 2)
    y = y + bias
    if d_bias is not None:
        y = y + d_bias.unsqueeze(-2)
    return y


def es_mlp(x, params, deltas, layers):
    """tanh MLP through ``layers`` [(weight name, bias name), ...]; logits [N or 1, B, out]."""
    for i, (w, b) in enumerate(layers):
        x = es_linear(x, params[w], params[b], deltas.get(w), deltas.get(b))
        if i < len(layers) - 1:
            x = torch.tanh(x)
    return x if x.dim() == 3 else x.unsqueeze(0)


class ESBlackBox(ESTask):
    kind = "blackbox"

    def __init__(self, spec):
        super().__init__(spec)
        rows, cols = spec["shape"]
        self.shapes = {"x": (int(rows), int(cols))}
        self.function = str(spec["function"])
        dim = rows * cols
        gen = torch.Generator().manual_seed(int(spec["instance_seed"]))
        self.shift = ((torch.rand(dim, generator=gen) * 2 - 1) * float(spec.get("shift_scale", 1.0))).to(self.device)
        if self.function == "ellipsoid":
            q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
            self.rotation = q.to(self.device, torch.float32)
            self.scales = 10.0 ** (float(spec.get("log10_condition", 3.0)) * torch.arange(dim, device=self.device) / max(dim - 1, 1))
        elif self.function not in ("sphere", "rastrigin"):
            raise ValueError(f"unknown black-box function {self.function!r}")

    def value(self, x):
        """f of each row of x [N, D] (float64 sums for stable decades of progress)."""
        z = (x - self.shift).double()
        if self.function == "sphere":
            return (z * z).sum(-1)
        if self.function == "ellipsoid":
            rz = z @ self.rotation.double().T
            return (self.scales.double() * rz * rz).sum(-1)
        return 10.0 * z.shape[-1] + (z * z - 10.0 * torch.cos(2 * math.pi * z)).sum(-1)

    def _fitness(self, params, deltas, n):
        x = es_members(params, deltas, n)["x"].reshape(n, -1)
        return (-self.value(x)).float()


class ESClassifier(ESTask):
    kind = "mlp"

    def __init__(self, spec):
        super().__init__(spec)
        self.x = torch.as_tensor(np.asarray(spec["x"], dtype=np.float32), device=self.device)
        self.y = torch.as_tensor(np.asarray(spec["y"], dtype=np.int64), device=self.device)
        sizes = [self.x.shape[1], *[int(h) for h in spec["hidden"]], int(spec["classes"])]
        self.layers = [(f"W{i + 1}", f"b{i + 1}") for i in range(len(sizes) - 1)]
        for i, (w, b) in enumerate(self.layers):
            self.shapes[w] = (sizes[i + 1], sizes[i])
            self.shapes[b] = (sizes[i + 1],)
        self.batch = int(spec["batch"])

    def logits(self, params, deltas, x):
        return es_mlp(x, params, deltas, self.layers)

    def _fitness(self, params, deltas, n):
        index = torch.randint(0, self.x.shape[0], (self.batch,), generator=self.data_generator, device=self.device)
        logits = self.logits(params, deltas, self.x[index]).expand(n, -1, -1)
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), self.y[index].expand(n, -1), reduction="none")
        return -loss.mean(-1)


class ESCartPole(ESTask):
    kind = "cartpole"

    def __init__(self, spec):
        super().__init__(spec)
        sizes = [4, *[int(h) for h in spec["hidden"]], 2]
        self.layers = [(f"W{i + 1}", f"b{i + 1}") for i in range(len(sizes) - 1)]
        for i, (w, b) in enumerate(self.layers):
            self.shapes[w] = (sizes[i + 1], sizes[i])
            self.shapes[b] = (sizes[i + 1],)
        self.episodes = int(spec["episodes"])
        self.horizon = int(spec["horizon"])
        self.init_range = float(spec.get("init_range", 0.05))

    def returns(self, params, deltas, n, episodes, generator, horizon=None):
        """Returns [N, episodes] over ``horizon`` steps from states uniform in [-init_range, init_range].

        Each step the pole is up earns 1 - (x / 2.4)^2 / 2 - (theta / theta_max)^2 / 2 (in [0, 1]),
        so balancing scores by how centred and upright it keeps the system, not only by survival.
        """
        state = (torch.rand(n, episodes, 4, generator=generator, device=self.device) * 2 - 1) * self.init_range
        alive = torch.ones(n, episodes, dtype=torch.bool, device=self.device)
        steps = torch.zeros(n, episodes, device=self.device)
        total_mass = ES_CART_MASS + ES_POLE_MASS
        pole_moment = ES_POLE_MASS * ES_POLE_HALF_LENGTH
        for _ in range(horizon or self.horizon):
            logits = es_mlp(state, params, deltas, self.layers)
            force = torch.where(logits[..., 1] > logits[..., 0], ES_FORCE, -ES_FORCE)
            x, x_dot, theta, theta_dot = state.unbind(-1)
            cos, sin = torch.cos(theta), torch.sin(theta)
            temp = (force + pole_moment * theta_dot * theta_dot * sin) / total_mass
            theta_acc = (ES_GRAVITY * sin - cos * temp) / (
                ES_POLE_HALF_LENGTH * (4.0 / 3.0 - ES_POLE_MASS * cos * cos / total_mass)
            )
            x_acc = temp - pole_moment * theta_acc * cos / total_mass
            state = torch.stack(
                [x + ES_TAU * x_dot, x_dot + ES_TAU * x_acc, theta + ES_TAU * theta_dot, theta_dot + ES_TAU * theta_acc], -1
            )
            alive = alive & (state[..., 0].abs() <= ES_X_LIMIT) & (state[..., 2].abs() <= ES_THETA_LIMIT)
            off_centre = 0.5 * (state[..., 0] / ES_X_LIMIT) ** 2 + 0.5 * (state[..., 2] / ES_THETA_LIMIT) ** 2
            steps = steps + alive.float() * (1.0 - off_centre)
            if not bool(alive.any()):
                break
        return steps

    def _fitness(self, params, deltas, n):
        return self.returns(params, deltas, n, self.episodes, self.data_generator).mean(-1)


ES_TASKS = {"blackbox": ESBlackBox, "mlp": ESClassifier, "cartpole": ESCartPole}


def make_es_task(spec):
    """Build the task a spec describes (see ``evaluators.es_workloads``)."""
    return ES_TASKS[spec["kind"]](spec)


def run_es_task(spec):
    """Sandbox entry point: build the task, run the candidate's ``train`` on it, report the result.

    ``train(task, params, generator)`` is the candidate's ES; it runs under
    ``torch.inference_mode()`` (the problem is gradient-free) and returns the final
    parameters, a dict of tensors shaped like ``params`` on ``task.device``.
    """
    torch.set_num_threads(int(spec.get("threads", 1)))
    task = make_es_task(spec)
    generator = torch.Generator(device=task.device).manual_seed(int(spec["es_seed"]))
    with torch.inference_mode():
        final = train(task, task.initial_params(), generator)  # noqa: F821 (the candidate's function)
    return task.report(final)
