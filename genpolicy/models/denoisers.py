"""Noise-prediction networks for diffusion policies (plain torch, no schedulers in here).

Every denoiser has the same call::

    denoiser(sample [B, Tp, act_dim], timestep [B] (or a scalar), cond [B, cond_dim]) -> [B, Tp, act_dim]

where ``sample`` is the noisy (normalized) action chunk, ``timestep`` the diffusion step and
``cond`` the flattened normalized observation history. What the output means (noise or clean
chunk) is the policy's business.

* `ConditionalUnet1D`: the Diffusion Policy (Chi et al., 2023) temporal U-Net. Convolutions run
  over the chunk's time axis with the action dimensions as channels; every residual block is
  FiLM-conditioned on ``[timestep embedding, cond]``. diffusers' ``UNet1DModel`` takes no
  global conditioning vector, which is why this one is ours.
* `MLPDenoiser`: the Diffusion-QL (Wang et al., 2023) MLP over ``[flat noisy chunk, timestep
  embedding, cond]``; a good fit for short chunks (Tp = 1 single-step policies).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from einops import rearrange
from torch import nn

from genpolicy.models.nets import FiLM, mlp


class SinusoidalEmbedding(nn.Module):
    """Transformer-style sinusoidal embedding of the diffusion step: ``[sin(t f), cos(t f)]``.

    Same frequencies as Diffusion Policy's ``SinusoidalPosEmb`` (diffusers'
    ``get_timestep_embedding`` with ``downscale_freq_shift=1``), but the frequency table is a
    (non-saved) buffer built once instead of at every call: the sampling loop calls this
    ``num_inference_steps`` times per chunk.
    """

    def __init__(self, dim: int, max_period: float = 10_000.0) -> None:
        super().__init__()
        if dim < 4 or dim % 2:
            raise ValueError(f"timestep embedding dim must be even and >= 4, got {dim}")
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / (half - 1))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, timestep: torch.Tensor) -> torch.Tensor:
        """``[B]`` (int or float) -> ``[B, dim]``."""
        angles = timestep.to(self.freqs.dtype)[:, None] * self.freqs[None]
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


def timestep_encoder(dim: int, hidden: int) -> nn.Sequential:
    """Sinusoidal features followed by a small MLP (``dim -> hidden -> dim``), as in the reference."""
    return nn.Sequential(SinusoidalEmbedding(dim), nn.Linear(dim, hidden), nn.Mish(), nn.Linear(hidden, dim))


def _batch_timesteps(timestep: torch.Tensor | int, batch: int, device: torch.device) -> torch.Tensor:
    timestep = torch.as_tensor(timestep, device=device)
    return timestep.expand(batch) if timestep.ndim == 0 else timestep


# --------------------------------------------------------------------------- U-Net
class Conv1dBlock(nn.Module):
    """``Conv1d -> GroupNorm -> Mish`` ('same' padding, so the length is kept)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, n_groups: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(n_groups, out_channels),
            nn.Mish(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ConditionalResidualBlock1D(nn.Module):
    """Two conv blocks; FiLM (per-channel scale and shift from ``cond``) between them; 1x1 skip."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, kernel_size: int, n_groups: int) -> None:
        super().__init__()
        self.conv1 = Conv1dBlock(in_channels, out_channels, kernel_size, n_groups)
        self.film = FiLM(cond_dim, out_channels)
        self.conv2 = Conv1dBlock(out_channels, out_channels, kernel_size, n_groups)
        self.skip = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``x``: ``[B, C_in, T]``; ``cond``: ``[B, cond_dim]`` -> ``[B, C_out, T]``."""
        return self.conv2(self.film(self.conv1(x), cond)) + self.skip(x)


class ConditionalUnet1D(nn.Module):
    """Temporal U-Net over an action chunk, FiLM-conditioned on the step and the observations.

    ``down_dims = (d1, ..., dL)``: level ``i`` has two residual blocks at width ``di``; every
    level but the last halves the length (strided conv), the decoder mirrors it with transposed
    convs and skip connections. A chunk length that is not a multiple of ``2^(L-1)`` is padded at
    the end (replicating the last step) and the output cropped back, so any ``Tp`` works.

    Defaults are the reference ones (``(256, 512, 1024)``, kernel 5, 8 groups, 256-d step
    embedding: ~65 M parameters for 2-D actions); ``(32, 64)`` (~1 M) learns TwoPaths on a CPU in
    minutes.
    """

    def __init__(
        self,
        act_dim: int,
        cond_dim: int,
        down_dims: Sequence[int] = (256, 512, 1024),
        kernel_size: int = 5,
        n_groups: int = 8,
        step_embed_dim: int = 256,
    ) -> None:
        super().__init__()
        down_dims = [int(d) for d in down_dims]
        if not down_dims:
            raise ValueError("down_dims must name at least one level")
        bad = [d for d in down_dims if d % n_groups]
        if bad:
            raise ValueError(f"every down_dims entry must be divisible by n_groups={n_groups} (GroupNorm); got {bad}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same-length convolutions), got {kernel_size}")
        self.act_dim = act_dim
        self.cond_dim = cond_dim
        self.length_multiple = 2 ** (len(down_dims) - 1)
        self.step_encoder = timestep_encoder(step_embed_dim, 4 * step_embed_dim)
        film_dim = step_embed_dim + cond_dim

        def block(c_in: int, c_out: int) -> ConditionalResidualBlock1D:
            return ConditionalResidualBlock1D(c_in, c_out, film_dim, kernel_size, n_groups)

        widths = [act_dim, *down_dims]
        levels = list(zip(widths[:-1], widths[1:]))
        self.down = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(levels):
            last = i == len(levels) - 1
            resample = nn.Identity() if last else nn.Conv1d(c_out, c_out, 3, stride=2, padding=1)
            self.down.append(nn.ModuleList([block(c_in, c_out), block(c_out, c_out), resample]))
        mid = down_dims[-1]
        self.mid = nn.ModuleList([block(mid, mid), block(mid, mid)])
        self.up = nn.ModuleList()
        for c_in, c_out in reversed(levels[1:]):
            # input: decoder features (width c_out) concatenated with the skip (width c_out)
            upsample = nn.ConvTranspose1d(c_in, c_in, 4, stride=2, padding=1)
            self.up.append(nn.ModuleList([block(2 * c_out, c_in), block(c_in, c_in), upsample]))
        self.final = nn.Sequential(
            Conv1dBlock(down_dims[0], down_dims[0], kernel_size, n_groups), nn.Conv1d(down_dims[0], act_dim, 1)
        )

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | int, cond: torch.Tensor) -> torch.Tensor:
        batch, length, _ = sample.shape
        timestep = _batch_timesteps(timestep, batch, sample.device)
        film = torch.cat([self.step_encoder(timestep), cond], dim=-1)
        x = rearrange(sample, "b t a -> b a t")
        pad = (-length) % self.length_multiple
        if pad:
            x = torch.cat([x, x[..., -1:].expand(-1, -1, pad)], dim=-1)
        skips = []
        for block1, block2, downsample in self.down:
            x = block2(block1(x, film), film)
            skips.append(x)
            x = downsample(x)
        for block in self.mid:
            x = block(x, film)
        # As in the reference, the decoder concatenates the skips of levels L..2 (deepest first);
        # the finest level's features reach the output only through the encoder path.
        for (block1, block2, upsample), skip in zip(self.up, reversed(skips[1:])):
            x = block2(block1(torch.cat([x, skip], dim=1), film), film)
            x = upsample(x)
        x = self.final(x)
        return rearrange(x[..., :length], "b a t -> b t a")


# ---------------------------------------------------------------------------- MLP
class MLPDenoiser(nn.Module):
    """MLP over ``[flat noisy chunk, step embedding, cond]`` (Diffusion-QL's denoiser).

    Defaults follow Diffusion-QL: 3 hidden layers of 256 with Mish, a 16-d sinusoidal step
    embedding refined by a ``16 -> 32 -> 16`` MLP. ``layer_norm`` adds LayerNorm after each
    hidden Linear (helps larger widths).
    """

    def __init__(
        self,
        act_dim: int,
        pred_horizon: int,
        cond_dim: int,
        hidden_dims: Sequence[int] = (256, 256, 256),
        step_embed_dim: int = 16,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        self.act_dim = act_dim
        self.pred_horizon = pred_horizon
        self.cond_dim = cond_dim
        self.step_encoder = timestep_encoder(step_embed_dim, 2 * step_embed_dim)
        in_dim = pred_horizon * act_dim + step_embed_dim + cond_dim
        self.net = mlp(in_dim, list(hidden_dims), pred_horizon * act_dim, layer_norm=layer_norm)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | int, cond: torch.Tensor) -> torch.Tensor:
        batch = sample.shape[0]
        timestep = _batch_timesteps(timestep, batch, sample.device)
        inputs = torch.cat([rearrange(sample, "b t a -> b (t a)"), self.step_encoder(timestep), cond], dim=-1)
        return rearrange(self.net(inputs), "b (t a) -> b t a", t=self.pred_horizon)


__all__ = ["ConditionalUnet1D", "MLPDenoiser", "SinusoidalEmbedding", "timestep_encoder"]
