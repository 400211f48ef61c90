"""Conditional VAE over action chunks (the generative core of ACT, Zhao et al. 2023).

    encoder  q(z | o, a_{t:t+Tp})   -> mean, log-variance of a diagonal Gaussian
    decoder  p(a_{t:t+Tp} | o, z)   -> the chunk (L1 or L2 reconstruction)
    prior    p(z) = N(0, I)

The encoder is an MLP on the flattened observation history and chunk. The decoder is an MLP
(``decoder="mlp"``) or, ACT style (``decoder="transformer"``), a bidirectional transformer
over ``[To observation tokens, z token, Tp chunk queries]`` whose outputs at the queries are
the chunk.

Inference. ACT executes the prior *mean* (z = 0), which picks one behaviour (or an average
of several) deterministically. Here control draws ``z ~ N(0, I)`` by default
(``inference="sample"``): the choice among modes stays stochastic, which is what a
multimodal demonstrator needs; ``inference="mean"`` restores ACT's z = 0. ``sample_chunk``
always draws z from the prior.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from einops import rearrange
from torch import nn

from genpolicy.models.base import Policy, PolicyConfig, register_policy
from genpolicy.models.nets import mlp
from genpolicy.models.transformers import Transformer, init_gpt_weights

_LOGVAR_MIN, _LOGVAR_MAX = -10.0, 5.0


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean, exp(logvar)) || N(0, I))`` per sample: ``[B, D] -> [B]``.

    ``0.5 * sum(mean^2 + exp(logvar) - 1 - logvar)``.
    """
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def reparameterize(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``z = mean + std * eps``, ``eps ~ N(0, I)`` (differentiable in mean and logvar)."""
    return mean + (0.5 * logvar).exp() * torch.randn_like(mean)


def reconstruction_loss(
    prediction: torch.Tensor, target: torch.Tensor, kind: str = "l1", is_pad: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-sample reconstruction error summed over the chunk: ``[B, Tp, A] -> [B]``.

    Summing (not averaging) over the chunk makes ``recon + beta * KL`` a negative ELBO for a
    Laplace (L1) or Gaussian (L2) decoder of fixed scale, so ``beta`` means the same for any
    chunk size. (ACT averages over the chunk; its beta = 10 corresponds to 10 / (Tp * A) here.)
    ``is_pad [B, Tp]``: chunk steps past the episode end, left out when given.
    """
    if kind == "l1":
        error = (prediction - target).abs()
    elif kind == "l2":
        error = (prediction - target).pow(2)
    else:
        raise ValueError(f"reconstruction must be 'l1' or 'l2', got {kind!r}")
    if is_pad is not None:
        error = error * (~is_pad)[..., None]
    return error.sum(dim=(-2, -1))


@dataclass
class CVAEPolicyConfig(PolicyConfig):
    pred_horizon: int = 8
    action_horizon: int = 4
    latent_dim: int = 16
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])
    decoder: Literal["mlp", "transformer"] = "mlp"
    # transformer decoder only
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0
    inference: Literal["sample", "mean"] = "sample"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.decoder not in ("mlp", "transformer"):
            raise ValueError(f"decoder must be 'mlp' or 'transformer', got {self.decoder!r}")
        if self.inference not in ("sample", "mean"):
            raise ValueError(f"inference must be 'sample' or 'mean', got {self.inference!r}")


class _TransformerDecoder(nn.Module):
    """ACT-style decoder: ``[obs tokens, z token, chunk queries]`` -> bidirectional
    transformer -> one action per query."""

    def __init__(self, c: CVAEPolicyConfig) -> None:
        super().__init__()
        self.obs_embed = nn.Linear(c.obs_dim, c.n_embd)
        self.latent_embed = nn.Linear(c.latent_dim, c.n_embd)
        self.cond_pos = nn.Parameter(torch.zeros(1, c.obs_horizon + 1, c.n_embd))
        self.queries = nn.Parameter(torch.zeros(1, c.pred_horizon, c.n_embd))
        self.trunk = Transformer(c.n_layer, c.n_embd, c.n_head, c.dropout, causal=False)
        self.out = nn.Linear(c.n_embd, c.act_dim)
        self.apply(init_gpt_weights)
        nn.init.normal_(self.queries, std=0.02)

    def forward(self, obs_norm: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        cond = torch.cat([self.obs_embed(obs_norm), self.latent_embed(z)[:, None]], dim=1) + self.cond_pos
        tokens = torch.cat([cond, self.queries.expand(obs_norm.shape[0], -1, -1)], dim=1)
        return self.out(self.trunk(tokens)[:, cond.shape[1] :])


@register_policy("vae")
class CVAEPolicy(Policy):
    config_class = CVAEPolicyConfig

    def __init__(self, config: CVAEPolicyConfig) -> None:
        super().__init__(config)
        c = config
        obs_flat, chunk_flat = c.obs_horizon * c.obs_dim, c.pred_horizon * c.act_dim
        self.encoder = mlp(obs_flat + chunk_flat, c.hidden_dims, 2 * c.latent_dim)
        if c.decoder == "mlp":
            self.decoder: nn.Module = mlp(obs_flat + c.latent_dim, c.hidden_dims, chunk_flat)
        else:
            self.decoder = _TransformerDecoder(c)

    def encode(self, obs_norm: torch.Tensor, actions_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z | o, a)``: normalized ``[B, To, obs]``, ``[B, Tp, act]`` -> mean, logvar ``[B, latent]``."""
        x = torch.cat([rearrange(obs_norm, "b t d -> b (t d)"), rearrange(actions_norm, "b t a -> b (t a)")], -1)
        mean, logvar = self.encoder(x).chunk(2, dim=-1)
        return mean, logvar.clamp(_LOGVAR_MIN, _LOGVAR_MAX)

    def decode(self, obs_norm: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``p(a | o, z)``: normalized ``[B, To, obs]`` and ``[B, latent]`` -> ``[B, Tp, act]``."""
        if self.config.decoder == "transformer":
            return self.decoder(obs_norm, z)
        out = self.decoder(torch.cat([rearrange(obs_norm, "b t d -> b (t d)"), z], -1))
        return rearrange(out, "b (t a) -> b t a", t=self.config.pred_horizon)

    def prior_sample(self, batch: int) -> torch.Tensor:
        return torch.randn(batch, self.config.latent_dim, device=self.device)

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        batch = obs_history.shape[0]
        if self.config.inference == "sample":
            z = self.prior_sample(batch)
        else:
            z = torch.zeros(batch, self.config.latent_dim, device=self.device)
        return self.action_normalizer.unnormalize(self.decode(self.obs_normalizer.normalize(obs_history), z))

    def sample_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        z = self.prior_sample(obs_history.shape[0])
        return self.action_normalizer.unnormalize(self.decode(self.obs_normalizer.normalize(obs_history), z))


__all__ = ["CVAEPolicy", "CVAEPolicyConfig", "gaussian_kl", "reconstruction_loss", "reparameterize"]
