"""Affine normalizers fitted on a dataset and stored as buffers inside the policy.

Both kinds are ``x_norm = (x - shift) / scale``, so one module covers them and the saved
policy needs no knowledge of how the statistics were fitted:

* ``"standard"``: shift = mean, scale = std (observations, BC targets);
* ``"minmax"``: maps [min, max] onto [-1, 1] (diffusion targets, whose noise prior is
  N(0, I) and whose samples are clipped to [-1, 1]);
* ``"identity"``: no change.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

NormMode = Literal["standard", "minmax", "identity"]

# A dimension whose spread is below this fraction of its magnitude (``1 + |shift|``) is
# treated as constant and left unscaled rather than blown up. The floor is relative, not an
# absolute 1e-2: a feature in small units (std 1e-3, say metres of a sub-millimetre sensor)
# must still come out with unit spread, while a constant column whose float32 statistics
# show rounding noise (std ~1e-7 |value|) must not be amplified into noise of unit size.
MIN_SCALE = 1e-6


class Normalizer(nn.Module):
    def __init__(self, dim: int, mode: NormMode = "standard") -> None:
        super().__init__()
        if mode not in ("standard", "minmax", "identity"):
            raise ValueError(f"unknown normalization mode {mode!r}")
        self.mode = mode
        self.register_buffer("shift", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    @torch.no_grad()
    def fit(self, data: torch.Tensor) -> "Normalizer":
        """Fit statistics on ``data`` of shape ``[..., dim]``."""
        flat = data.reshape(-1, data.shape[-1]).float()
        if self.mode == "standard":
            shift, scale = flat.mean(0), flat.std(0, unbiased=False)
        elif self.mode == "minmax":
            low, high = flat.min(0).values, flat.max(0).values
            shift, scale = (high + low) / 2, (high - low) / 2
        else:
            shift, scale = torch.zeros_like(self.shift), torch.ones_like(self.scale)
        floor = MIN_SCALE * (1.0 + shift.abs())
        scale = torch.where(scale < floor, torch.ones_like(scale), scale)
        self.shift.copy_(shift)
        self.scale.copy_(scale)
        return self

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift

    def extra_repr(self) -> str:
        return f"dim={self.shift.numel()}, mode={self.mode!r}"
