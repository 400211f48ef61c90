"""A slippery gridworld with a known state reward, and expert demonstrations from its soft-optimal policy.

The point is a reward you can look at: IRL's recovered reward is compared with this one as
images, and its optimal policy with the expert's, state by state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genpolicy.tabular.demos import sample_trajectories
from genpolicy.tabular.mdp import TabularMDP, to_numpy
from genpolicy.tabular.planning import soft_value_iteration

ACTIONS = ("up", "right", "down", "left")
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))


def default_reward(rows: int = 6, cols: int = 6) -> np.ndarray:
    """``[rows, cols]`` state reward: +1 at the goal (bottom-right), -1 on a lava wall across the
    middle row with a gap at its left end, 0 elsewhere. The wall makes the expert's route
    non-trivial and its actions unique in most states."""
    reward = np.zeros((rows, cols))
    reward[rows - 1, cols - 1] = 1.0
    reward[rows // 2, 1:cols] = -1.0
    return reward


def gridworld(reward: Any = None, slip: float = 0.1, p0: Any = None) -> TabularMDP:
    """A gridworld MDP from a ``[rows, cols]`` state reward (default `default_reward()`).

    Actions up, right, down, left; the intended move happens with probability ``1 - slip``,
    each other move with ``slip / 3``; moving into the border stays. The reward is a state
    reward (``R[s] = reward.flat[s]``, received in the current state). ``p0`` defaults to
    uniform over all cells, so every state is visited and its reward identifiable."""
    reward = default_reward() if reward is None else to_numpy(reward)
    if reward.ndim != 2:
        raise ValueError(f"reward must be a [rows, cols] grid, got shape {reward.shape}")
    if not 0.0 <= slip <= 1.0:
        raise ValueError(f"slip must be in [0, 1], got {slip:g}")
    rows, cols = reward.shape
    S, A = rows * cols, len(MOVES)
    P = np.zeros((S, A, S))
    for r in range(rows):
        for c in range(cols):
            s = r * cols + c
            for a in range(A):
                for move, (dr, dc) in enumerate(MOVES):
                    nr, nc = r + dr, c + dc
                    target = nr * cols + nc if 0 <= nr < rows and 0 <= nc < cols else s
                    P[s, a, target] += (1.0 - slip) if move == a else slip / (A - 1)
    p0 = np.full(S, 1.0 / S) if p0 is None else to_numpy(p0)
    return TabularMDP(P, reward.reshape(-1).copy(), p0, np.zeros(S, dtype=bool),
                      name=f"gridworld-{rows}x{cols}-slip{slip:g}", shape=(rows, cols))


def expert_demos(mdp: TabularMDP, num: int, length: int, *, gamma: float | None = None, horizon: int | None = None,
                 temperature: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(trajectories [num, length, 2], policy)``: demos of the soft-optimal policy of ``mdp.R``.

    This is the expert MaxEnt IRL models (Boltzmann-rational with this temperature), so with
    enough demos IRL can recover the reward exactly; a finite horizon needs ``length == horizon``."""
    if horizon is not None and length != horizon:
        raise ValueError(f"finite-horizon demos need length == horizon, got length {length} and horizon {horizon}")
    _, _, policy = soft_value_iteration(mdp.P, mdp.R, gamma=gamma, horizon=horizon, temperature=temperature)
    return sample_trajectories(mdp.P, policy, mdp.p0, num, length, seed=seed), policy
