"""TD3+BC (Fujimoto & Gu, 2021): TD3 with a behaviour-cloning term in the actor loss.

    for each update k:
        (s, a, r, s', d) ~ D
        a' = clip(pi_target(s') + clip(eps, -c, c), -1, 1),  eps ~ N(0, sigma^2)   # target smoothing
        Q:  L_Q = sum_i E[(Q_i(s, a) - (r + gamma (1 - d) min_i Qtarget_i(s', a')))^2]
        every `policy_delay` updates:
            lambda = alpha / E|Q_1(s, pi(s))|                                  # scale-free trade-off
            pi: L_pi = -lambda E[Q_1(s, pi(s))] + E[(pi(s) - a)^2]
            pi_target, Qtarget <- Polyak(., ., tau)

The cheap, strong baseline: one extra line over TD3. Defaults are the paper's (alpha 2.5,
policy noise 0.2 clipped at 0.5, delay 2, lr 3e-4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.sources import Sources
from genpolicy.models.critics import td_target
from genpolicy.trainers.actor_critic import ActorCritic, ActorCriticConfig


@dataclass
class TD3BCConfig(ActorCriticConfig):
    alpha: float = 2.5
    policy_noise: float = 0.2  # target smoothing, in normalized action units ([-1, 1])
    noise_clip: float = 0.5
    policy_delay: int = 2


class TD3BC(ActorCritic):
    config: TD3BCConfig
    actor_policy = "bc-mse"

    def __init__(self, config: TD3BCConfig, sources: Sources | OfflineDataset) -> None:
        super().__init__(config, sources)
        actor = self.build_actor(tanh_squash=True)
        self.add_network("actor", actor, config.actor_optim, target=True,
                         probe=lambda batch: self.actor.mean_action(self.normalized_transitions(batch)[0]))
        self.add_network("critic", self.build_critic(), config.critic_optim, target=True, probe=self.critic_probe())

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        obs, actions, rewards, next_obs, terminations = self.normalized_transitions(batch)

        with torch.no_grad():
            noise = torch.randn(actions.shape, generator=self.generator, device=actions.device) * cfg.policy_noise
            next_actions = (self.actor_target.mean_action(next_obs) + noise.clamp(-cfg.noise_clip, cfg.noise_clip)).clamp(-1, 1)
            next_q = self.critic_target.q_value(next_obs, next_actions).min(0).values
            target = td_target(rewards, next_q, terminations, cfg.gamma)
        q = self.critic.q_value(obs, actions)
        critic_loss = (q - target).square().mean(1).sum()
        self.step("critic", critic_loss)
        metrics = {"critic_loss": critic_loss.detach(), "q": q.mean().detach()}

        if self.update_index % cfg.policy_delay == 0:
            policy_actions = self.actor.mean_action(obs)
            with self.frozen("critic"):
                q_policy = self.critic.q_value(obs, policy_actions)[0]
            scale = cfg.alpha / q_policy.abs().mean().detach()
            bc_loss = F.mse_loss(policy_actions, actions)
            actor_loss = -scale * q_policy.mean() + bc_loss
            self.step("actor", actor_loss)
            self.soft_update("actor", cfg.tau)
            self.soft_update("critic", cfg.tau)
            metrics.update(actor_loss=actor_loss.detach(), bc_loss=bc_loss.detach())
        return metrics


__all__ = ["TD3BC", "TD3BCConfig"]
