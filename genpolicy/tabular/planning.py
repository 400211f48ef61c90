"""Exact dynamic programming on finite MDPs: evaluation, value/policy iteration, soft (MaxEnt) values.

All functions take ``P[s, a, s']`` and a reward ``R`` (``[S]``, ``[S, A]`` or ``[S, A, S]``;
see `genpolicy.tabular.mdp`) and return numpy arrays. Discounted problems (``gamma`` in
[0, 1)) return stationary ``V[S]``, ``Q[S, A]``, ``policy[S, A]``; finite-horizon problems
(``horizon=H``) return time-indexed ``V[H, S]``, ``Q[H, S, A]``, ``policy[H, S, A]`` for the
decisions t = 0..H-1, with V_H = 0 (not returned).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genpolicy.tabular.mdp import (
    check_gamma,
    check_gamma_or_horizon,
    check_policy,
    check_temperature,
    check_transitions,
    expected_reward,
)

DIRECT_SOLVE_MAX_STATES = 3000  # above this a dense S x S solve costs more than iterating
TIE_RTOL = 1e-10  # actions within this (relative) of the best count as tied in greedy policies


def _model(P: Any, R: Any) -> tuple[np.ndarray, np.ndarray]:
    P = check_transitions(P)
    return P, expected_reward(P, R)


def logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(sum(exp(x)))`` along ``axis`` without overflow (scipy is not a dependency)."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def greedy_policy(Q: np.ndarray) -> np.ndarray:
    """A one-hot policy on the best action of each state; ties go to the lowest action index.

    Actions within a relative ``TIE_RTOL`` of the best are tied, so round-off in Q does not
    decide between truly equal actions."""
    Q = np.asarray(Q, dtype=float)
    best = Q.max(axis=-1, keepdims=True)
    tied = Q >= best - TIE_RTOL * (1.0 + np.abs(best))
    return np.eye(Q.shape[-1])[np.argmax(tied, axis=-1)]


def _policy_model(P: np.ndarray, r: np.ndarray, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P_pi[s, s']`` and ``r_pi[s]`` of a stationary policy."""
    return np.einsum("sa,sat->st", policy, P), np.einsum("sa,sa->s", policy, r)


def _solve_discounted(P_pi: np.ndarray, b: np.ndarray, gamma: float, tol: float, method: str) -> np.ndarray:
    """``V = (I - gamma P_pi)^-1 b``: directly for small S, by fixed-point iteration otherwise."""
    S = P_pi.shape[0]
    if method not in ("auto", "direct", "iterative"):
        raise ValueError(f"method must be 'auto', 'direct' or 'iterative', got {method!r}")
    if method == "direct" or (method == "auto" and S <= DIRECT_SOLVE_MAX_STATES):
        return np.linalg.solve(np.eye(S) - gamma * P_pi, b)
    V = np.zeros(S)
    while True:
        new = b + gamma * P_pi @ V
        done = np.max(np.abs(new - V)) * gamma / (1.0 - gamma) <= tol if gamma > 0 else True
        V = new
        if done:
            return V


def policy_evaluation(P: Any, R: Any, policy: Any, gamma: float | None = None, *, horizon: int | None = None,
                      method: str = "auto", tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """``(V, Q)`` of a given (stochastic) policy.

    Discounted: the exact linear solve ``V = (I - gamma P_pi)^-1 r_pi`` (``method="direct"``;
    ``"iterative"`` iterates the Bellman equation to ``tol``, the default ``"auto"`` iterates
    only above 3000 states), and ``Q = r + gamma P V``. Finite horizon: backward induction
    from V_H = 0; ``policy`` may then be ``[S, A]`` or ``[H, S, A]``."""
    P, r = _model(P, R)
    gamma, horizon = check_gamma_or_horizon(gamma, horizon)
    policy = check_policy(policy, P, horizon)
    if horizon is None:
        if policy.ndim != 2:
            raise ValueError(f"a discounted problem needs a stationary policy [S, A], got shape {policy.shape}")
        P_pi, r_pi = _policy_model(P, r, policy)
        V = _solve_discounted(P_pi, r_pi, gamma, tol, method)
        return V, r + gamma * P @ V
    S, A = r.shape
    V, Q = np.zeros((horizon, S)), np.zeros((horizon, S, A))
    next_value = np.zeros(S)
    for t in reversed(range(horizon)):
        pi_t = policy[t] if policy.ndim == 3 else policy
        Q[t] = r + P @ next_value
        V[t] = next_value = np.einsum("sa,sa->s", pi_t, Q[t])
    return V, Q


def value_iteration(P: Any, R: Any, gamma: float | None = None, *, horizon: int | None = None, tol: float = 1e-10,
                    max_iter: int = 1_000_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(V*, Q*, policy)`` with a one-hot greedy ``policy``.

    Discounted: iterates ``V <- max_a (r + gamma P V)`` until the contraction bound guarantees
    ``|V - V*| <= tol`` (stops when ``gamma/(1-gamma) |V_k+1 - V_k| <= tol``). Finite horizon:
    exact backward induction."""
    P, r = _model(P, R)
    gamma, horizon = check_gamma_or_horizon(gamma, horizon)
    if horizon is not None:
        S, A = r.shape
        V, Q = np.zeros((horizon, S)), np.zeros((horizon, S, A))
        next_value = np.zeros(S)
        for t in reversed(range(horizon)):
            Q[t] = r + P @ next_value
            V[t] = next_value = Q[t].max(axis=1)
        return V, Q, greedy_policy(Q)
    V = np.zeros(r.shape[0])
    for _ in range(max_iter):
        new = (r + gamma * P @ V).max(axis=1)
        step = np.max(np.abs(new - V))
        V = new
        if gamma == 0 or step * gamma / (1.0 - gamma) <= tol:
            break
    else:
        raise ValueError(f"value_iteration did not reach tol={tol:g} in {max_iter} iterations")
    Q = r + gamma * P @ V
    return Q.max(axis=1), Q, greedy_policy(Q)


def policy_iteration(P: Any, R: Any, gamma: float, *, max_iter: int = 10_000,
                     method: str = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(V*, Q*, policy)`` by Howard's policy iteration: exact evaluation, greedy improvement.

    A state keeps its action unless another is better by more than round-off, so the loop
    cannot cycle between tied policies; it ends when no state changes (finitely many steps)."""
    P, r = _model(P, R)
    gamma = check_gamma(gamma)
    policy = greedy_policy(r)
    for _ in range(max_iter):
        P_pi, r_pi = _policy_model(P, r, policy)
        V = _solve_discounted(P_pi, r_pi, gamma, 1e-13, method)
        Q = r + gamma * P @ V
        current = np.einsum("sa,sa->s", policy, Q)
        improve = Q.max(axis=1) > current + TIE_RTOL * (1.0 + np.abs(current))
        if not improve.any():
            return V, Q, policy
        policy = np.where(improve[:, None], greedy_policy(Q), policy)
    raise ValueError(f"policy_iteration did not converge in {max_iter} iterations")


def _soft_policy(Q: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(Q / temperature)`` over actions, shifted by the max so it never overflows."""
    z = Q / temperature
    policy = np.exp(z - z.max(axis=-1, keepdims=True))
    return policy / policy.sum(axis=-1, keepdims=True)


def soft_value_iteration(P: Any, R: Any, gamma: float | None = None, horizon: int | None = None,
                         temperature: float = 1.0, *, tol: float = 1e-10, method: str = "auto",
                         max_iter: int = 1_000_000, V0: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The maximum-entropy backward pass: ``(V, Q, policy)`` of the soft Bellman equation

    ``Q = r + gamma P V``, ``V = temperature * logsumexp(Q / temperature)``,
    ``policy = exp((Q - V) / temperature)``

    (finite horizon: gamma = 1, V_H = 0, time-indexed results). This is the policy whose
    visitation MaxEnt IRL matches, and it is optimal for the reward plus ``temperature`` times
    the policy's entropy.

    Discounted problems are solved to ``|V - V_soft| <= tol`` by ``method``: ``"newton"``
    (soft policy iteration: evaluate the current softmax policy's entropy-regularised value
    exactly, then improve it; quadratic convergence, a few dense solves), ``"fixed-point"``
    (iterate the soft Bellman backup, a gamma-contraction, from ``V0``), or ``"auto"``
    (newton up to 3000 states). Both give the same answer; newton is far faster near gamma = 1.
    """
    P, r = _model(P, R)
    gamma, horizon = check_gamma_or_horizon(gamma, horizon)
    tau = check_temperature(temperature)
    S, A = r.shape
    if horizon is not None:
        V, Q = np.zeros((horizon, S)), np.zeros((horizon, S, A))
        next_value = np.zeros(S)
        for t in reversed(range(horizon)):
            Q[t] = r + P @ next_value
            V[t] = next_value = tau * logsumexp(Q[t] / tau)
        return V, Q, _soft_policy(Q, tau)
    if method not in ("auto", "newton", "fixed-point"):
        raise ValueError(f"method must be 'auto', 'newton' or 'fixed-point', got {method!r}")
    V = np.zeros(S) if V0 is None else np.asarray(V0, dtype=float).copy()
    if V.shape != (S,):
        raise ValueError(f"V0 has shape {V.shape} but P has shape {P.shape}: expected ({S},)")
    newton = method == "newton" or (method == "auto" and S <= DIRECT_SOLVE_MAX_STATES)
    previous = np.inf
    for _ in range(200 if newton else max_iter):
        Q = r + gamma * P @ V
        backed_up = tau * logsumexp(Q / tau)
        residual = np.max(np.abs(backed_up - V))
        # Newton converges quadratically until round-off; a residual that stops shrinking at
        # round-off level (relative 1e-12) is as converged as float64 allows.
        floor = newton and residual > previous / 4 and residual <= 1e-12 * (1.0 + np.max(np.abs(V))) / (1.0 - gamma)
        previous = residual
        if gamma == 0 or residual * gamma / (1.0 - gamma) <= tol or floor:
            V = backed_up
            Q = r + gamma * P @ V
            return V, Q, _soft_policy(Q, tau)
        if newton:
            policy = _soft_policy(Q, tau)
            entropy = -np.sum(policy * np.log(np.maximum(policy, 1e-300)), axis=1)
            P_pi, r_pi = _policy_model(P, r, policy)
            V = np.linalg.solve(np.eye(S) - gamma * P_pi, r_pi + tau * entropy)
        else:
            V = backed_up
    raise ValueError(f"soft_value_iteration did not reach tol={tol:g}; try method='fixed-point' or a larger max_iter")
