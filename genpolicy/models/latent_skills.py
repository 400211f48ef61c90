"""Latent skills over trajectory segments (OPAL's model), as plain torch.

* `SegmentEncoder` q(z | tau): a bidirectional GRU over the c steps ``[s_t, a_t]`` of a segment
  (normalized), its two final hidden states -> the mean and log-variance of a diagonal Gaussian
  over the latent z (OPAL's encoder is a bidirectional GRU as well).
* `LatentPrior` rho(z | s_0): an MLP from the segment's first state to a diagonal Gaussian; the
  KL term pulls the encoder toward what can be predicted from s_0 alone, which is what a
  high-level policy choosing z at s_0 needs.
* `LatentSkillPolicy` (registered ``latent-skill``): the primitive pi(a | s, z), a tanh-Gaussian
  on ``[normalized s, z]`` (genpolicy's ``bc-gaussian`` head), plus a **codebook** of K latents.
  Its input is the skill layout every skill learner of genpolicy uses, ``[s, one_hot(k)]``, and
  it runs z = codebook[k], so the skill tooling (`SkillPolicy`, ``genpolicy skills``, the
  fresh-rollout and held-out checks) works on it unchanged. The codebook is chosen from the data
  (`kmeans` of the posterior means of dataset segments: K latents that each stand for a common
  kind of segment), which keeps the skills inside the data's support.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from genpolicy.models.base import Policy, PolicyConfig, register_policy
from genpolicy.models.nets import mlp
from genpolicy.models.policies import GaussianPolicy, MLPPolicyConfig

_LOGVAR_MIN, _LOGVAR_MAX = -10.0, 4.0


def _gaussian(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean, logvar = out.chunk(2, dim=-1)
    return mean, logvar.clamp(_LOGVAR_MIN, _LOGVAR_MAX)


def gaussian_kl_between(mean_q: torch.Tensor, logvar_q: torch.Tensor, mean_p: torch.Tensor,
                        logvar_p: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean_q, e^logvar_q) || N(mean_p, e^logvar_p))`` per sample, diagonal: ``[B, D] -> [B]``.

    ``0.5 * sum(logvar_p - logvar_q + (e^logvar_q + (mean_q - mean_p)^2) / e^logvar_p - 1)``.
    """
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mean_q - mean_p).pow(2)) / logvar_p.exp() - 1.0).sum(-1)


class SegmentEncoder(nn.Module):
    """``[B, c, obs_dim + act_dim]`` normalized segment -> ``(mean, logvar)`` ``[B, latent_dim]``."""

    def __init__(self, input_dim: int, latent_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.gru = nn.GRU(input_dim, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, 2 * latent_dim)

    def forward(self, segment: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, last = self.gru(segment)  # [2, B, hidden]: the forward pass's last and the backward pass's first
        return _gaussian(self.head(torch.cat([last[0], last[1]], dim=-1)))


class LatentPrior(nn.Module):
    """``[B, obs_dim]`` normalized first state -> ``(mean, logvar)`` ``[B, latent_dim]``."""

    def __init__(self, obs_dim: int, latent_dim: int, hidden_dims: list[int]) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden_dims, 2 * latent_dim, activation=nn.ReLU)

    def forward(self, first_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _gaussian(self.net(first_state))


@torch.no_grad()
def kmeans(points: torch.Tensor, k: int, generator: torch.Generator, iterations: int = 50) -> torch.Tensor:
    """``k`` centres ``[k, D]`` of ``points`` ``[N, D]`` (k-means++ seeding, then Lloyd steps;
    seeded by ``generator``, so the same points give the same centres). An emptied cluster is
    re-seeded at the point farthest from its centre."""
    if len(points) < k:
        raise ValueError(f"k-means needs at least k={k} points, got {len(points)}")
    first = torch.randint(len(points), (1,), generator=generator, device=generator.device).to(points.device)
    centres = points[first]
    for _ in range(1, k):  # k-means++: draw the next centre with probability ~ squared distance
        d2 = torch.cdist(points, centres).min(1).values.pow(2)
        pick = torch.multinomial((d2 / d2.sum()).to(generator.device), 1, generator=generator).to(points.device)
        centres = torch.cat([centres, points[pick]])
    for _ in range(iterations):
        distances = torch.cdist(points, centres)
        assign = distances.argmin(1)
        counts = torch.bincount(assign, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, assign, points)
        updated = sums / counts.clamp(min=1)[:, None]
        for empty in torch.nonzero(counts == 0)[:, 0].tolist():
            updated[empty] = points[distances.min(1).values.argmax()]
        if torch.allclose(updated, centres):
            break
        centres = updated
    return centres


@dataclass
class LatentSkillPolicyConfig(PolicyConfig):
    """``obs_dim`` = the env's observation + ``num_skills`` (the one-hot the skill layout appends)."""

    num_skills: int = 16
    latent_dim: int = 8
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"


@register_policy("latent-skill")
class LatentSkillPolicy(Policy):
    """pi(a | s, z) with z = codebook[k] for the input ``[s, one_hot(k)]`` (see the module doc).

    Normalization: the base observation normalizer covers ``[s, one_hot]`` (fitted on the data
    with zeros for the one-hot, so those entries pass unchanged); actions are min/max-normalized
    to [-1, 1], the range of the tanh-Gaussian decoder.
    """

    config_class = LatentSkillPolicyConfig

    def __init__(self, config: LatentSkillPolicyConfig) -> None:
        super().__init__(config)
        if config.obs_horizon != 1 or config.pred_horizon != 1:
            raise ValueError("a latent-skill policy is single-step (obs_horizon = pred_horizon = 1)")
        self.state_dim = config.obs_dim - config.num_skills
        if self.state_dim < 1:
            raise ValueError(f"obs_dim {config.obs_dim} must exceed num_skills {config.num_skills}")
        self.decoder = GaussianPolicy(MLPPolicyConfig(
            obs_dim=self.state_dim + config.latent_dim, act_dim=config.act_dim, obs_norm="identity",
            action_norm="identity", hidden_dims=list(config.hidden_dims), activation=config.activation))
        self.register_buffer("codebook", torch.zeros(config.num_skills, config.latent_dim))

    def normalize_states(self, states: torch.Tensor) -> torch.Tensor:
        """Raw env states ``[..., state_dim]`` (no one-hot) -> normalized."""
        norm = self.obs_normalizer
        return (states - norm.shift[: self.state_dim]) / norm.scale[: self.state_dim]

    def decoder_input(self, states_norm: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """``[..., state_dim]`` normalized states and ``[..., latent_dim]`` latents -> decoder input."""
        return torch.cat([states_norm, latents], dim=-1)

    def segment_log_prob(self, states_norm: torch.Tensor, actions_norm: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """``sum_t log pi(a_t | s_t, z)`` of ``[B, c, ...]`` normalized segments: ``[B]``."""
        batch, steps = states_norm.shape[:2]
        inputs = self.decoder_input(states_norm, latents[:, None].expand(-1, steps, -1))
        log_prob = self.decoder.log_prob(inputs.reshape(batch * steps, -1), actions_norm.reshape(batch * steps, -1))
        return log_prob.reshape(batch, steps).sum(-1)

    def _inputs(self, obs_history: torch.Tensor) -> torch.Tensor:
        obs = self.obs_normalizer.normalize(obs_history[:, -1])
        states, one_hot = obs[:, : self.state_dim], obs[:, self.state_dim:]
        return self.decoder_input(states, one_hot @ self.codebook)

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        return self.action_normalizer.unnormalize(self.decoder.mean_action(self._inputs(obs_history)))[:, None]

    def sample_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        draw = self.decoder.distribution(self._inputs(obs_history)[:, None]).sample()
        return self.action_normalizer.unnormalize(draw)


class SegmentModel(nn.Module):
    """OPAL's three networks trained by one loss: encoder, prior and the primitive policy."""

    def __init__(self, policy: LatentSkillPolicy, encoder_hidden: int, prior_hidden: list[int]) -> None:
        super().__init__()
        state_dim, act_dim, latent_dim = policy.state_dim, policy.config.act_dim, policy.config.latent_dim
        self.policy = policy
        self.encoder = SegmentEncoder(state_dim + act_dim, latent_dim, encoder_hidden)
        self.prior = LatentPrior(state_dim, latent_dim, prior_hidden)


__all__ = ["LatentPrior", "LatentSkillPolicy", "LatentSkillPolicyConfig", "SegmentEncoder", "SegmentModel",
           "gaussian_kl_between", "kmeans"]
