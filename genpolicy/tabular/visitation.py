"""The forward pass: how often a policy visits each state (and takes each action).

Normalization, kept everywhere in `genpolicy.tabular` (MaxEnt IRL's expert visitation too):

* finite horizon H: ``D[s, a] = sum_{t=0}^{H-1} P(s_t = s, a_t = a)``, so ``D.sum() == H``;
* discounted: ``D[s, a] = sum_{t>=0} gamma^t P(s_t = s, a_t = a)``, so ``D.sum() == 1/(1-gamma)``.

Unnormalized sums are what make ``sum_s D[s] r(s)`` the policy's expected (discounted)
return, which is why MaxEnt IRL's gradient is a difference of such sums.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genpolicy.tabular.mdp import check_gamma_or_horizon, check_p0, check_policy, check_transitions


def state_action_visitation(P: Any, policy: Any, p0: Any, gamma: float | None = None,
                            horizon: int | None = None) -> np.ndarray:
    """``D[s, a]``: expected (discounted) number of times the policy takes a in s, from s_0 ~ p0.

    Finite horizon: propagate ``d_t`` forward for t = 0..H-1 (``policy`` ``[S, A]`` or
    ``[H, S, A]``); sums to H. Discounted: the exact solve ``d = (I - gamma P_pi^T)^-1 p0``
    for a stationary policy; sums to 1/(1-gamma)."""
    P = check_transitions(P)
    gamma, horizon = check_gamma_or_horizon(gamma, horizon)
    policy = check_policy(policy, P, horizon)
    p0 = check_p0(p0, P)
    if horizon is None:
        if policy.ndim != 2:
            raise ValueError(f"a discounted visitation needs a stationary policy [S, A], got shape {policy.shape}")
        P_pi = np.einsum("sa,sat->st", policy, P)
        d = np.linalg.solve(np.eye(P.shape[0]) - gamma * P_pi.T, p0)
        return d[:, None] * policy
    return state_action_visitation_per_time(P, policy, p0, horizon).sum(axis=0)


def state_action_visitation_per_time(P: np.ndarray, policy: np.ndarray, p0: np.ndarray, horizon: int) -> np.ndarray:
    """``D_t[s, a] = P(s_t = s, a_t = a)`` for t = 0..H-1, shape ``[H, S, A]`` (each slice sums to 1)."""
    S, A, _ = P.shape
    D = np.zeros((horizon, S, A))
    d = p0
    for t in range(horizon):
        D[t] = d[:, None] * (policy[t] if policy.ndim == 3 else policy)
        d = np.einsum("sa,sat->t", D[t], P)
    return D


def state_visitation(P: Any, policy: Any, p0: Any, gamma: float | None = None,
                     horizon: int | None = None) -> np.ndarray:
    """``D[s]``: expected (discounted) number of visits of s; sums to H or 1/(1-gamma) (see module)."""
    return state_action_visitation(P, policy, p0, gamma=gamma, horizon=horizon).sum(axis=1)
