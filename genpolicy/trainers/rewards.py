"""Where an actor-critic's reward comes from: the seam for GAIL, AIRL and DIAYN.

The replay buffer (or dataset) always stores the environment's reward. The reward a learner
*trains on* is computed when a batch is drawn, by the algorithm's ``reward_source``, built from
the algorithm's ``reward`` config (``reward.name``, ``reward.scale``)::

    reward = reward_source(obs, action, next_obs, env_reward)      # all [B, ...] tensors

so a reward that changes while training (a discriminator that keeps learning) is always
evaluated with its current weights, never frozen into old rows of the buffer. Observations are
the raw flat ones of the buffer, actions raw (the env's units).

What each kind of source adds, and nothing else:

* ``EnvReward`` (here): the env's reward, times ``scale`` (offline: with the return-range factor).
* a learned reward (GAIL / AIRL): an ``nn.Module`` source whose ``__call__`` returns the
  discriminator's reward (``-log(1 - D)``, or AIRL's ``f(s, a, s')``). `ActorCritic` registers a
  Module source as the network ``"reward"`` (optimizer settings from the source's ``optim``
  attribute), so checkpoints, resets and dormant monitoring cover it; the algorithm trains it
  in ``update`` on batches of its ``"expert"`` source against its own.
* an intrinsic reward (DIAYN, next): a source whose ``__call__`` returns
  ``log q(z | s') - log p(z)`` from a skill discriminator, with the skill ``z`` carried as part of
  the observation (the env is wrapped to append a one-hot skill drawn at each reset, so the
  buffer and the actor see it like any other observation feature; ``skill_slice`` tells the
  source where it is). ``env_reward`` is ignored or added with a weight.

A source may also expose ``metrics() -> dict[str, Tensor]`` (e.g. the discriminator's accuracy);
`ActorCritic` averages them with the training metrics and logs them under ``reward/``.

New sources register a factory ``factory(scale, algo) -> source`` with `register_reward_source`.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

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


RewardFactory = Callable[[float, Any], RewardSource]
REWARD_SOURCES: dict[str, RewardFactory] = {"env": lambda scale, algo: EnvReward(scale)}


def register_reward_source(name: str, factory: RewardFactory) -> None:
    """Make ``reward.name=name`` build ``factory(scale, algo)``."""
    REWARD_SOURCES[name] = factory


def make_reward_source(name: str, scale: float = 1.0, algo: Any = None) -> RewardSource:
    """The reward source registered as ``name``, for ``algo`` (which a learned reward sizes itself from)."""
    if name not in REWARD_SOURCES:
        raise ValueError(f"unknown reward source {name!r}; known: {', '.join(sorted(REWARD_SOURCES))}")
    return REWARD_SOURCES[name](scale, algo)


__all__ = ["EnvReward", "REWARD_SOURCES", "RewardSource", "make_reward_source", "register_reward_source"]
