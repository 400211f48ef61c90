"""Finite MDPs as numpy arrays, and the checks every tabular function runs on its inputs.

Conventions (kept by every function in `genpolicy.tabular`):

* ``P[s, a, s']``: transition probabilities; every row ``P[s, a, :]`` sums to 1.
* rewards ``R[s, a]``, ``R[s, a, s']`` or ``R[s]``. A state reward is received in the
  current state: ``R[s]`` means ``R[s, a] = r(s)`` for every action.
* policies ``[S, A]`` (stationary) or ``[H, S, A]`` (time-indexed, finite horizon).
* ``gamma`` in [0, 1) for a discounted problem, or ``horizon`` H for a finite one:
  H decisions at t = 0..H-1 and no value after the last (V_H = 0).
* absorbing states are ordinary states that loop to themselves with reward 0.

The checks raise ``ValueError`` with one line that names the offending state, action or
shapes, because a wrong array deep inside a Bellman backup otherwise shows up as a silently
wrong value. Torch tensors (and anything array-like) are accepted and converted at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

ROW_ATOL = 1e-6  # how far a row of P or of a policy may be from summing to 1


def to_numpy(x: Any, dtype: type | None = float) -> np.ndarray:
    """``np.asarray`` that also takes torch tensors (detached, on the CPU) without importing torch."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def check_transitions(P: Any) -> np.ndarray:
    """``P[s, a, s']`` as a float array, after checking its shape and that its rows are distributions."""
    P = to_numpy(P)
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise ValueError(f"P must have shape [S, A, S], got {P.shape}")
    if not np.all(np.isfinite(P)) or P.min() < -ROW_ATOL:
        s, a, _ = np.argwhere(~np.isfinite(P) | (P < -ROW_ATOL))[0]
        raise ValueError(f"P[s={s}, a={a}] has a negative or non-finite probability")
    sums = P.sum(axis=2)
    bad = np.argwhere(np.abs(sums - 1.0) > ROW_ATOL)
    if len(bad):
        s, a = bad[0]
        raise ValueError(f"P[s={s}, a={a}, :] sums to {sums[s, a]:.6g}, not 1 ({len(bad)} such rows)")
    return P


def expected_reward(P: np.ndarray, R: Any) -> np.ndarray:
    """``r(s, a)``, the expected immediate reward, from ``R[s]``, ``R[s, a]`` or ``R[s, a, s']``.

    Every dynamic-programming backup only needs this expectation, so all reward forms are
    reduced to it once, at the edge."""
    R = to_numpy(R)
    S, A, _ = P.shape
    if R.shape == (S,):
        return np.repeat(R[:, None], A, axis=1)
    if R.shape == (S, A):
        return R
    if R.shape == (S, A, S):
        return np.einsum("ijk,ijk->ij", P, R)
    raise ValueError(f"R has shape {R.shape} but P has shape {P.shape}: expected R of shape "
                     f"({S},), ({S}, {A}) or ({S}, {A}, {S})")


def check_policy(policy: Any, P: np.ndarray, horizon: int | None = None) -> np.ndarray:
    """A ``[S, A]`` or ``[H, S, A]`` policy whose rows are distributions over actions."""
    policy = to_numpy(policy)
    S, A, _ = P.shape
    shapes = [(S, A)] + ([(horizon, S, A)] if horizon is not None else [])
    if policy.shape not in shapes:
        expected = " or ".join(str(s) for s in shapes)
        raise ValueError(f"policy has shape {policy.shape} but P has shape {P.shape}: expected {expected}")
    if policy.min() < -ROW_ATOL:
        raise ValueError("policy has a negative probability")
    sums = policy.sum(axis=-1)
    bad = np.argwhere(np.abs(sums - 1.0) > ROW_ATOL)
    if len(bad):
        index = tuple(int(i) for i in bad[0])
        where = f"s={index[-1]}" if len(index) == 1 else f"t={index[0]}, s={index[1]}"
        raise ValueError(f"policy[{where}, :] sums to {sums[tuple(bad[0])]:.6g}, not 1")
    return policy


def check_p0(p0: Any, P: np.ndarray) -> np.ndarray:
    """An initial state distribution over the S states of ``P``."""
    p0 = to_numpy(p0)
    if p0.shape != (P.shape[0],):
        raise ValueError(f"p0 has shape {p0.shape} but P has shape {P.shape}: expected ({P.shape[0]},)")
    if p0.min() < -ROW_ATOL or abs(p0.sum() - 1.0) > ROW_ATOL:
        raise ValueError(f"p0 must be a distribution (non-negative, sums to 1), sums to {p0.sum():.6g}")
    return p0


def check_gamma(gamma: Any) -> float:
    """A discount in [0, 1): at 1 the infinite-horizon values need not exist."""
    gamma = float(gamma)
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {gamma:g} (use horizon=H for an undiscounted finite horizon)")
    return gamma


def check_gamma_or_horizon(gamma: Any, horizon: Any) -> tuple[float | None, int | None]:
    """Exactly one of a discount or a finite horizon: the two define different problems."""
    if (gamma is None) == (horizon is None):
        which = "neither" if gamma is None else "both"
        raise ValueError(f"pass exactly one of gamma (discounted) or horizon (finite horizon), got {which}")
    if gamma is not None:
        return check_gamma(gamma), None
    if int(horizon) != horizon or int(horizon) < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    return None, int(horizon)


def check_temperature(temperature: Any) -> float:
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature:g}")
    return temperature


@dataclass
class TabularMDP:
    """A finite MDP: ``P[s, a, s']``, reward ``R`` (``[S]``, ``[S, A]`` or ``[S, A, S]``) and ``p0``.

    ``terminal[s]`` marks absorbing states (self-loop, reward 0); ``shape`` is the grid's
    (rows, columns) when the states are the cells of a grid (used for pictures)."""

    P: np.ndarray
    R: np.ndarray
    p0: np.ndarray
    terminal: np.ndarray
    name: str = ""
    shape: tuple[int, int] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_states(self) -> int:
        return self.P.shape[0]

    @property
    def num_actions(self) -> int:
        return self.P.shape[1]


def from_gymnasium(env: Any) -> TabularMDP:
    """The exact model of a gymnasium toy-text env (FrozenLake, CliffWalking, Taxi) from ``env.unwrapped.P``.

    ``env.unwrapped.P[s][a]`` lists ``(prob, next_state, reward, terminated)``. A transition
    that terminates the episode leads into a state that is made absorbing here (self-loop,
    reward 0), so the episodic task becomes an ordinary MDP the solvers handle; the reward of
    the terminating transition itself is kept. ``R`` is ``[S, A, S]`` (the probability-weighted
    reward of each transition) and ``p0`` is the env's initial state distribution.
    """
    base = getattr(env, "unwrapped", env)
    model = getattr(base, "P", None)
    if not isinstance(model, dict):
        raise ValueError(f"{type(base).__name__} has no tabular model env.unwrapped.P (a toy-text env has one)")
    S = int(base.observation_space.n)
    A = int(base.action_space.n)
    P = np.zeros((S, A, S))
    reward_mass = np.zeros((S, A, S))
    ends = np.zeros(S, dtype=bool)  # entered by a terminating transition
    for s in range(S):
        for a in range(A):
            for prob, next_state, reward, terminated in model[s][a]:
                P[s, a, int(next_state)] += prob
                reward_mass[s, a, int(next_state)] += prob * reward
                if prob > 0 and terminated:
                    ends[int(next_state)] = True
    # Transitions out of a terminal state are replaced below, so they cannot make it non-terminal.
    sources_continue = np.zeros(S, dtype=bool)
    for s in np.flatnonzero(~ends):
        for a in range(A):
            for prob, next_state, _, terminated in model[s][a]:
                if prob > 0 and not terminated:
                    sources_continue[int(next_state)] = True
    both = np.flatnonzero(ends & sources_continue)
    if len(both):
        raise ValueError(f"state {both[0]} is entered both by terminating and by continuing transitions; "
                         "it cannot be made absorbing")
    R = np.divide(reward_mass, P, out=np.zeros_like(P), where=P > 0)
    for s in np.flatnonzero(ends):
        P[s] = 0.0
        P[s, :, s] = 1.0
        R[s] = 0.0
    p0 = np.asarray(getattr(base, "initial_state_distrib", np.eye(S)[0]), dtype=float)
    shape = tuple(int(n) for n in getattr(base, "desc").shape) if hasattr(base, "desc") else None
    if shape is None and hasattr(base, "shape"):
        shape = tuple(int(n) for n in base.shape)
    if shape is not None and shape[0] * shape[1] != S:
        shape = None
    spec = getattr(env, "spec", None)
    return TabularMDP(check_transitions(P), R, check_p0(p0 / p0.sum(), P), ends,
                      name=getattr(spec, "id", type(base).__name__), shape=shape)
