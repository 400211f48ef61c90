"""Plain torch building blocks shared by policies and critics."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import distributions as D
from torch import nn


# Activations by config name. Mish is the default of genpolicy's imitation policies (as in
# Diffusion Policy); ReLU is what SAC-style actors use, and on a CPU it is ~30x cheaper than
# Mish (no vectorized Mish kernel: ~0.27 ms forward for a 256 x 256 batch, against ~0.01 ms).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "mish": nn.Mish, "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "elu": nn.ELU, "tanh": nn.Tanh,
}


def activation_class(name: str) -> type[nn.Module]:
    """The ``nn.Module`` class of activation ``name`` (a clear error naming the choices)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def mlp(
    in_dim: int,
    hidden_dims: Sequence[int],
    out_dim: int,
    activation: type[nn.Module] = nn.Mish,
    layer_norm: bool = False,
    dropout: float = 0.0,
) -> nn.Sequential:
    """``Linear -> [LayerNorm] -> act -> [Dropout]`` per hidden layer, then a linear head."""
    layers: list[nn.Module] = []
    dim = in_dim
    for hidden in hidden_dims:
        layers.append(nn.Linear(dim, hidden))
        if layer_norm:
            layers.append(nn.LayerNorm(hidden))
        layers.append(activation())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        dim = hidden
    layers.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*layers)


class FiLM(nn.Module):
    """Feature-wise linear modulation: ``x * (1 + gamma(c)) + beta(c)``.

    The ``1 +`` keeps the layer an identity at initialisation (gamma starts near 0), which is
    what makes deep FiLM-conditioned stacks (the diffusion U-Net) train stably.
    """

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.to_scale_shift = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * channels))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``x``: ``[B, C, ...]``; ``cond``: ``[B, cond_dim]``."""
        scale, shift = self.to_scale_shift(cond).chunk(2, dim=-1)
        extra = (1,) * (x.ndim - 2)
        return x * (1 + scale.view(*scale.shape, *extra)) + shift.view(*shift.shape, *extra)


class ChunkGMMHead(nn.Module):
    """Features ``[B, C]`` -> mixture of ``num_modes`` diagonal Gaussians over flat chunks
    ``[B, Tp * act_dim]`` (normalized action units)."""

    def __init__(self, in_dim: int, chunk_dim: int, num_modes: int, min_std: float = 1e-4) -> None:
        super().__init__()
        self.num_modes, self.chunk_dim, self.min_std = num_modes, chunk_dim, min_std
        self.proj = nn.Linear(in_dim, num_modes * (2 * chunk_dim + 1))

    @torch.no_grad()
    def spread_means_(self, std: float = 1.0) -> None:
        """Start the component means at different random chunks (biases ~ N(0, std^2)).

        With all means starting at the same point (small init), EM-like symmetry breaking is
        slow and often ends with one broad component over two modes and dead components.
        """
        k, c = self.num_modes, self.chunk_dim
        self.proj.bias[k : k + k * c].normal_(0.0, std)

    def params(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mixture logits ``[B, K]``, means and stds ``[B, K, Tp * act_dim]``."""
        out = self.proj(features)
        logits, rest = out[:, : self.num_modes], out[:, self.num_modes :]
        mean, raw_std = rearrange(rest, "b (two k c) -> two b k c", two=2, k=self.num_modes)
        return logits, mean, F.softplus(raw_std) + self.min_std

    def forward(self, features: torch.Tensor) -> D.MixtureSameFamily:
        logits, mean, std = self.params(features)
        components = D.Independent(D.Normal(mean, std), 1)
        return D.MixtureSameFamily(D.Categorical(logits=logits), components)

    def sample_mode_mean(self, features: torch.Tensor) -> torch.Tensor:
        """Pick a component by its weight and return its mean: a stochastic choice of mode,
        a smooth motion within it (what the policy executes)."""
        logits, mean, _ = self.params(features)
        mode = D.Categorical(logits=logits).sample()
        return mean[torch.arange(mean.shape[0], device=mean.device), mode]
