"""Demonstrations on finite MDPs: sample trajectories, and turn them into visitation counts.

Trajectories are int arrays ``[N, T, 2]`` of (state, action) pairs, or a list of ``[T, 2]``
arrays; their empirical visitation uses the normalization of `genpolicy.tabular.visitation`
so it can stand in for an exact one.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from genpolicy.tabular.mdp import check_gamma_or_horizon, check_p0, check_policy, check_transitions, to_numpy


def sample_trajectories(P: Any, policy: Any, p0: Any, num: int, length: int,
                        seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """``num`` trajectories of ``length`` steps, int array ``[num, length, 2]`` of (s_t, a_t).

    ``policy`` is ``[S, A]`` or time-indexed ``[length, S, A]``. All trajectories are sampled
    in parallel (inverse-CDF on uniform draws), so thousands of demos take milliseconds."""
    P = check_transitions(P)
    policy = check_policy(policy, P, length)
    p0 = check_p0(p0, P)
    rng = np.random.default_rng(seed)
    out = np.zeros((num, length, 2), dtype=np.int64)
    state = _draw(np.broadcast_to(p0, (num, len(p0))), rng)
    for t in range(length):
        pi_t = policy[t] if policy.ndim == 3 else policy
        action = _draw(pi_t[state], rng)
        out[:, t, 0], out[:, t, 1] = state, action
        state = _draw(P[state, action], rng)
    return out


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of ``probs`` (rows are distributions)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cdf[:, -1:]
    return np.minimum((u >= cdf).sum(axis=1), probs.shape[1] - 1)


def as_trajectories(expert: Any, num_states: int, num_actions: int) -> list[np.ndarray] | None:
    """``expert`` as a list of ``[T, 2]`` int arrays, or None when it is a visitation array.

    A float array of shape ``[S]`` or ``[S, A]`` is a visitation; an int array ``[N, T, 2]``
    (or ``[T, 2]``) or a list of ``[T, 2]`` arrays are trajectories."""
    if isinstance(expert, (list, tuple)):
        trajectories = [to_numpy(t, dtype=None) for t in expert]
    else:
        array = to_numpy(expert, dtype=None)
        if not np.issubdtype(array.dtype, np.integer):
            return None
        trajectories = list(array) if array.ndim == 3 else [array]
    for i, t in enumerate(trajectories):
        if t.ndim != 2 or t.shape[1] != 2 or not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"trajectory {i} must be an int array [T, 2] of (state, action), got shape {t.shape}")
        if len(t) == 0:
            raise ValueError(f"trajectory {i} is empty")
        if t[:, 0].min() < 0 or t[:, 0].max() >= num_states or t[:, 1].min() < 0 or t[:, 1].max() >= num_actions:
            raise ValueError(f"trajectory {i} has a state outside [0, {num_states}) or an action outside [0, {num_actions})")
    return trajectories


def empirical_visitation(trajectories: Sequence[np.ndarray], num_states: int, num_actions: int,
                         gamma: float | None = None, horizon: int | None = None) -> np.ndarray:
    """The trajectories' average (discounted) count ``D[s, a]``, normalized like the exact visitation.

    Finite horizon H: the first H steps of each trajectory (each must have at least H), so
    the counts sum to H. Discounted: weights gamma^t; a finite trajectory misses the tail
    after its last step, so the counts are rescaled to sum to 1/(1-gamma) (the tail is
    assumed to look like the observed part; use trajectories with gamma^T small)."""
    gamma, horizon = check_gamma_or_horizon(gamma, horizon)
    D = np.zeros((num_states, num_actions))
    for i, t in enumerate(trajectories):
        if horizon is not None:
            if len(t) < horizon:
                raise ValueError(f"trajectory {i} has {len(t)} steps, fewer than horizon {horizon}")
            np.add.at(D, (t[:horizon, 0], t[:horizon, 1]), 1.0)
        else:
            np.add.at(D, (t[:, 0], t[:, 1]), gamma ** np.arange(len(t)))
    total = horizon if horizon is not None else 1.0 / (1.0 - gamma)
    return D * (total / D.sum())


def initial_distribution(trajectories: Sequence[np.ndarray], num_states: int) -> np.ndarray:
    """The empirical distribution of the trajectories' first states."""
    counts = np.bincount([int(t[0, 0]) for t in trajectories], minlength=num_states).astype(float)
    return counts / counts.sum()

