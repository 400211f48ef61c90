"""A Q-network as a policy: ``Q(s, .)`` over K discrete choices, acting greedily.

Discrete learners on the core (`genpolicy.trainers.skill_dqn`) act in a Box action space of K
scores whose argmax is the choice (the ``skill-options`` wrapper's convention). The network's
outputs are Q-values, not actions: executing them directly would clip them to the action bounds
and tie the argmax. So the policy's action is the greedy choice as a score vector, ``+1`` on
``argmax_k Q(s, k)`` and ``-1`` elsewhere (in bounds, argmax unchanged). ``q_values`` gives the
Q-values themselves (what the learner trains). Registered as ``greedy-q``; saves and loads like
every policy.
"""

from __future__ import annotations

import torch

from genpolicy.models.base import register_policy
from genpolicy.models.policies import DeterministicPolicy, MLPPolicyConfig


@register_policy("greedy-q")
class GreedyQPolicy(DeterministicPolicy):
    """``act(obs)`` = ``2 * one_hot(argmax Q(obs, .)) - 1``; ``q_values(obs_norm) -> [B, K]``."""

    config_class = MLPPolicyConfig

    def q_values(self, obs_norm: torch.Tensor) -> torch.Tensor:
        """``[B, obs_dim]`` (normalized units; identity for env learners) -> ``[B, K]`` Q-values."""
        return self.features(obs_norm[:, None])[:, 0]

    def greedy(self, q_values: torch.Tensor) -> torch.Tensor:
        k = q_values.shape[-1]
        return 2.0 * torch.nn.functional.one_hot(q_values.argmax(-1), k).to(q_values.dtype) - 1.0

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        q = self.features(self._normalized(obs_history))  # [B, 1, K] (To = Tp = 1)
        return self.greedy(q)


__all__ = ["GreedyQPolicy"]
