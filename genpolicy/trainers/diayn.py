"""DIAYN, "Diversity is all you need" (Eysenbach et al., 2018): skills without a reward, on SAC.

    env wrapped by the skill wrapper: z ~ uniform{0..K-1} at each episode start, obs = [s, one_hot(z)]
    for each update:
        (s, z, a, s') ~ replay buffer
        r = log q(z | s') - log p(z)   (+ env_reward_weight * env reward)     the reward source
        SAC update on r  (alpha = 0.1 fixed, the paper's setting; learned alpha selectable)
        discriminator:  L_q = -E[log q(z | s')]  (cross-entropy on the same batch)

The skill lives in the observation (`genpolicy.tasks.skills`, spec ``{"name": "skill",
"skills": K}``, returned by ``env_wrappers`` so the run records it), so the collector, the
buffer and SAC need nothing skill-specific. The intrinsic reward is a reward source
(`genpolicy.trainers.rewards`, ``reward.name=diayn``): an ``nn.Module`` holding the
discriminator, so it is the network ``"reward"`` (checkpointed, trained here with
``step("reward", ...)``), and its rewards use the current discriminator whenever a batch is
drawn. ``discriminator.dims`` restricts q to chosen state dimensions (``[0, 1]``: the paper's
x-y prior). Logged under ``reward/``: the discriminator's accuracy on replay batches, the
intrinsic reward's mean, q's entropy and the skill entropy of the batch (log K if skills are
drawn uniformly); under ``skills/`` (every ``skill_eval_every``
epochs): fresh-rollout accuracy, coverage and final distances (`genpolicy.evaluation.skills`).

The exported policy is a `SkillPolicy` (``act(obs, skill=k)`` on the env's own observation),
which carries the discriminator; its env metadata drops the skill wrapper (it appends the skill
itself), so evaluation runs it in the plain env, a drawn skill per episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genpolicy.models.skills import DiscriminatorConfig, SkillDiscriminator, SkillPolicy, intrinsic_reward
from genpolicy.tasks.skills import CONTINUOUS_SKILL_WRAPPER, SKILL_WRAPPER
from genpolicy.trainers.actor_critic import RewardConfig
from genpolicy.trainers.base import OptimizerConfig
from genpolicy.trainers.rewards import register_reward_source
from genpolicy.trainers.sac import SAC, SACConfig


@dataclass
class DIAYNConfig(SACConfig):
    skills: int = 20  # K (the paper: 50 on MuJoCo)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    discriminator_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))
    env_reward_weight: float = 0.0  # r = intrinsic + weight * env reward
    learn_temperature: bool = False  # False: alpha stays initial_temperature (the paper's fixed 0.1)
    initial_temperature: float = 0.1
    reward: RewardConfig = field(default_factory=lambda: RewardConfig(name="diayn", normalize="none"))
    skill_eval_every: int = 1  # epochs between fresh-rollout skill checks (skills/ logs; 0: off)
    skill_eval_episodes: int = 1  # episodes per skill in each check


class SkillReward(nn.Module):
    """The intrinsic reward ``log q(z | s') - log p(z)`` as a reward source (see the module doc).

    Observations are the wrapped ones ``[s, one_hot(z)]``: ``z`` is read from the observation
    (the skill of the step's episode), q sees the next state's own entries."""

    def __init__(self, discriminator: SkillDiscriminator, state_dim: int, scale: float = 1.0,
                 env_reward_weight: float = 0.0, optim: OptimizerConfig | None = None) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.state_dim, self.num_skills = state_dim, discriminator.num_skills
        self.scale, self.env_reward_weight, self.optim = float(scale), float(env_reward_weight), optim
        self._metrics: dict[str, torch.Tensor] = {}
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def skills_of(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, self.state_dim:self.state_dim + self.num_skills].argmax(-1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor,
                env_reward: torch.Tensor) -> torch.Tensor:
        # q's forward pass on this batch is kept (with its graph) for `loss` on the same batch:
        # DIAYN's update would otherwise run the discriminator twice per update
        logits = self.discriminator(next_obs[:, :self.state_dim])
        self._cache = (next_obs, logits) if logits.requires_grad else None
        with torch.no_grad():
            logits = logits.detach()
            skills = self.skills_of(obs)
            reward = intrinsic_reward(logits, skills)
            log_q = F.log_softmax(logits, -1)
            share = torch.bincount(skills, minlength=self.num_skills).float() / skills.numel()
            self._metrics = {"discriminator_accuracy": (logits.argmax(-1) == skills).float().mean(),
                             "intrinsic_reward": reward.mean(),
                             "discriminator_entropy": -(log_q.exp() * log_q).sum(-1).mean(),
                             # H of the batch's skills: log K when the collector draws them uniformly
                             "skill_entropy": -(share * share.clamp_min(1e-12).log()).sum()}
            if self.env_reward_weight:
                reward = reward + self.env_reward_weight * env_reward
            return reward * self.scale

    def loss(self, obs: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of q(z | s') against the episode's skill (the reward's forward pass is
        reused when ``next_obs`` is the batch it was computed on)."""
        cache, self._cache = self._cache, None
        logits = cache[1] if cache is not None and cache[0] is next_obs else self.discriminator(next_obs[:, :self.state_dim])
        return F.cross_entropy(logits, self.skills_of(obs))

    def metrics(self) -> dict[str, torch.Tensor]:
        return self._metrics


def skill_reward_source(scale: float, algo: Any) -> SkillReward:
    """``reward.name=diayn``: q sized from the algorithm's skill count and its wrapped env."""
    config = algo.config
    num_skills = int(getattr(config, "skills", 0))
    wrappers = algo.collector.wrappers if algo.collector is not None else []
    if num_skills < 1 or not wrappers or wrappers[-1] != {"name": SKILL_WRAPPER, "skills": num_skills}:
        raise ValueError("reward.name=diayn needs an env collector whose outermost wrapper is "
                         f"{{'name': 'skill', 'skills': {num_skills}}} (DIAYN adds it; other wrappers go inside it); "
                         f"got wrappers {wrappers}")
    state_dim = algo.spec.obs_dim - num_skills
    discriminator = SkillDiscriminator(state_dim, num_skills, config.discriminator)
    return SkillReward(discriminator, state_dim, scale, config.env_reward_weight, config.discriminator_optim)


register_reward_source("diayn", skill_reward_source)


class SkillCheck(L.Callback):
    """Every ``every`` epochs: fresh deterministic rollouts of each skill -> ``skills/`` logs."""

    def __init__(self, env: Any, every: int, episodes: int) -> None:
        self.env, self.every, self.episodes = env, every, episodes
        self.last: dict[str, float] | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, algo: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if (epoch % self.every and epoch != trainer.max_epochs) or not trainer.is_global_zero:
            return
        from genpolicy.evaluation.skills import skill_report

        report = skill_report(algo.export_policy(), self.env, episodes=self.episodes, seed=20_000)
        self.last = report.metrics()
        for logger in trainer.loggers:
            logger.log_metrics(self.last, step=int(algo.num_updates))


def skill_checks(algo: Any) -> list[L.Callback]:
    """The periodic fresh-rollout `SkillCheck` of a skill learner, when its data names an env."""
    env = algo.spec.metadata.get("task") or algo.spec.metadata.get("env_id")
    if algo.config.skill_eval_every > 0 and env:
        return [SkillCheck(env, algo.config.skill_eval_every, algo.config.skill_eval_episodes)]
    return []


class DIAYN(SAC):
    """See the module doc: SAC on the skill wrapper's env, trained on the discriminator's reward."""

    config: DIAYNConfig
    data_source = None  # learns from its env alone
    data_required = False
    needs_env = True

    @staticmethod
    def env_wrappers(config: DIAYNConfig) -> list[dict[str, Any]]:
        return [{"name": SKILL_WRAPPER, "skills": int(config.skills)}]

    def configure_callbacks(self) -> list[L.Callback]:
        return [*super().configure_callbacks(), *skill_checks(self)]

    def step(self, name: str, loss: torch.Tensor) -> None:
        if name == "temperature" and not self.config.learn_temperature:
            return  # fixed alpha: the temperature is never stepped
        super().step(name, loss)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        metrics = super().update(batch)  # SAC on the intrinsic rewards of this batch
        discriminator_loss = self.reward.loss(batch["observations"], batch["next_observations"])
        self.step("reward", discriminator_loss)
        return {**metrics, "discriminator_loss": discriminator_loss.detach()}

    def skill_codebook(self) -> np.ndarray | None:
        """The codes the exported skills append (None: one-hots of the ``skills`` skills)."""
        return None

    def export_policy(self) -> SkillPolicy:
        """The actor as a `SkillPolicy` on the env's own observation (the skill wrapper dropped
        from its env record: the policy appends the skill itself)."""
        averaged = self.averaged("actor")
        actor = averaged if averaged is not None else self.actor
        metadata = dict(actor.config.metadata)
        skill_wrappers = {SKILL_WRAPPER, CONTINUOUS_SKILL_WRAPPER}
        rest = [spec for spec in metadata.get("env_wrappers", []) if spec.get("name") not in skill_wrappers]
        metadata.pop("env_wrappers", None)
        if rest:
            metadata["env_wrappers"] = rest
        return SkillPolicy.wrap(actor, self.config.skills, self.reward.discriminator, metadata,
                                codebook=self.skill_codebook())


__all__ = ["DIAYN", "DIAYNConfig", "SkillCheck", "SkillReward", "skill_reward_source"]
