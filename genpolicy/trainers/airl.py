"""AIRL off-policy: a reward you can keep (Fu et al., 2018), on the GAIL / SAC core.

    discriminator:  f(s, a, s') = g(s) + gamma h(s') - h(s)      (g(s, a) with state_only=false)
                    D = exp f / (exp f + pi(a|s)),  so  logit D = f - log pi(a|s)
    for each update (as GAIL, `genpolicy.trainers.gail`):
        (s, a, s') ~ replay,  (s_E, a_E, s'_E) ~ expert
        r = f(s, a, s')                          with the current g, h, when the batch is drawn
        L_D = E_E[softplus(-(f - log pi))] + E_pi[softplus(f - log pi)]     (log pi of the current actor, no gradient)
        the SAC update on (s, a, r, s')
    at the end: RUN/reward/ = g alone (`genpolicy.models.saved_rewards`, ``load_reward(RUN)``)

Why ``f`` and not ``f - log pi`` as the learner's reward: AIRL's policy objective is the logit,
i.e. ``f`` plus the policy's entropy; SAC already adds ``alpha`` times that entropy, so its reward
is ``f``. Why ``g`` is what is saved: the shaping ``gamma h(s') - h(s)`` makes the optimal policy
the same under ``f`` and ``g``, and a state-only ``g`` cannot absorb the dynamics, so it is the
part that should transfer to a changed env.

Absorbing states are required (``absorbing=true``, the default): a reward source sees no
terminations, and with absorbing states there are none (the shaping at an episode's end goes
through the absorbing state's own potential). ``log pi`` is of actions in the actor's units
([-1, 1]); against raw units it differs by a constant, which ``g``'s bias takes up.
``gradient_penalty`` (default 0: the paper's AIRL) penalizes ``f``'s slope as DAC does GAIL's
logit (`AIRL.shaping_penalty`); measured in docs/imitation.md: without it the off-policy
discriminator drives ``f`` down on stale replay actions and the learner collapses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from genpolicy.models.discriminators import ShapedReward, discriminator_loss, gradient_penalty
from genpolicy.models.saved_rewards import REWARD_DIR, RewardNet, RewardNetConfig
from genpolicy.trainers.actor_critic import RewardConfig
from genpolicy.trainers.base import OptimizerConfig
from genpolicy.trainers.gail import GAIL, GAILConfig
from genpolicy.trainers.rewards import register_reward_source


@dataclass
class AIRLConfig(GAILConfig):
    reward: RewardConfig = field(default_factory=lambda: RewardConfig(name="airl", normalize="none"))
    gradient_penalty: float = 0.0  # lambda of a penalty on f's slope at expert/policy interpolates of (s, a, s')
    state_only: bool = True  # g(s) (the disentangled reward) or g(s, a)
    reward_hidden_dims: list[int] = field(default_factory=lambda: [256, 256])  # of g and of h
    # "f": SAC's reward is f (its own alpha-entropy stands in for AIRL's -log pi, see the module
    # doc); "logit": f - log pi(a|s) of the current actor, AIRL's policy objective taken literally
    # (SAC's entropy bonus then comes on top)
    learner_reward: Literal["f", "logit"] = "f"
    # "state": g(s), the paper's; "next_state": g(s'), for a true reward of the state reached
    # (saved with the reward, so `SavedReward` scores s' too)
    g_of: Literal["state", "next_state"] = "state"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.absorbing:
            raise ValueError("airl needs absorbing=true (its shaping term needs to know where episodes end)")
        if self.learner_reward not in ("f", "logit"):
            raise ValueError(f"learner_reward must be 'f' or 'logit', got {self.learner_reward!r}")
        if self.g_of not in ("state", "next_state"):
            raise ValueError(f"g_of must be 'state' or 'next_state', got {self.g_of!r}")


class AIRLReward(nn.Module):
    """The reward source ``r = f(s, a, s')`` (network ``"reward"``); ``shaped.g`` is what is kept."""

    def __init__(self, shaped: ShapedReward, scale: float, optim: OptimizerConfig, g_of: str = "state") -> None:
        super().__init__()
        self.shaped, self.scale, self.optim, self.g_of = shaped, float(scale), optim, g_of
        self._last_mean: torch.Tensor | None = None

    def f(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        if self.g_of == "next_state":  # g(s') + gamma h(s') - h(s) (state-only: checked in _airl_reward)
            shaped = self.shaped
            return shaped.g(next_obs) + shaped.gamma * shaped.h(next_obs) - shaped.h(obs)
        return self.shaped(obs, masked_actions(obs, actions, self.shaped.g), next_obs)

    @torch.no_grad()
    def forward(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor,
                env_rewards: torch.Tensor) -> torch.Tensor:
        reward = self.f(obs, actions, next_obs) * self.scale
        self._last_mean = reward.mean()
        return reward

    def metrics(self) -> dict[str, torch.Tensor]:
        return {} if self._last_mean is None else {"mean": self._last_mean}


def masked_actions(obs: torch.Tensor, actions: torch.Tensor, net: RewardNet) -> torch.Tensor:
    """Actions at absorbing states (flag, the last entry, 1) set to the middle of the range."""
    middle = (net.action_low + net.action_high) / 2 if net.config.act_dim else torch.zeros_like(actions[0])
    return torch.where(obs[:, -1:] > 0.5, middle.expand_as(actions), actions)


def _airl_reward(scale: float, algo: Any) -> AIRLReward:
    if not isinstance(getattr(algo, "config", None), AIRLConfig):
        raise ValueError("reward.name=airl needs the airl algorithm (it owns the expert data and the actor's log pi)")
    config, spec = algo.config, algo.spec
    obs = algo.expert_data.observations
    obs = obs[obs[:, -1] < 0.5]
    mean, std = obs.mean(0), obs.std(0, unbiased=False)
    mean[-1], std[-1] = 0.0, 1.0
    low, high = torch.tensor(spec.action_low), torch.tensor(spec.action_high)
    metadata = {key: spec.metadata[key] for key in ("env_id", "task", "env_wrappers") if key in spec.metadata}
    if config.g_of == "next_state" and not config.state_only:
        raise ValueError("g_of=next_state needs state_only=true (g(s') has no action to score)")
    g = RewardNet(RewardNetConfig(spec.obs_dim, 0 if config.state_only else spec.act_dim, list(config.reward_hidden_dims),
                                  metadata={**metadata, "learned_by": "airl", "state_only": config.state_only,
                                            "g_of": config.g_of}))
    h = RewardNet(RewardNetConfig(spec.obs_dim, 0, list(config.reward_hidden_dims)))
    g.set_statistics(mean, std, low, high)
    h.set_statistics(mean, std)
    return AIRLReward(ShapedReward(g, h, config.gamma), scale, config.discriminator_optim, config.g_of)


register_reward_source("airl", _airl_reward)


class SavedReward:
    """``reward.name=saved reward.path=RUN``: a kept reward (`load_reward`) as any learner's reward.

    This is how AIRL's transfer claim is tested: ``genpolicy.train("sac", env=CHANGED_ENV,
    overrides={"reward.name": "saved", "reward.path": AIRL_RUN})`` re-optimizes ``g`` from scratch
    with no AIRL code in the loop (the replay buffer still stores the env's reward, so
    ``env/episode_return`` stays the true return). Not an ``nn.Module`` on purpose: the learner
    must not train or reset it. ``r = scale * g(s)`` (or ``g(s, a)``), of the state the transition
    starts from, as AIRL's ``f`` scores it (``g(s')`` for a reward learned with ``g_of=next_state``,
    recorded in its metadata). A reward learned with absorbing states has one more
    input than an env run without the wrapper; that flag is 0 on every real state, so it is
    appended as 0 (a learner in a terminating env should use the ``absorbing`` wrapper itself).
    """

    def __init__(self, path: str | Path, scale: float = 1.0) -> None:
        from genpolicy.models.saved_rewards import load_reward

        self.path, self.scale = str(path), float(scale)
        self.net = load_reward(path)
        self._last_mean: torch.Tensor | None = None

    def __call__(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor,
                 env_rewards: torch.Tensor) -> torch.Tensor:
        if self.net.obs_mean.device != obs.device:
            self.net = self.net.to(obs.device)
        wanted = self.net.config.obs_dim
        if self.net.config.metadata.get("g_of", "state") == "next_state":
            obs = next_obs
        if obs.shape[-1] == wanted - 1 and {"name": "absorbing"} in self.net.config.metadata.get("env_wrappers", []):
            obs = torch.cat([obs, torch.zeros_like(obs[:, :1])], dim=-1)
        elif obs.shape[-1] != wanted:
            raise ValueError(f"the saved reward {self.path} takes obs_dim={wanted}, the env gives {obs.shape[-1]}")
        with torch.no_grad():
            reward = self.net(obs, actions if self.net.config.act_dim else None) * self.scale
        self._last_mean = reward.mean()
        return reward

    def metrics(self) -> dict[str, torch.Tensor]:
        return {} if self._last_mean is None else {"mean": self._last_mean}


def _saved_reward(scale: float, algo: Any) -> SavedReward:
    path = getattr(getattr(getattr(algo, "config", None), "reward", None), "path", "")
    if not path:
        raise ValueError("reward.name=saved needs reward.path=RUN (a run that saved a reward, e.g. an airl run)")
    return SavedReward(path, scale)


register_reward_source("saved", _saved_reward)


class AIRL(GAIL):
    config: AIRLConfig

    def sample_batch(self) -> dict[str, torch.Tensor]:
        """``learner_reward=logit``: the learner's reward is ``f - log pi(a|s)`` (current actor)."""
        batch = super().sample_batch()
        if self.config.learner_reward == "logit":
            log_pi = self.log_pi(batch["observations"], batch["actions"])
            batch["rewards"] = batch["rewards"] - self.reward.scale * log_pi
        return batch

    @torch.no_grad()
    def log_pi(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``log pi(a|s)`` of the current actor, in its [-1, 1] units (actions at absorbing states
        masked as ``f`` masks them, for a state-action ``g``)."""
        actor, g = self.actor, self.reward.shaped.g
        acted = masked_actions(obs, actions, g) if g.config.act_dim else actions
        return actor.log_prob(actor.obs_normalizer.normalize(obs),
                              actor.action_normalizer.normalize(acted).clamp(-1.0, 1.0))

    def update_discriminator(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        source: AIRLReward = self.reward
        logits = []
        for prefix in ("expert_", ""):
            obs, actions = batch[f"{prefix}observations"], batch[f"{prefix}actions"]
            f = source.f(obs, actions, batch[f"{prefix}next_observations"])
            logits.append(f - self.log_pi(obs, actions))
        expert_logits, policy_logits = logits
        loss = discriminator_loss(expert_logits, policy_logits)
        penalty = self.shaping_penalty(batch) if self.config.gradient_penalty > 0 else torch.zeros((), device=loss.device)
        self.step("reward", loss + self.config.gradient_penalty * penalty)
        return {"reward/discriminator_loss": loss.detach(), "reward/gradient_penalty": penalty.detach(),
                "reward/expert_accuracy": (expert_logits > 0).float().mean().detach(),
                "reward/policy_accuracy": (policy_logits < 0).float().mean().detach()}

    def shaping_penalty(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """DAC's gradient penalty on ``f`` (not on ``f - log pi``: ``log pi`` is not the
        discriminator's to shape) at interpolates of expert and replay ``(s, a, s')``, in raw
        units. Why: without it, stale replay actions (whose ``log pi`` under the current actor
        is very low) push ``f`` down without bound, the learner's reward drifts and its critic
        with it; bounded slopes keep ``f`` on the scale of the task."""
        source: AIRLReward = self.reward
        parts = [(batch[f"{prefix}observations"], batch[f"{prefix}actions"], batch[f"{prefix}next_observations"])
                 for prefix in ("expert_", "")]
        sizes = [t.shape[-1] for t in parts[0]]

        def f_of(x: torch.Tensor) -> torch.Tensor:
            obs, actions, next_obs = torch.split(x, sizes, dim=-1)
            return source.f(obs, actions, next_obs)

        return gradient_penalty(f_of, torch.cat(parts[0], -1), torch.cat(parts[1], -1), self.generator)

    def on_train_end(self) -> None:
        """A finished run keeps ``g`` alone, stand-alone, in ``RUN/reward``."""
        if int(self.num_updates) >= self.config.steps and self.trainer.is_global_zero:
            self.reward.shaped.g.save(Path(self.trainer.default_root_dir) / REWARD_DIR)


__all__ = ["AIRL", "AIRLConfig", "AIRLReward", "SavedReward"]
