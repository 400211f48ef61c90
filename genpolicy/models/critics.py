"""Critics: Q(s, a) and V(s) ensembles that run as one batched matmul per layer.

An ensemble of E members stores each layer's weights as ``[E, in, out]`` and evaluates all
members with one ``baddbmm`` (no Python loop over members), so a 10-member critic costs a
few times a 2-member one rather than five times. Two trunks:

* ``"mlp"``: ``Linear -> [LayerNorm] -> act`` per hidden layer (the CQL / IQL critics);
* ``"bronet"`` (BRO, Nauman et al. 2024): ``Linear -> LayerNorm -> ReLU``, then ``blocks``
  residual blocks ``x + LN(Linear(ReLU(LN(Linear(x)))))``; 512 wide x 2 blocks by default.
  Layer normalization keeps a wide critic trainable at high replay ratios.

A critic may be distributional: ``num_quantiles`` > 1 gives quantile heads (QR-DQN style),
trained with :func:`quantile_huber_loss`; ``q_value`` averages the quantiles.
Critics work in the policy's normalized units (observations standardized, actions in
[-1, 1]); they carry no normalizers of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from einops import repeat
from torch import nn


@dataclass
class CriticConfig:
    arch: Literal["mlp", "bronet"] = "mlp"
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])  # mlp
    layer_norm: bool = False  # mlp only (BroNet always normalizes)
    width: int = 512  # bronet
    blocks: int = 2  # bronet
    ensemble: int = 2  # members
    num_quantiles: int = 1  # > 1: distributional (quantile) heads

    def __post_init__(self) -> None:
        if self.arch not in ("mlp", "bronet"):
            raise ValueError(f"critic arch must be 'mlp' or 'bronet', got {self.arch!r}")
        if self.ensemble < 1 or self.num_quantiles < 1:
            raise ValueError("critic ensemble and num_quantiles must be >= 1")


# --------------------------------------------------------------------------- layers
class EnsembleLinear(nn.Module):
    """``E`` independent linear layers applied as one batched matmul: ``[E, B, in] -> [E, B, out]``.

    Each member is initialized like ``nn.Linear`` (Kaiming-uniform weights, uniform biases).
    """

    def __init__(self, members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(members, 1, out_features))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        # nn.Linear's default: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(in), 1/sqrt(in)) for weights
        self.weight.uniform_(-bound, bound)
        self.bias.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def extra_repr(self) -> str:
        return f"members={self.members}, in={self.in_features}, out={self.out_features}"


class EnsembleLayerNorm(nn.Module):
    """Layer norm over features with a separate affine per member: ``[E, B, D]``."""

    def __init__(self, members: int, features: int) -> None:
        super().__init__()
        self.features = features
        self.weight = nn.Parameter(torch.ones(members, 1, features))
        self.bias = nn.Parameter(torch.zeros(members, 1, features))

    @torch.no_grad()
    def reset_parameters(self) -> None:
        self.weight.fill_(1.0)
        self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (self.features,)) * self.weight + self.bias


class BroBlock(nn.Module):
    """``x + LN(W2 ReLU(LN(W1 x)))``."""

    def __init__(self, members: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            EnsembleLinear(members, width, width), EnsembleLayerNorm(members, width), nn.ReLU(),
            EnsembleLinear(members, width, width), EnsembleLayerNorm(members, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def ensemble_trunk(config: CriticConfig, in_dim: int) -> tuple[nn.Sequential, int]:
    """The hidden layers of an ensemble network and their output width."""
    e = config.ensemble
    if config.arch == "bronet":
        layers: list[nn.Module] = [EnsembleLinear(e, in_dim, config.width), EnsembleLayerNorm(e, config.width), nn.ReLU()]
        layers += [BroBlock(e, config.width) for _ in range(config.blocks)]
        return nn.Sequential(*layers), config.width
    layers, dim = [], in_dim
    for hidden in config.hidden_dims:
        layers.append(EnsembleLinear(e, dim, hidden))
        if config.layer_norm:
            layers.append(EnsembleLayerNorm(e, hidden))
        layers.append(nn.ReLU())
        dim = hidden
    return nn.Sequential(*layers), dim


# --------------------------------------------------------------------------- critics
class EnsembleCritic(nn.Module):
    """``E`` value networks of the same input, evaluated together.

    ``forward(obs[, action])`` -> ``[E, B]`` values, or ``[E, B, Nq]`` quantiles when
    distributional. ``act_dim=0`` makes a state-value V(s).
    """

    def __init__(self, obs_dim: int, act_dim: int, config: CriticConfig) -> None:
        super().__init__()
        self.config, self.obs_dim, self.act_dim = config, obs_dim, act_dim
        self.trunk, width = ensemble_trunk(config, obs_dim + act_dim)
        self.head = EnsembleLinear(config.ensemble, width, config.num_quantiles)

    @property
    def members(self) -> int:
        return self.config.ensemble

    def forward(self, obs: torch.Tensor, action: torch.Tensor | None = None) -> torch.Tensor:
        x = obs if action is None else torch.cat([obs, action], dim=-1)
        if x.ndim == 2:  # the same batch for every member
            x = repeat(x, "b d -> e b d", e=self.members)
        out = self.head(self.trunk(x))
        return out[..., 0] if self.config.num_quantiles == 1 else out

    def q_value(self, obs: torch.Tensor, action: torch.Tensor | None = None) -> torch.Tensor:
        """``[E, B]`` expected values (the mean over quantiles of a distributional critic)."""
        out = self(obs, action)
        return out if self.config.num_quantiles == 1 else out.mean(-1)


def reduce_ensemble(values: torch.Tensor, how: Literal["min", "mean", "pessimistic"] = "min", k: float = 1.0) -> torch.Tensor:
    """Combine ``[E, ...]`` member values: the minimum (clipped double Q), the mean, or the
    pessimistic ``mean - k * std`` (BRO's / REDQ-style lower bound)."""
    if how == "min":
        return values.min(0).values
    if how == "mean":
        return values.mean(0)
    if how == "pessimistic":
        return values.mean(0) - k * values.std(0, unbiased=False)
    raise ValueError(f"unknown ensemble reduction {how!r}; choose min, mean or pessimistic")


# --------------------------------------------------------------------------- losses
def td_target(rewards: torch.Tensor, next_values: torch.Tensor, terminations: torch.Tensor, gamma: float) -> torch.Tensor:
    """``r + gamma (1 - terminated) V(s')``: no bootstrap through a termination.

    A truncated step (time limit) is not terminal: its target bootstraps, since the state
    still has a future; this is why datasets keep ``terminations`` and ``truncations`` apart.
    ``next_values`` may carry trailing dims (quantiles); flags broadcast over them.
    """
    extra = (1,) * (next_values.ndim - rewards.ndim)
    r = rewards.reshape(*rewards.shape, *extra)
    alive = 1.0 - terminations.float().reshape(*terminations.shape, *extra)
    return r + gamma * alive * next_values


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """IQL's asymmetric L2 ``|tau - 1(u < 0)| u^2`` (mean), ``u = Q - V``: with tau > 0.5,
    V is pushed towards an upper expectile of Q over the data's actions."""
    weight = torch.where(diff > 0, expectile, 1.0 - expectile)
    return (weight * diff.square()).mean()


def quantile_midpoints(num_quantiles: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``tau_i = (2i + 1) / (2N)``, the quantile fractions a QR critic regresses."""
    return (torch.arange(num_quantiles, device=device, dtype=torch.float32) + 0.5) / num_quantiles


def quantile_huber_loss(quantiles: torch.Tensor, targets: torch.Tensor, kappa: float = 1.0) -> torch.Tensor:
    """QR-DQN's loss. ``quantiles`` ``[..., N]`` predicted, ``targets`` ``[..., M]`` samples of
    the target distribution; every pair (i, j) contributes ``|tau_i - 1(u_ij < 0)| H_kappa(u_ij) / kappa``
    with ``u_ij = target_j - quantile_i``, summed over i, averaged over j and the batch."""
    taus = quantile_midpoints(quantiles.shape[-1], quantiles.device)
    u = targets.unsqueeze(-2) - quantiles.unsqueeze(-1)  # [..., N, M]
    huber = torch.where(u.abs() <= kappa, 0.5 * u.square(), kappa * (u.abs() - 0.5 * kappa))
    weight = (taus.unsqueeze(-1) - (u.detach() < 0).float()).abs()
    return (weight * huber / kappa).sum(-2).mean()
