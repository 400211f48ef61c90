"""Implicit Q-Learning (Kostrikov, Nair & Levine, 2022): never query Q on unseen actions.

    for each update:
        (s, a, r, s', d) ~ D
        V:  L_V = E[ |tau - 1(u < 0)| u^2 ],  u = min_i Qtarget_i(s, a) - V(s)     # expectile tau
        Q:  L_Q = sum_i E[ (Q_i(s, a) - (r + gamma (1 - d) V(s')))^2 ]
        pi: L_pi = -E[ min(exp(beta (Qtarget(s, a) - V(s))), 100) log pi(a | s) ]  # AWR
        Qtarget <- Polyak(Qtarget, Q, tau)

With tau > 0.5, V approaches the value of the best actions *within the data's support*; the
actor then clones the data's actions weighted by their advantage. Defaults are the paper's
locomotion settings: tau 0.7, beta 3, lr 3e-4, cosine decay of the actor's learning rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.sources import Sources
from genpolicy.models.critics import CriticConfig, expectile_loss, td_target
from genpolicy.trainers.actor_critic import ActorCritic, ActorCriticConfig
from genpolicy.trainers.base import OptimizerConfig


@dataclass
class IQLConfig(ActorCriticConfig):
    expectile: float = 0.7
    beta: float = 3.0  # inverse temperature of the advantage weights
    max_weight: float = 100.0  # clip of exp(beta * advantage)
    # "gaussian": tanh-Gaussian, weighted log-likelihood; "deterministic": tanh-bounded mean,
    # weighted squared error (a unit-variance Gaussian's likelihood). Data whose actions sit on
    # the bounds (locomotion agents saturate torques) give the tanh-Gaussian steep atanh targets.
    actor_head: Literal["gaussian", "deterministic"] = "gaussian"
    actor_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4, schedule="cosine"))
    value: CriticConfig = field(default_factory=lambda: CriticConfig(ensemble=1))
    value_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.expectile < 1.0:
            raise ValueError(f"expectile must be in (0, 1), got {self.expectile}")


def advantage_weights(advantage: torch.Tensor, beta: float, max_weight: float) -> torch.Tensor:
    """AWR weights ``min(exp(beta * A), max_weight)`` (no normalization over the batch)."""
    return torch.exp(beta * advantage).clamp(max=max_weight)


class IQL(ActorCritic):
    config: IQLConfig

    def __init__(self, config: IQLConfig, sources: Sources | OfflineDataset) -> None:
        super().__init__(config, sources)
        if config.actor_head == "deterministic":
            self.actor_policy = "bc-mse"
            actor = self.build_actor(tanh_squash=True)
        else:
            actor = self.build_actor()
        self.add_network("actor", actor, config.actor_optim,
                         probe=lambda batch: self.actor_log_likelihood(*self.normalized_transitions(batch)[:2]))
        self.add_network("critic", self.build_critic(), config.critic_optim, target=True, probe=self.critic_probe())
        self.add_network("value", self.build_critic(config.value, with_action=False), config.value_optim,
                         probe=lambda batch: self.value(self.normalized_transitions(batch)[0]))

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        obs, actions, rewards, next_obs, terminations = self.normalized_transitions(batch)

        # V: an upper expectile of the target Q over the data's actions
        with torch.no_grad():
            target_q = self.critic_target.q_value(obs, actions).min(0).values
        value = self.value.q_value(obs)[0]
        advantage = target_q - value
        value_loss = expectile_loss(advantage, cfg.expectile)
        self.step("value", value_loss)

        # Q: one-step backup through V(s'), never through an action the data lacks
        with torch.no_grad():
            target = td_target(rewards, self.value.q_value(next_obs)[0], terminations, cfg.gamma)
        q = self.critic.q_value(obs, actions)
        critic_loss = (q - target).square().mean(1).sum()
        self.step("critic", critic_loss)
        self.soft_update("critic", cfg.tau)

        # actor: advantage-weighted regression onto the data's actions
        weights = advantage_weights(advantage.detach(), cfg.beta, cfg.max_weight)
        actor_loss = -(weights * self.actor_log_likelihood(obs, actions)).mean()
        self.step("actor", actor_loss)

        return {
            "value_loss": value_loss.detach(), "critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(),
            "q": q.mean().detach(), "advantage": advantage.mean().detach(), "weight": weights.mean(),
        }

    def actor_log_likelihood(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Per-sample log-likelihood of the data's actions (up to a constant for the deterministic head)."""
        if self.config.actor_head == "deterministic":
            return -(self.actor.mean_action(obs) - actions).square().sum(-1)
        return self.actor.log_prob(obs, actions)


__all__ = ["IQL", "IQLConfig", "advantage_weights"]
