"""Diffusion-QL (Wang, Hunt & Zhou, 2023): a diffusion policy steered by a critic.

    for each update:
        (s, a, r, s', d) ~ D
        Q:  a' ~ pi_ema(s')  (max-Q backup: the best of `backup_samples` draws)
            L_Q = sum_i E[(Q_i(s, a) - (r + gamma (1 - d) min_i Qtarget_i(s', a')))^2]
        pi: a~ = reverse diffusion from noise, differentiable through every step
            L_pi = L_denoise(s, a) - eta * Q_j(s, a~) / E|Q_k(s, a~)|       (j, k a random pair)
        Qtarget <- Polyak(Qtarget, Q, tau);  pi_ema <- EMA(pi)

The actor is the diffusion policy of ``genpolicy fit diffusion`` (same model code) with the
paper's short variance-preserving schedule (T=5, DDPM sampling) and an MLP denoiser over one
action. The exported policy (:class:`DiffusionQLPolicy`) carries the critic and picks among
``num_candidates`` sampled actions by softmax(Q). Defaults follow the paper's locomotion
settings (eta 1, lr 3e-4, gradient-norm clip 9 on the actor, EMA 0.995).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from einops import rearrange, repeat

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.sources import Sources
from genpolicy.models.base import Policy
from genpolicy.models.diffusion import DiffusionPolicyConfig
from genpolicy.models.diffusion_ql import DiffusionQLPolicy, DiffusionQLPolicyConfig
from genpolicy.models.critics import td_target
from genpolicy.trainers.actor_critic import ActorCritic, ActorCriticConfig
from genpolicy.trainers.base import OptimizerConfig
from genpolicy.trainers.policy_algorithm import make_policy


def diffusion_ql_actor() -> DiffusionPolicyConfig:
    return DiffusionPolicyConfig(
        obs_horizon=1, pred_horizon=1, action_horizon=1, denoiser="mlp", hidden_dims=[256, 256, 256],
        beta_schedule="vp", num_train_timesteps=5, inference_scheduler="ddpm", num_inference_steps=5,
    )


@dataclass
class DiffusionQLConfig(ActorCriticConfig):
    eta: float = 1.0  # weight of the Q term against the denoising loss
    ema_decay: float = 0.995
    backup_samples: int = 1  # > 1: max-Q backup over that many actions from pi_ema(s')
    num_candidates: int = 50  # actions sampled per observation at evaluation
    actor: DiffusionPolicyConfig = field(default_factory=diffusion_ql_actor)  # type: ignore[assignment]
    actor_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4, grad_clip=9.0))


class DiffusionQL(ActorCritic):
    config: DiffusionQLConfig

    def __init__(self, config: DiffusionQLConfig, sources: Sources | OfflineDataset) -> None:
        super().__init__(config, sources)
        dataset = self.dataset
        settings = {"obs_horizon": 1, "pred_horizon": 1, "action_horizon": 1, "action_norm": "minmax"}
        actor = make_policy("diffusion", config.actor, dataset, **settings)
        self.add_network("actor", actor, config.actor_optim, ema_decay=config.ema_decay,
                         probe=lambda batch: self._sample_actions(self.actor, self.normalized_transitions(batch)[0]))
        self.add_network("critic", self.build_critic(), config.critic_optim, target=True, probe=self.critic_probe())

    def _sample_actions(self, actor, obs_norm: torch.Tensor) -> torch.Tensor:
        """Reverse diffusion from the trainer's noise; differentiable when grad is on."""
        noise = torch.randn((obs_norm.shape[0], 1, self.spec.act_dim), generator=self.generator, device=obs_norm.device)
        return actor.denoise(actor.condition(obs_norm[:, None]), noise, self.generator)[:, 0]

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        obs, actions, rewards, next_obs, terminations = self.normalized_transitions(batch)

        # critic
        with torch.no_grad():
            k = cfg.backup_samples
            next_rep = repeat(next_obs, "b d -> (b k) d", k=k)
            next_actions = self._sample_actions(self.actor_ema, next_rep)
            next_q = self.critic_target.q_value(next_rep, next_actions).min(0).values
            next_q = rearrange(next_q, "(b k) -> b k", k=k).max(-1).values
            target = td_target(rewards, next_q, terminations, cfg.gamma)
        q = self.critic.q_value(obs, actions)
        critic_loss = (q - target).square().mean(1).sum()
        self.step("critic", critic_loss)

        # actor: denoising (stay on the data) + normalized Q (improve within it)
        bc_loss = self.actor.loss(obs[:, None], actions[:, None], generator=self.generator)["loss"]
        new_actions = self._sample_actions(self.actor, obs)
        with self.frozen("critic"):
            new_q = self.critic.q_value(obs, new_actions)
        members = new_q.shape[0]  # the member pair rotates with the update index (resume-exact)
        j, other = self.update_index % members, (self.update_index + 1) % members
        q_loss = -new_q[j].mean() / new_q[other].abs().mean().detach()
        actor_loss = bc_loss + cfg.eta * q_loss
        self.step("actor", actor_loss)
        self.soft_update("critic", cfg.tau)

        return {"critic_loss": critic_loss.detach(), "bc_loss": bc_loss.detach(), "q_loss": q_loss.detach(),
                "q": q.mean().detach()}

    def export_policy(self) -> Policy:
        """The EMA actor with the current critic inside, choosing among sampled actions."""
        actor = self.actor_ema
        config = DiffusionQLPolicyConfig(**{**asdict(actor.config), "critic": self.config.critic,
                                            "num_candidates": self.config.num_candidates})
        policy = DiffusionQLPolicy(config).to(self.device)
        policy.load_state_dict({**actor.state_dict(), **{f"critic.{k}": v for k, v in self.critic.state_dict().items()}})
        return policy.eval()


__all__ = ["DiffusionQL", "DiffusionQLConfig"]
