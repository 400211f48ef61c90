"""Where an online learner's reward comes from: the seam for GAIL, AIRL and DIAYN.

The replay buffer always stores the environment's reward. The reward a learner *trains on* is
computed when a batch is drawn, by the algorithm's ``reward_source``::

    reward = reward_source(obs, action, next_obs, env_reward)      # all [B, ...] tensors

so a reward that changes while training (a discriminator that keeps learning) is always
evaluated with its current weights, never frozen into old rows of the buffer. Observations are
the raw flat ones of the buffer, actions raw (the env's units).

What each kind of source adds, and nothing else:

* ``EnvReward`` (here): the env's reward, optionally scaled.
* a learned reward (GAIL / AIRL, next): an ``nn.Module`` source whose ``__call__`` returns the
  discriminator's reward (``-log(1 - D)``, or AIRL's ``f(s, a, s')``). The algorithm registers it
  as a network (``add_network("reward", source, optim)``, so checkpoints, resets and dormant
  monitoring cover it) and trains it in ``update`` with the source's own ``loss(policy_batch,
  expert_batch)``; expert batches come from a second sampler (``MixedSampler`` or a separate
  `TransitionSampler` on the demonstrations).
* an intrinsic reward (DIAYN, next): a source whose ``__call__`` returns
  ``log q(z | s') - log p(z)`` from a skill discriminator, with the skill ``z`` carried as part of
  the observation (the env is wrapped to append a one-hot skill drawn at each reset, so the
  buffer and the actor see it like any other observation feature; ``skill_slice`` tells the
  source where it is). ``env_reward`` is ignored or added with a weight.

A source may also expose ``metrics() -> dict[str, Tensor]`` (e.g. the discriminator's accuracy);
the online core logs them under ``reward/``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class RewardSource(Protocol):
    """``(obs, action, next_obs, env_reward) -> reward``: batched tensors in, ``[B]`` out."""

    def __call__(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor,
                 env_reward: torch.Tensor) -> torch.Tensor: ...


class EnvReward:
    """The environment's own reward, times ``scale``."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(scale)

    def __call__(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor,
                 env_reward: torch.Tensor) -> torch.Tensor:
        return env_reward * self.scale if self.scale != 1.0 else env_reward


REWARD_SOURCES = {"env": EnvReward}


def make_reward_source(name: str, scale: float = 1.0) -> RewardSource:
    """The reward source registered as ``name`` (``"env"`` today; GAIL/AIRL/DIAYN add theirs)."""
    if name not in REWARD_SOURCES:
        raise ValueError(f"unknown reward source {name!r}; known: {', '.join(sorted(REWARD_SOURCES))}")
    return REWARD_SOURCES[name](scale=scale)


__all__ = ["EnvReward", "REWARD_SOURCES", "RewardSource", "make_reward_source"]
