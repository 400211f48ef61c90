"""METRA (Park et al., 2024, "METRA: scalable unsupervised RL with metric-aware abstraction") on DIAYN's core.

DIAYN maximizes I(S; Z), which a skill can satisfy by sitting still in a place of its own: KL-
style objectives do not care how *far* skills go. METRA instead maximizes how far the state moves
along the skill's direction in a learned representation phi whose steps are at most 1 apart in
one env step (a temporal-distance, 1-Lipschitz constraint), so the reward is only earned by
covering distance:

    skills z: one-hot over K (DIAYN's skill wrapper), used as the centred direction
              m(z) = (one_hot(z) - 1/K) * K / (K - 1)       (+1 on z, -1/(K-1) elsewhere; METRA's discrete skills)
    reward:   r = (phi(s') - phi(s)) . m(z)                  phi: state (x-y prior dims) -> R^K
    phi:      max E[ r + lambda * min(eps, 1 - ||phi(s) - phi(s')||^2) ]      (lambda detached)
    lambda:   min E[ log lambda * min(eps, 1 - ||phi(s) - phi(s')||^2) ]       (dual ascent on the constraint)
    policy:   SAC on r (DIAYN's learner, alpha fixed 0.1 unless learn_temperature)

Continuous skills (``skill_dim=d``, the paper's setting on Ant): z is drawn uniform on the unit
sphere of R^d at each episode start (the ``continuous-skill`` wrapper), phi maps to R^d and
the reward is ``(phi(s') - phi(s)) . z``. With K one-hot directions several skills can share
the farthest corner at no loss (measured on point2d: they pair up and some stay short); with
every direction asked for, the policy must move along each of them. The export is K = ``skills``
evenly spread directions (a circle for d = 2; seeded draws otherwise) as a codebook
`SkillPolicy`, so coverage, final distances and the held-out check read it like any other.

eps = 1e-3 and lambda starting at 30 are the paper's settings. Everything else is DIAYN's: the
skill wrapper, the skill-conditioned export (without a discriminator: METRA has none, so its
skills are measured by coverage, final distances and the held-out classifier), the
``skills/`` rollout logs. The representation phi is the reward network ``"reward"``
(checkpointed, stepped by DIAYN's update through ``loss``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from genpolicy.models.skills import DiscriminatorConfig, SkillDiscriminator
from genpolicy.tasks.skills import CONTINUOUS_SKILL_WRAPPER, SKILL_WRAPPER, unit_vectors
from genpolicy.trainers.actor_critic import RewardConfig
from genpolicy.trainers.base import OptimizerConfig
from genpolicy.trainers.diayn import DIAYN, DIAYNConfig
from genpolicy.trainers.rewards import register_reward_source


@dataclass
class METRAConfig(DIAYNConfig):
    # phi: an MLP on ``representation.dims`` (e.g. [0, 1], the x-y prior) -> R^K
    representation: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    representation_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-4))  # the paper's
    constraint_slack: float = 1e-3  # eps
    initial_dual: float = 30.0  # lambda at the start (the paper's)
    reward: RewardConfig = field(default_factory=lambda: RewardConfig(name="metra", normalize="none"))
    # 0: K = ``skills`` one-hot skills; d >= 1: continuous unit-vector skills in R^d, exported as
    # ``skills`` evenly spread directions (module doc)
    skill_dim: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.skill_dim < 0:
            raise ValueError(f"skill_dim must be 0 (one-hot skills) or >= 1 (continuous), got {self.skill_dim}")


def export_directions(count: int, dim: int) -> np.ndarray:
    """``[count, dim]`` unit directions a continuous-skill policy exports as its skills: evenly
    spaced on the circle for ``dim = 2`` (angle ``2 pi k / count``), +-1 for ``dim = 1``, seeded
    uniform draws on the sphere otherwise."""
    if dim == 2:
        angles = 2 * np.pi * np.arange(count) / count
        return np.stack([np.cos(angles), np.sin(angles)], -1).astype(np.float32)
    if dim == 1:
        return np.where(np.arange(count) % 2 == 0, 1.0, -1.0).astype(np.float32)[:, None]
    return unit_vectors(count, dim, np.random.default_rng(0))


def skill_wrapper_spec(config: METRAConfig) -> dict[str, Any]:
    if config.skill_dim:
        return {"name": CONTINUOUS_SKILL_WRAPPER, "dim": int(config.skill_dim)}
    return {"name": SKILL_WRAPPER, "skills": int(config.skills)}


class TemporalDistanceReward(nn.Module):
    """METRA's reward source: ``(phi(s') - phi(s)) . m(z)`` and its representation/dual loss (module doc)."""

    discriminator = None  # no skill classifier: the export carries none

    def __init__(self, representation: SkillDiscriminator, state_dim: int, slack: float, initial_dual: float,
                 scale: float = 1.0, env_reward_weight: float = 0.0, optim: OptimizerConfig | None = None,
                 continuous: bool = False) -> None:
        super().__init__()
        self.phi = representation
        # num_skills: the width of phi and of the skill's code (K one-hot entries, or z in R^d)
        self.state_dim, self.num_skills, self.continuous = state_dim, representation.num_skills, bool(continuous)
        self.slack, self.scale, self.env_reward_weight, self.optim = float(slack), float(scale), float(env_reward_weight), optim
        self.log_dual = nn.Parameter(torch.tensor(float(initial_dual)).log())
        self._metrics: dict[str, torch.Tensor] = {}

    def directions(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B, K]`` centred skill directions ``m(z)`` from the observation's one-hot (or ``z``
        itself for continuous skills)."""
        code = obs[:, self.state_dim:self.state_dim + self.num_skills]
        if self.continuous:
            return code
        k = self.num_skills
        return (code - 1.0 / k) * (k / (k - 1) if k > 1 else 1.0)

    def steps(self, obs: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return self.phi(next_obs[:, :self.state_dim]) - self.phi(obs[:, :self.state_dim])

    def forward(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor,
                env_reward: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            reward = (self.steps(obs, next_obs) * self.directions(obs)).sum(-1)
            self._metrics = {"intrinsic_reward": reward.mean(), "dual": self.log_dual.exp()}
            if self.env_reward_weight:
                reward = reward + self.env_reward_weight * env_reward
            return reward * self.scale

    def loss(self, obs: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """phi's objective (maximized, lambda detached) + lambda's dual loss (constraint detached)."""
        step = self.steps(obs, next_obs)
        reward = (step * self.directions(obs)).sum(-1)
        constraint = (1.0 - step.pow(2).sum(-1)).clamp(max=self.slack)  # >= 0 iff ||phi(s) - phi(s')|| <= 1
        dual = self.log_dual.exp()
        representation_loss = -(reward + dual.detach() * constraint).mean()
        dual_loss = self.log_dual * constraint.detach().mean()
        self._metrics = {**self._metrics, "phi_step": step.norm(dim=-1).mean().detach(),
                         "constraint": constraint.mean().detach()}
        return representation_loss + dual_loss

    def metrics(self) -> dict[str, torch.Tensor]:
        return self._metrics


def temporal_distance_reward_source(scale: float, algo: Any) -> TemporalDistanceReward:
    """``reward.name=metra``: phi sized from the skill count and the wrapped env (DIAYN's checks)."""
    config = algo.config
    skill_dim = int(getattr(config, "skill_dim", 0))
    code_dim = skill_dim or int(getattr(config, "skills", 0))
    wrappers = algo.collector.wrappers if algo.collector is not None else []
    expected = skill_wrapper_spec(config) if isinstance(config, METRAConfig) else {"name": SKILL_WRAPPER, "skills": code_dim}
    if code_dim < 1 or not wrappers or wrappers[-1] != expected:
        raise ValueError(f"reward.name=metra needs the skill wrapper outermost ({expected}); got wrappers {wrappers}")
    state_dim = algo.spec.obs_dim - code_dim
    phi = SkillDiscriminator(state_dim, code_dim, config.representation)
    return TemporalDistanceReward(phi, state_dim, config.constraint_slack, config.initial_dual, scale,
                                  config.env_reward_weight, config.representation_optim, continuous=bool(skill_dim))


register_reward_source("metra", temporal_distance_reward_source)


class METRA(DIAYN):
    """DIAYN's learner and skill plumbing on METRA's reward (module doc); ``update`` is DIAYN's:
    SAC on this batch's rewards, then one step of the reward network's ``loss``."""

    config: METRAConfig

    @staticmethod
    def env_wrappers(config: METRAConfig) -> list[dict[str, Any]]:
        return [skill_wrapper_spec(config)]

    def skill_codebook(self) -> np.ndarray | None:
        """For continuous skills, ``skills`` evenly spread directions exported as K skills."""
        if not self.config.skill_dim:
            return None
        return export_directions(int(self.config.skills), int(self.config.skill_dim))

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        metrics = super().update(batch)
        metrics["representation_loss"] = metrics.pop("discriminator_loss")
        return metrics


__all__ = ["METRA", "METRAConfig", "TemporalDistanceReward", "export_directions", "temporal_distance_reward_source"]
