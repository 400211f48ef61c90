"""Maximum (causal) entropy IRL, exact: Ziebart et al. 2008 / 2010 on a known finite MDP.

The reward is linear in features, ``r = features @ weights``. For a given reward the MaxEnt
expert model is the soft-optimal policy (`soft_value_iteration`); the weights minimise the
convex dual

    loss(w) = p0 . V_w  -  w . mu_E

(``V_w`` the soft value at t = 0, ``mu_E`` the expert's feature expectations), whose gradient
is ``mu_w - mu_E``: expected minus expert feature expectations, both exact (backward pass,
then forward pass). With temperature 1 and demonstrations drawn from the true dynamics, the
loss is the expert's expected negative log-likelihood of its actions up to a constant. At the
minimum the soft-optimal policy's feature expectations equal the expert's.

Works discounted (``gamma``) or finite-horizon (``horizon``), with state rewards
(``features[S, F]``) or state-action rewards (``features[S, A, F]``). State-action rewards are
only identified up to shaping; a state reward is what transfers to new dynamics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genpolicy.tabular.demos import as_trajectories, empirical_visitation, initial_distribution
from genpolicy.tabular.mdp import check_gamma_or_horizon, check_p0, check_temperature, check_transitions, to_numpy
from genpolicy.tabular.planning import soft_value_iteration
from genpolicy.tabular.visitation import state_action_visitation


@dataclass
class MaxEntIRLResult:
    """What MaxEnt IRL recovered, and how well the optimisation converged.

    ``reward`` is ``[S]`` (state_only) or ``[S, A]``; ``visitation`` and ``expert_visitation``
    have the same shape (normalized to H or 1/(1-gamma)); ``policy`` is the soft-optimal policy
    of ``reward`` (``[H, S, A]`` for a finite horizon). ``loss`` and ``gap`` are per iteration
    (``gap``: the L-inf distance of the feature expectations); ``nll`` is the expert's
    average negative log-likelihood of its actions (discounted by gamma^t), when trajectories
    were given."""

    reward: np.ndarray
    weights: np.ndarray
    policy: np.ndarray
    visitation: np.ndarray
    expert_visitation: np.ndarray
    value: np.ndarray
    q_value: np.ndarray
    loss: np.ndarray
    gap: np.ndarray
    iterations: int
    converged: bool
    nll: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def final_gap(self) -> float:
        """L-inf gap of the feature expectations at the returned weights."""
        return float(self.gap[-1])

    @property
    def visitation_gap(self) -> float:
        """L-inf distance between the recovered and the expert visitation."""
        return float(np.max(np.abs(self.visitation - self.expert_visitation)))


def _features(features: Any, S: int, A: int, state_only: bool) -> np.ndarray:
    if features is None:
        return np.eye(S) if state_only else np.eye(S * A).reshape(S, A, S * A)
    phi = to_numpy(features)
    expected = f"({S}, F)" if state_only else f"({S}, {A}, F)"
    if (state_only and (phi.ndim != 2 or phi.shape[0] != S)) or (not state_only and (phi.ndim != 3 or phi.shape[:2] != (S, A))):
        extra = " (state_only=False takes [S, A, F])" if state_only and phi.ndim == 3 else ""
        raise ValueError(f"features have shape {phi.shape} but P has {S} states and {A} actions: expected {expected}{extra}")
    return phi


def _expert_visitation(expert: Any, S: int, A: int, gamma: float | None, horizon: int | None,
                       state_only: bool) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """The expert's ``[S]`` or ``[S, A]`` visitation, from trajectories or as given (checked)."""
    trajectories = as_trajectories(expert, S, A)
    if trajectories is not None:
        D = empirical_visitation(trajectories, S, A, gamma=gamma, horizon=horizon)
        return (D.sum(axis=1) if state_only else D), trajectories
    D = to_numpy(expert)
    if D.shape not in ((S,), (S, A)):
        raise ValueError(f"expert visitation has shape {D.shape}: expected ({S},) or ({S}, {A}), "
                         "or trajectories as an int array [N, T, 2]")
    if not state_only and D.shape == (S,):
        raise ValueError("state_only=False needs the expert's state-action visitation [S, A] or trajectories")
    total = horizon if horizon is not None else 1.0 / (1.0 - gamma)
    if D.min() < 0 or abs(D.sum() - total) > 1e-6 * total:
        raise ValueError(f"expert visitation sums to {D.sum():.6g}; expected {total:g} "
                         f"({'the horizon' if horizon is not None else '1/(1-gamma)'}), non-negative")
    if state_only and D.ndim == 2:
        D = D.sum(axis=1)
    return D, None


def maxent_irl(P: Any, features: Any, expert: Any, p0: Any = None, *, gamma: float | None = None,
               horizon: int | None = None, state_only: bool = True, temperature: float = 1.0,
               max_iter: int = 1000, tol: float = 1e-8, l2: float = 0.0, init: Any = None,
               memory: int = 10) -> MaxEntIRLResult:
    """Recover a reward whose soft-optimal policy visits what the expert visits.

    ``features``: ``[S, F]`` (state_only) or ``[S, A, F]``; None for one-hot (a free reward per
    state, or per state-action). ``expert``: trajectories (int ``[N, T, 2]`` of (state,
    action), or a list of ``[T, 2]``) or a visitation array ``[S]`` / ``[S, A]`` normalized as in
    `genpolicy.tabular.visitation`. ``p0``: the initial state distribution (default: the
    trajectories' first states). ``l2`` adds ``l2/2 |w|^2`` to the loss (a unique answer when
    the expert is deterministic and the unregularised weights would diverge).

    The optimizer is L-BFGS with a backtracking (Armijo) line search on the convex loss, with
    exact gradients; it stops when the L-inf norm of the gradient (the feature-expectation gap
    when ``l2 = 0``) is at most ``tol`` or after ``max_iter`` iterations (``result.converged``
    says which).
    """
    P = check_transitions(P)
    gamma, horizon = check_gamma_or_horizon(gamma, horizon)
    tau = check_temperature(temperature)
    S, A, _ = P.shape
    phi = _features(features, S, A, state_only)
    D_expert, trajectories = _expert_visitation(expert, S, A, gamma, horizon, state_only)
    if p0 is None:
        if trajectories is None:
            raise ValueError("p0 is needed when the expert is given as a visitation (it cannot be inferred)")
        p0 = initial_distribution(trajectories, S)
    p0 = check_p0(p0, P)
    mu_expert = np.tensordot(D_expert, phi, axes=D_expert.ndim)
    F = phi.shape[-1]
    weights = np.zeros(F) if init is None else to_numpy(init).copy()
    if weights.shape != (F,):
        raise ValueError(f"init has shape {weights.shape}, expected ({F},)")

    warm: dict[str, np.ndarray] = {}

    def evaluate(w: np.ndarray) -> tuple[float, np.ndarray, tuple]:
        reward = phi @ w
        try:
            V, Q, policy = soft_value_iteration(P, reward, gamma=gamma, horizon=horizon, temperature=tau,
                                                V0=warm.get("V") if horizon is None else None, tol=1e-13)
        except (ValueError, np.linalg.LinAlgError):  # a line-search trial step far too long: reject it
            return np.inf, w, ()
        if not np.all(np.isfinite(V)):
            return np.inf, w, ()
        if horizon is None:
            warm["V"] = V
        D = state_action_visitation(P, policy, p0, gamma=gamma, horizon=horizon)
        D = D.sum(axis=1) if state_only else D
        mu = np.tensordot(D, phi, axes=D.ndim)
        V0 = V[0] if horizon is not None else V
        loss = float(p0 @ V0 - w @ mu_expert + 0.5 * l2 * w @ w)
        return loss, mu - mu_expert + l2 * w, (reward, V, Q, policy, D, mu)

    loss, grad, state = evaluate(weights)
    losses, gaps = [loss], [float(np.max(np.abs(state[5] - mu_expert)))]
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    iterations, converged = 0, np.max(np.abs(grad)) <= tol
    while not converged and iterations < max_iter:
        direction = _lbfgs_direction(grad, s_hist, y_hist)
        if direction @ grad >= 0:  # not a descent direction: restart from steepest descent
            s_hist.clear(), y_hist.clear()
            direction = -grad
        step = 1.0 if s_hist else min(1.0, 1.0 / max(np.max(np.abs(grad)), 1e-12))
        accepted = None
        for _ in range(40):
            candidate = weights + step * direction
            c_loss, c_grad, c_state = evaluate(candidate)
            if c_loss <= loss + 1e-4 * step * (direction @ grad) + 1e-14 * (1.0 + abs(loss)):
                accepted = (candidate, c_loss, c_grad, c_state)
                break
            step *= 0.5
        if accepted is None:
            if not s_hist:
                break  # even a tiny steepest-descent step does not decrease the loss: round-off floor
            s_hist.clear(), y_hist.clear()
            continue
        candidate, c_loss, c_grad, c_state = accepted
        s, y = candidate - weights, c_grad - grad
        if s @ y > 1e-12 * np.sqrt((s @ s) * (y @ y)):
            s_hist.append(s), y_hist.append(y)
            if len(s_hist) > memory:
                s_hist.pop(0), y_hist.pop(0)
        weights, loss, grad, state = candidate, c_loss, c_grad, c_state
        iterations += 1
        losses.append(loss)
        gaps.append(float(np.max(np.abs(state[5] - mu_expert))))
        converged = np.max(np.abs(grad)) <= tol
    reward, V, Q, policy, D, _ = state
    nll = _nll(trajectories, policy, gamma, horizon) if trajectories is not None else None
    return MaxEntIRLResult(reward=reward, weights=weights, policy=policy, visitation=D, expert_visitation=D_expert,
                           value=V, q_value=Q, loss=np.array(losses), gap=np.array(gaps), iterations=iterations,
                           converged=bool(converged), nll=nll)


def _lbfgs_direction(grad: np.ndarray, s_hist: list[np.ndarray], y_hist: list[np.ndarray]) -> np.ndarray:
    """``-H grad`` by the two-loop recursion (Nocedal & Wright, Alg. 7.4)."""
    q = grad.copy()
    alphas = []
    for s, y in zip(reversed(s_hist), reversed(y_hist)):
        alpha = (s @ q) / (y @ s)
        alphas.append(alpha)
        q -= alpha * y
    if s_hist:
        q *= (s_hist[-1] @ y_hist[-1]) / (y_hist[-1] @ y_hist[-1])
    for (s, y), alpha in zip(zip(s_hist, y_hist), reversed(alphas)):
        q += (alpha - (y @ q) / (y @ s)) * s
    return -q


def _nll(trajectories: list[np.ndarray], policy: np.ndarray, gamma: float | None, horizon: int | None) -> float:
    """Average over trajectories of ``-sum_t gamma^t log policy_t(a_t | s_t)`` (gamma = 1, t < H for a horizon)."""
    total = 0.0
    for t in trajectories:
        if horizon is not None:
            steps = t[:horizon]
            total -= np.log(np.maximum(policy[np.arange(len(steps)), steps[:, 0], steps[:, 1]], 1e-300)).sum()
        else:
            total -= (gamma ** np.arange(len(t)) * np.log(np.maximum(policy[t[:, 0], t[:, 1]], 1e-300))).sum()
    return total / len(trajectories)
