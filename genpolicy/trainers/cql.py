"""Conservative Q-Learning (Kumar et al., 2020), CQL(H) on a SAC backbone.

    for each update:
        (s, a, r, s', d) ~ D
        temperature: L_alpha = -E[log alpha (log pi(a~|s) + target_entropy)],  a~ ~ pi(s)
        actor:       L_pi = E[alpha log pi(a~|s) - min_i Q_i(s, a~)]
        Q backup:    y = r + gamma (1 - d) min_i Qtarget_i(s', a'),  a' ~ pi(s')
        penalty_i = E_s[ logsumexp over {Q_i(s, a_unif) - log U, Q_i(s, a_pi) - log pi(a_pi|s),
                                         Q_i(s, a'_pi) - log pi(a'_pi|s')}  -  Q_i(s, a) ]
        Q:           L_Q = sum_i E[(Q_i(s, a) - y)^2] + alpha' (penalty_i - gap if Lagrange)
        Lagrange:    L_alpha' = -alpha' sum_i (penalty_i - gap)   (alpha' >= 0 grows while the gap is exceeded)

The penalty pushes Q down on actions the policy or a uniform proposal would pick and up on
the data's actions; dividing by the proposal densities makes the logsumexp an importance-
sampled estimate of log-integral exp Q (the "H" variant). ``num_samples`` actions of each kind
(10 in the paper). Defaults follow CORL's locomotion settings: fixed cql_alpha 10 (``lagrange``
off), actor lr 1e-4, critic lr 3e-4, target entropy -|A|, no entropy term in the backup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from einops import rearrange, repeat

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.sources import Sources
from genpolicy.models.critics import EnsembleCritic, td_target
from genpolicy.trainers.actor_critic import ActorCritic, ActorCriticConfig, LogScalar, temperature_objective
from genpolicy.trainers.base import OptimizerConfig


@dataclass
class CQLConfig(ActorCriticConfig):
    actor_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-4))
    temperature_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))
    initial_temperature: float = 1.0
    target_entropy: float | None = None  # None: -act_dim
    cql_alpha: float = 10.0  # weight of the conservative penalty (fixed), or its scale (Lagrange)
    num_samples: int = 10  # proposal actions per kind (uniform, pi(s), pi(s'))
    lagrange: bool = False  # adapt alpha' to keep the penalty at `target_gap`
    target_gap: float = 5.0
    lagrange_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))
    backup_entropy: bool = False


def conservative_penalty(
    critic: EnsembleCritic,
    obs: torch.Tensor,
    data_q: torch.Tensor,
    random_actions: torch.Tensor,
    policy_actions: torch.Tensor,
    policy_log_probs: torch.Tensor,
    next_policy_actions: torch.Tensor,
    next_policy_log_probs: torch.Tensor,
) -> torch.Tensor:
    """CQL(H)'s per-member penalty ``[E]``: importance-weighted logsumexp of Q over proposal
    actions minus Q on the data's actions, averaged over the batch.

    ``random_actions`` ``[B, n, A]`` uniform on [-1, 1]^A (density 2^-A); the policy draws
    ``[B, n, A]`` with log-densities ``[B, n]`` (taken as constants)."""
    batch, n, act_dim = random_actions.shape
    proposals = torch.cat([random_actions, policy_actions, next_policy_actions], dim=1)  # [B, 3n, A]
    obs_rep = repeat(obs, "b d -> (b k) d", k=3 * n)
    q = rearrange(critic.q_value(obs_rep, rearrange(proposals, "b k a -> (b k) a")), "e (b k) -> e b k", b=batch)
    log_density = torch.cat([
        torch.full((batch, n), -act_dim * math.log(2.0), device=obs.device),
        policy_log_probs, next_policy_log_probs,
    ], dim=1).detach()
    logsumexp = torch.logsumexp(q - log_density, dim=-1)  # [E, B]
    return (logsumexp - data_q).mean(1)


class CQL(ActorCritic):
    config: CQLConfig

    def __init__(self, config: CQLConfig, sources: Sources | OfflineDataset) -> None:
        super().__init__(config, sources)
        self.add_network("actor", self.build_actor(), config.actor_optim,
                         probe=lambda batch: self.actor.rsample(self.normalized_transitions(batch)[0]))
        self.add_network("critic", self.build_critic(), config.critic_optim, target=True, probe=self.critic_probe())
        self.add_network("temperature", LogScalar(config.initial_temperature), config.temperature_optim)
        if config.lagrange:
            self.add_network("cql_multiplier", LogScalar(1.0), config.lagrange_optim)
        self.target_entropy = config.target_entropy if config.target_entropy is not None else -float(self.spec.act_dim)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        obs, actions, rewards, next_obs, terminations = self.normalized_transitions(batch)
        batch_size, act_dim, n = obs.shape[0], actions.shape[1], cfg.num_samples

        # temperature and actor (SAC)
        new_actions, log_probs = self.actor.rsample(obs)
        temperature_loss = temperature_objective(self.temperature.log_value, log_probs, self.target_entropy)
        self.step("temperature", temperature_loss)
        alpha = self.temperature().detach()
        with self.frozen("critic"):
            q_new = self.critic.q_value(obs, new_actions).min(0).values
        actor_loss = (alpha * log_probs - q_new).mean()
        self.step("actor", actor_loss)

        # TD backup
        with torch.no_grad():
            next_actions, next_log_probs = self.actor.rsample(next_obs)
            next_q = self.critic_target.q_value(next_obs, next_actions).min(0).values
            if cfg.backup_entropy:
                next_q = next_q - alpha * next_log_probs
            target = td_target(rewards, next_q, terminations, cfg.gamma)
        q = self.critic.q_value(obs, actions)
        td_loss = (q - target).square().mean(1).sum()

        # conservative penalty on proposal actions
        with torch.no_grad():
            random_actions = torch.rand((batch_size, n, act_dim), generator=self.generator, device=obs.device) * 2 - 1
            policy_actions, policy_log_probs = self.actor.rsample(repeat(obs, "b d -> (b k) d", k=n))
            next_policy_actions, next_policy_log_probs = self.actor.rsample(repeat(next_obs, "b d -> (b k) d", k=n))
        penalty = conservative_penalty(
            self.critic, obs, q, random_actions,
            rearrange(policy_actions, "(b k) a -> b k a", k=n), rearrange(policy_log_probs, "(b k) -> b k", k=n),
            rearrange(next_policy_actions, "(b k) a -> b k a", k=n), rearrange(next_policy_log_probs, "(b k) -> b k", k=n),
        )
        metrics = {}
        if cfg.lagrange:
            multiplier = self.cql_multiplier().clamp(0.0, 1e6)
            gap = cfg.cql_alpha * (penalty - cfg.target_gap)
            conservative_loss = (multiplier.detach() * gap).sum()
            multiplier_loss = -(multiplier * gap.detach()).sum() / gap.shape[0]
            self.step("cql_multiplier", multiplier_loss)
            metrics["cql_multiplier"] = multiplier.detach()
        else:
            conservative_loss = cfg.cql_alpha * penalty.sum()
        critic_loss = td_loss + conservative_loss
        self.step("critic", critic_loss)
        self.soft_update("critic", cfg.tau)

        metrics.update({
            "critic_loss": critic_loss.detach(), "td_loss": td_loss.detach(), "cql_penalty": penalty.mean().detach(),
            "actor_loss": actor_loss.detach(), "temperature": alpha, "entropy": -log_probs.mean().detach(),
            "q": q.mean().detach(),
        })
        return metrics


__all__ = ["CQL", "CQLConfig", "conservative_penalty"]
