"""Plain torch building blocks shared by policies and critics."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


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
