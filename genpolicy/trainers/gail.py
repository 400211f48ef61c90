"""GAIL off-policy, the Discriminator-Actor-Critic way (Kostrikov et al., 2019; Ho & Ermon, 2016).

    sources: "expert" (demonstrations, no rewards needed), "env" (a collector; its env wrapped
             by ``absorbing`` unless absorbing=False)
    expert data: first ``expert_episodes`` episodes, every ``expert_subsample``-th transition
                 (terminal ones kept), put in the wrapped env's observation space
    for each update:
        (s, a, s') ~ replay buffer,  (s_E, a_E) ~ expert          (actions at absorbing states: 0)
        r = reward_form(l(s, a))    with the discriminator's current weights, when drawn
        every ``discriminator_every`` updates, the discriminator:
            L_D = E_E[softplus(-l)] + E_pi[softplus(l)]
                  + lambda E[(||grad l(eps x_E + (1 - eps) x_pi)|| - 1)^2]
        the SAC update on (s, a, r, s')                            (`genpolicy.trainers.sac`)

The learner is SAC as configured (``gail-bro``: BRO's settings), so everything of the online
core holds: replay ratio, resets (which also re-initialize the discriminator: it is the
network ``"reward"``), checkpoints and exact resume, ``env/episode_return`` logs.

Why the pieces (DAC's findings):
* **off-policy**: the discriminator's reward is recomputed for old replay rows each time they
  are drawn, so the replay buffer stays valid as the reward changes: ≈ 10x fewer env steps
  than GAIL on PPO;
* **absorbing states** (``absorbing``): with plain terminations, a learner that stops the
  bootstrap at a terminal state implicitly gives "after the end" reward 0, so a reward of
  fixed sign alone decides whether dying early pays (``negative``) or surviving does
  (``positive``), whatever the expert did; with them, the absorbing state is scored by the
  discriminator and learned about like any other;
* **gradient penalty** (``gradient_penalty``, λ = 10): a discriminator with bounded slopes
  keeps giving the policy a reward it can climb.

Logs: ``reward/expert_accuracy``, ``reward/policy_accuracy`` (fraction of each batch the
discriminator classifies right), ``reward/gradient_penalty``, ``reward/discriminator_loss``,
``reward/mean`` (mean learned reward of the policy's batch), and the env's own return.
``discriminator_every=0`` never trains the discriminator: the frozen untrained one of the
survival-bias check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from genpolicy.datasets.demonstrations import subsample_episodes, terminations_as_cuts, with_absorbing_states
from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.samplers import TransitionSampler
from genpolicy.datasets.sources import Sources
from genpolicy.models.discriminators import (Discriminator, DiscriminatorConfig, RewardForm, discriminator_loss,
                                             gradient_penalty, reward_from_logits)
from genpolicy.trainers.actor_critic import RewardConfig
from genpolicy.trainers.base import OptimizerConfig
from genpolicy.trainers.rewards import register_reward_source
from genpolicy.trainers.sac import SAC, SACConfig


@dataclass
class GAILConfig(SACConfig):
    reward: RewardConfig = field(default_factory=lambda: RewardConfig(name="adversarial", normalize="none"))
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    discriminator_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))
    reward_form: RewardForm = "logit"  # positive: -log(1-D); logit: log D - log(1-D) (DAC); negative: log D
    gradient_penalty: float = 10.0  # lambda of the penalty on expert/policy interpolates (0: none)
    discriminator_every: int = 1  # updates between discriminator steps (0: never: a frozen, untrained one)
    absorbing: bool = True  # DAC's absorbing states (env wrapper + the expert data converted)
    expert_episodes: int = 0  # keep the first N expert episodes (0: all)
    expert_subsample: int = 1  # keep every Nth transition of each expert episode (DAC: 20); terminals kept
    expert_subsample_seed: int | None = None  # None: from each episode's start; else a random offset per episode
    # "absorb": an expert episode that terminates leads to the absorbing state (DAC's protocol, for
    # demonstrators that end by reaching a goal); "cut": its terminations are read as truncations, for
    # demonstrators whose episodes end by *failing* (a medium Hopper policy falls in 184 of 185
    # episodes): absorbed, falling looks expert-like and the learner learns to fall at once
    # (measured on Hopper, docs/imitation.md: cut, it stops falling, though it stands rather than hops).
    expert_terminations: Literal["absorb", "cut"] = "absorb"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.expert_terminations not in ("absorb", "cut"):
            raise ValueError(f"expert_terminations must be 'absorb' or 'cut', got {self.expert_terminations!r}")


def prepare_expert(dataset: OfflineDataset, config: GAILConfig) -> OfflineDataset:
    """The expert data as the discriminator sees it: first episodes, subsampled, in the
    wrapped env's observation space (see the module doc)."""
    if config.expert_episodes > 0:
        if config.expert_episodes > dataset.num_episodes:
            raise ValueError(f"expert_episodes={config.expert_episodes}, but the expert data has only "
                             f"{dataset.num_episodes} episodes")
        dataset = dataset.select_episodes(list(range(config.expert_episodes)))
    if config.expert_terminations == "cut":
        dataset = terminations_as_cuts(dataset)
    dataset = subsample_episodes(dataset, config.expert_subsample, config.expert_subsample_seed)
    return with_absorbing_states(dataset) if config.absorbing else dataset


class AdversarialReward(nn.Module):
    """The reward source ``r = reward_form(l(s, a))`` (the network ``"reward"`` of the algorithm).

    ``absorbing``: the observation's last entry is the absorbing flag; there the action is
    replaced by the middle of the action range (0 in the discriminator's units), as DAC
    scores the absorbing state by the state alone.
    """

    def __init__(self, discriminator: Discriminator, form: RewardForm, scale: float, optim: OptimizerConfig,
                 absorbing: bool) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.form, self.scale, self.optim, self.absorbing = form, float(scale), optim, absorbing
        self._last_mean: torch.Tensor | None = None

    def pair(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The discriminator's input for ``(s, a)``, actions masked at absorbing states."""
        if self.absorbing:
            middle = (self.discriminator.action_low + self.discriminator.action_high) / 2
            actions = torch.where(obs[:, -1:] > 0.5, middle.expand_as(actions), actions)
        return self.discriminator.inputs(obs, actions)

    def logits(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.discriminator.logits_of_inputs(self.pair(obs, actions))

    @torch.no_grad()
    def forward(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor,
                env_rewards: torch.Tensor) -> torch.Tensor:
        reward = reward_from_logits(self.logits(obs, actions), self.form) * self.scale
        self._last_mean = reward.mean()
        return reward

    def metrics(self) -> dict[str, torch.Tensor]:
        return {} if self._last_mean is None else {"mean": self._last_mean}


def _adversarial_reward(scale: float, algo: Any) -> AdversarialReward:
    """``reward.name=adversarial``: a discriminator sized from the algorithm's env and its
    (prepared) expert data, whose statistics standardize the observations."""
    if not isinstance(getattr(algo, "config", None), GAILConfig):
        raise ValueError("reward.name=adversarial needs an adversarial-imitation algorithm (gail) that owns expert data")
    config, spec = algo.config, algo.spec
    obs = algo.expert_data.observations
    if config.absorbing:  # statistics of the real states; the flag column keeps unit scale (it is 0 or 1)
        obs = obs[obs[:, -1] < 0.5]
    mean, std = obs.mean(0), obs.std(0, unbiased=False)
    if config.absorbing:
        mean[-1], std[-1] = 0.0, 1.0
    discriminator = Discriminator(spec.obs_dim, spec.act_dim, config.discriminator, obs_mean=mean, obs_std=std,
                                  action_low=torch.tensor(spec.action_low), action_high=torch.tensor(spec.action_high))
    return AdversarialReward(discriminator, config.reward_form, scale, config.discriminator_optim, config.absorbing)


register_reward_source("adversarial", _adversarial_reward)


class ExpertAndReplay:
    """A replay batch plus an expert batch of the same size under ``expert_*`` keys."""

    def __init__(self, replay: Any, expert: TransitionSampler) -> None:
        self.replay, self.expert = replay, expert

    def sample(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = self.replay.sample(generator)
        expert = self.expert.sample(generator)
        return {**batch, "expert_observations": expert["observations"], "expert_actions": expert["actions"],
                "expert_next_observations": expert["next_observations"], "expert_terminations": expert["terminations"]}


class GAIL(SAC):
    config: GAILConfig
    data_source = "expert"  # train(data=...) becomes the "expert" source
    data_required = True
    needs_env = True

    @staticmethod
    def env_wrappers(config: GAILConfig) -> list[dict[str, Any]]:
        return [{"name": "absorbing"}] if config.absorbing else []

    def __init__(self, config: GAILConfig, sources: Sources) -> None:
        self._expert_data: OfflineDataset | None = None
        super().__init__(config, sources)

    @property
    def expert_data(self) -> OfflineDataset:
        """The prepared expert data (`prepare_expert`), checked against the env's spaces."""
        if self._expert_data is None:
            raw = self.sources.dataset("expert", needed_by="gail")
            data = prepare_expert(raw, self.config)
            spec = self.spec
            if (data.obs_dim, data.act_dim) != (spec.obs_dim, spec.act_dim):
                raise ValueError(
                    f"expert data has obs_dim={raw.obs_dim}, act_dim={raw.act_dim}; the env "
                    f"{spec.metadata.get('env_id', '')} has obs_dim={spec.obs_dim - int(self.config.absorbing)}, "
                    f"act_dim={spec.act_dim} (before the absorbing flag)")
            self._expert_data = data
        return self._expert_data

    def make_sampler(self) -> ExpertAndReplay:
        self._expert_data = self.expert_data.to(self.device)
        return ExpertAndReplay(super().make_sampler(), TransitionSampler(self._expert_data, self.config.batch_size))

    def update_discriminator(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One step of the discriminator on the expert half vs the replay half of ``batch``."""
        source: AdversarialReward = self.reward
        expert_x = source.pair(batch["expert_observations"], batch["expert_actions"])
        policy_x = source.pair(batch["observations"], batch["actions"])
        net = source.discriminator.logits_of_inputs
        expert_logits, policy_logits = net(expert_x), net(policy_x)
        loss = discriminator_loss(expert_logits, policy_logits)
        penalty = (gradient_penalty(net, expert_x, policy_x, self.generator) if self.config.gradient_penalty > 0
                   else torch.zeros((), device=loss.device))
        self.step("reward", loss + self.config.gradient_penalty * penalty)
        return {"reward/discriminator_loss": loss.detach(), "reward/gradient_penalty": penalty.detach(),
                "reward/expert_accuracy": (expert_logits > 0).float().mean().detach(),
                "reward/policy_accuracy": (policy_logits < 0).float().mean().detach()}

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        every = self.config.discriminator_every
        metrics = self.update_discriminator(batch) if every > 0 and self.update_index % every == 0 else {}
        return {**metrics, **super().update(batch)}


__all__ = ["AdversarialReward", "ExpertAndReplay", "GAIL", "GAILConfig", "prepare_expert"]
