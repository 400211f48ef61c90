"""Exact tabular RL and maximum-entropy IRL on finite MDPs, numpy in and out.

Conventions: ``P[s, a, s']``; rewards ``R[s]`` (received in the current state, for every
action), ``R[s, a]`` or ``R[s, a, s']``; policies ``[S, A]`` or time-indexed ``[H, S, A]``;
``gamma`` in [0, 1) or a finite ``horizon`` H (decisions t = 0..H-1, V_H = 0). Visitations
sum to H (finite horizon) or 1/(1-gamma) (discounted). Torch tensors are accepted as input.

    import gymnasium as gym
    from genpolicy.tabular import from_gymnasium, value_iteration
    mdp = from_gymnasium(gym.make("FrozenLake-v1"))
    V, Q, policy = value_iteration(mdp.P, mdp.R, gamma=0.99)
"""

from genpolicy.tabular.demos import empirical_visitation, sample_trajectories
from genpolicy.tabular.gridworld import default_reward, expert_demos, gridworld
from genpolicy.tabular.maxent_irl import MaxEntIRLResult, maxent_irl
from genpolicy.tabular.mdp import TabularMDP, expected_reward, from_gymnasium
from genpolicy.tabular.planning import (
    greedy_policy,
    logsumexp,
    policy_evaluation,
    policy_iteration,
    soft_value_iteration,
    value_iteration,
)
from genpolicy.tabular.visitation import state_action_visitation, state_visitation

__all__ = [
    "MaxEntIRLResult", "TabularMDP", "default_reward", "empirical_visitation", "expected_reward", "expert_demos",
    "from_gymnasium", "greedy_policy", "gridworld", "logsumexp", "maxent_irl", "policy_evaluation",
    "policy_iteration", "sample_trajectories", "soft_value_iteration", "state_action_visitation",
    "state_visitation", "value_iteration",
]
