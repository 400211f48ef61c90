"""MaxEnt IRL end to end on a gridworld and on FrozenLake: demos, IRL, and the numbers that judge it.

Three numbers say whether IRL recovered the reward: the visitation gap (does the recovered
reward's soft-optimal policy visit what the expert visited), the reward correlation (Pearson,
state rewards; invariant to the constant a state reward is identified up to), and the policy
agreement (does the recovered reward's *optimal* policy take the true optimal action in every
state where that action is unique).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from genpolicy.tabular.gridworld import default_reward, expert_demos, gridworld
from genpolicy.tabular.maxent_irl import MaxEntIRLResult, maxent_irl
from genpolicy.tabular.mdp import TabularMDP, from_gymnasium
from genpolicy.tabular.planning import policy_evaluation, soft_value_iteration, value_iteration
from genpolicy.tabular.visitation import state_visitation

UNIQUE_RTOL = 1e-6  # an optimal action is unique when it beats the second best by more than this (relative)


@dataclass
class IRLReport:
    """The numbers of one IRL run (JSON-ready through `to_dict`)."""

    name: str
    gamma: float
    temperature: float
    demos: int  # 0: the exact expert visitation was given instead of trajectories
    length: int
    visitation_gap: float  # L-inf, recovered vs the expert's (empirical) visitation
    true_visitation_gap: float  # L-inf, recovered vs the expert policy's exact visitation
    reward_correlation: float
    policy_agreement: float  # fraction of unique-action states where the optimal actions agree
    return_ratio: float  # true return of the recovered reward's optimal policy / the optimal true return
    unique_states: int
    disagreeing_states: list[int]
    iterations: int
    converged: bool
    final_gap: float
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (f"{self.name}: visitation gap {self.visitation_gap:.2e} (vs exact expert {self.true_visitation_gap:.3f}), "
                f"reward correlation {self.reward_correlation:.4f}, optimal-policy agreement "
                f"{self.policy_agreement:.1%} of {self.unique_states} unique-action states, return ratio "
                f"{self.return_ratio:.4f}; "
                f"{self.iterations} iterations, {'converged' if self.converged else 'NOT converged'}, "
                f"{self.seconds:.2f} s")


def unique_best(Q: np.ndarray) -> np.ndarray:
    """States whose best action beats the second best by more than ``UNIQUE_RTOL`` (relative)."""
    ordered = np.sort(Q, axis=1)
    return ordered[:, -1] - ordered[:, -2] > UNIQUE_RTOL * (1.0 + np.abs(ordered[:, -1]))


def policy_agreement(P: np.ndarray, true_R: Any, recovered_R: Any, gamma: float,
                     p0: np.ndarray | None = None) -> tuple[float, int, list[int], float]:
    """``(fraction, unique states, disagreeing states, return ratio)``: the recovered reward's
    optimal actions against the true reward's, on the states where the true optimal action is
    unique; and the true discounted return from ``p0`` (default uniform) of the recovered
    reward's optimal policy over the optimal one (near-ties make actions differ at no cost)."""
    V_true, Q_true, _ = value_iteration(P, true_R, gamma)
    _, Q_rec, policy_rec = value_iteration(P, recovered_R, gamma)
    unique = unique_best(Q_true)
    wrong = np.flatnonzero(unique & (Q_true.argmax(axis=1) != Q_rec.argmax(axis=1)))
    count = int(unique.sum())
    p0 = np.full(P.shape[0], 1.0 / P.shape[0]) if p0 is None else p0
    V_rec, _ = policy_evaluation(P, true_R, policy_rec, gamma)
    ratio = float(p0 @ V_rec / (p0 @ V_true)) if abs(p0 @ V_true) > 0 else float("nan")
    return (1.0 - len(wrong) / count if count else 1.0), count, [int(s) for s in wrong], ratio


def run_irl(mdp: TabularMDP, true_state_reward: np.ndarray, *, gamma: float, temperature: float = 1.0,
            demos: int = 200, length: int = 100, seed: int = 0, max_iter: int = 1000,
            l2: float = 0.0) -> tuple[IRLReport, MaxEntIRLResult, np.ndarray]:
    """Demos of the soft-optimal expert of ``mdp.R`` (or its exact visitation when ``demos=0``),
    state-only MaxEnt IRL with one-hot features, and the report.

    ``true_state_reward`` is the state reward the recovered one is correlated with (``mdp.R``
    itself when that is a state reward). Returns ``(report, result, exact expert visitation)``."""
    start = time.perf_counter()
    _, _, expert_policy = soft_value_iteration(mdp.P, mdp.R, gamma=gamma, temperature=temperature)
    exact = state_visitation(mdp.P, expert_policy, mdp.p0, gamma=gamma)
    if demos > 0:
        expert, _ = expert_demos(mdp, demos, length, gamma=gamma, temperature=temperature, seed=seed)
    else:
        expert = exact
    # Demos: p0 is their empirical start distribution (the likelihood's); exact: the MDP's own.
    result = maxent_irl(mdp.P, None, expert, None if demos > 0 else mdp.p0, gamma=gamma, temperature=temperature,
                        max_iter=max_iter, l2=l2 if demos > 0 else 0.0)
    fraction, unique, wrong, ratio = policy_agreement(mdp.P, mdp.R, result.reward, gamma, mdp.p0)
    report = IRLReport(
        name=mdp.name, gamma=gamma, temperature=temperature, demos=demos, length=length if demos else 0,
        visitation_gap=result.visitation_gap, true_visitation_gap=float(np.max(np.abs(result.visitation - exact))),
        reward_correlation=float(np.corrcoef(result.reward, true_state_reward)[0, 1]),
        policy_agreement=fraction, return_ratio=ratio, unique_states=unique, disagreeing_states=wrong, iterations=result.iterations,
        converged=result.converged, final_gap=result.final_gap, seconds=time.perf_counter() - start)
    return report, result, exact


def gridworld_irl(rows: int = 6, cols: int = 6, *, slip: float = 0.1, gamma: float = 0.9, demos: int = 1000,
                  length: int = 60, seed: int = 0, max_iter: int = 1000, l2: float = 0.01) -> tuple[IRLReport, MaxEntIRLResult, np.ndarray, TabularMDP]:
    """IRL on `gridworld(default_reward(rows, cols), slip)` (temperature 1)."""
    mdp = gridworld(default_reward(rows, cols), slip=slip)
    report, result, exact = run_irl(mdp, mdp.R, gamma=gamma, demos=demos, length=length, seed=seed, max_iter=max_iter, l2=l2)
    return report, result, exact, mdp


def frozenlake_mdp(map_name: str = "4x4") -> TabularMDP:
    """Slippery FrozenLake's exact model through `from_gymnasium`."""
    import gymnasium as gym

    return from_gymnasium(gym.make("FrozenLake-v1", map_name=map_name, is_slippery=True))


def goal_state_reward(mdp: TabularMDP, gamma: float) -> np.ndarray:
    """The state reward equivalent to FrozenLake's "1 (times the reward scale) on entering the goal".

    The goal is absorbing, so reward 1 on entering it at step t+1 is worth the same
    (gamma^t) as a state reward (1-gamma)/gamma in the goal at every step from t+1 on: same Q
    in every other state. This is the state reward the recovered one should correlate with."""
    entering = np.where(mdp.P > 0, mdp.R, 0.0).max(axis=(0, 1))  # reward for entering each state
    return np.where(mdp.terminal, entering * (1.0 - gamma) / gamma, 0.0)


def frozenlake_irl(map_name: str = "4x4", *, gamma: float = 0.95, reward_scale: float = 20.0, demos: int = 1000,
                   length: int = 100, seed: int = 0, max_iter: int = 1000, l2: float = 0.1,
                   ) -> tuple[IRLReport, MaxEntIRLResult, np.ndarray, TabularMDP]:
    """IRL on slippery FrozenLake from demos of its soft-optimal expert.

    FrozenLake's reward (1 at the goal) is small against an entropy bonus at temperature 1,
    which would make the expert almost uniform; the expert is soft-optimal for the reward
    times ``reward_scale`` (i.e. temperature 1/reward_scale), and IRL recovers that scaled reward."""
    mdp = frozenlake_mdp(map_name)
    mdp.R = mdp.R * reward_scale
    mdp.info["reward_scale"] = reward_scale
    report, result, exact = run_irl(mdp, goal_state_reward(mdp, gamma), gamma=gamma, demos=demos, length=length,
                                    seed=seed, max_iter=max_iter, l2=l2)
    return report, result, exact, mdp
