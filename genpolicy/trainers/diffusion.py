"""Diffusion Policy training: learn to denoise expert action chunks (Chi et al., 2023).

    for each update:
        (o_{t-To+1..t}, a_{t..t+Tp-1}) ~ D               # windows, padded at episode edges
        o, a = normalize(o), normalize(a)                # a in [-1, 1]
        eps ~ N(0, I),  k ~ U{0..K-1}                    # from the trainer's generator
        loss = || eps_theta(sqrt(abar_k) a + sqrt(1 - abar_k) eps, k, o) - eps ||^2
        theta <- AdamW(theta, grad(loss));  theta_ema <- lerp(theta_ema, theta, 1 - decay_k)

Defaults are the reference Diffusion Policy ones (To=2, Tp=16, Ta=8, K=100 squaredcos_cap_v2,
epsilon, DDIM-10 at inference, AdamW 1e-4 / wd 1e-6, cosine schedule with 500 warm-up steps,
EMA) except three, chosen for short CPU runs:

* the U-Net size (``size="auto"``): the reference (256, 512, 1024) needs an accelerator (about
  5 s per update on 2 CPU cores); on a CPU the preset is (32, 64) for actions of up to 4
  dimensions, (64, 128, 256) above. Printed at start, recorded in config.json as
  ``policy.down_dims``; ``--set size=reference`` or ``--set policy.down_dims=[...]`` overrides.

* ``ema_decay=0.999`` (reference 0.9999). With the warm-up ``1 - (1 + k)^-0.75`` the decay only
  reaches 0.999 after 10k updates and 0.9999 after ~215k; the cap matters only beyond 10k
  updates, where 0.9999 would average over ~10k updates — most of a CPU-sized run.
* padded chunk steps are *not* masked (``mask_padding=False``), as in the reference: a chunk
  running past the episode end repeats the last action, which teaches "keep doing that".
  ``mask_padding=True`` drops them from the loss instead (no better on TwoPaths: 91 % success
  after 3000 updates, vs 91-96 % unmasked).

A CPU recipe (measured on TwoPaths, 200 noisy expert episodes; 97-98 % success over 200
evaluation episodes, both ways 45-55 %, 230-320 s of training on 2 cores)::

    build_config(DiffusionConfig, {"policy.down_dims": [32, 64], "batch_size": 128, "optim.lr": 1e-3,
                                   "steps": 5000, "optim.warmup_steps": 100})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.sources import Sources
from genpolicy.models.diffusion import DiffusionPolicyConfig
from genpolicy.trainers.base import OptimizerConfig
from genpolicy.trainers.policy_algorithm import PolicyAlgoConfig, PolicyAlgorithm

# U-Net widths by size; "auto" picks one from the device and the action size when
# ``policy.down_dims`` is not set (printed at start and recorded in config.json).
SIZE_PRESETS: dict[str, list[int]] = {
    "small": [32, 64],  # 2-D actions on a CPU: two-paths in minutes
    "medium": [64, 128, 256],
    "reference": [256, 512, 1024],  # Diffusion Policy's (~65M parameters; a GPU's size)
}


def auto_size(act_dim: int, accelerator: bool) -> str:
    """The U-Net size for a first fit: the reference network needs an accelerator (it runs
    at ~5 s per update on 2 CPU cores); on a CPU, small for low-dimensional actions."""
    if accelerator:
        return "reference"
    return "small" if act_dim <= 4 else "medium"


@dataclass
class DiffusionConfig(PolicyAlgoConfig):
    optim: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(lr=1e-4, weight_decay=1e-6, schedule="cosine", warmup_steps=500)
    )
    ema_decay: float = 0.999
    mask_padding: bool = False
    size: Literal["auto", "small", "medium", "reference"] = "auto"  # used when policy.down_dims is null
    policy: DiffusionPolicyConfig = field(default_factory=lambda: DiffusionPolicyConfig(down_dims=None))


# The measured CPU recipe for low-dimensional actions (two-paths: 96-98 % success, both ways
# ~50/50, ~200 s on 2 idle cores): a small U-Net trains well with a 10x larger learning rate
# and half the updates of the reference settings.
CPU_RECIPE = {"policy.down_dims": SIZE_PRESETS["small"], "batch_size": 128, "optim.lr": 1e-3,
              "optim.warmup_steps": 100, "steps": 5_000}


class Diffusion(PolicyAlgorithm):
    @staticmethod
    def device_preset(dataset: OfflineDataset, accelerator: bool) -> dict:
        """Defaults `genpolicy fit` applies below the user's own settings: the CPU recipe where
        the small U-Net is the auto size (no accelerator, actions of up to 4 dimensions)."""
        return dict(CPU_RECIPE) if auto_size(dataset.act_dim, accelerator) == "small" else {}

    def __init__(self, config: DiffusionConfig, sources: Sources | OfflineDataset) -> None:
        super().__init__(config, sources)
        dataset = self.dataset
        forced = {"action_norm": "minmax"}
        if config.policy.denoiser == "unet" and config.policy.down_dims is None:
            size = config.size if config.size != "auto" else auto_size(dataset.act_dim, torch.cuda.is_available())
            forced["down_dims"] = SIZE_PRESETS[size]
            print(f"diffusion: U-Net size {size!r} {SIZE_PRESETS[size]} (set policy.down_dims or size to change)")
        self.install_policy("diffusion", dataset, **forced)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        obs, actions = self.normalized(batch)
        valid = ~batch["action_is_pad"] if self.config.mask_padding else None
        losses = self.policy.loss(obs, actions, generator=self.generator, valid=valid)
        self.step("policy", losses["loss"])
        return {k: v.detach() for k, v in losses.items()}


__all__ = ["Diffusion", "DiffusionConfig", "SIZE_PRESETS"]
