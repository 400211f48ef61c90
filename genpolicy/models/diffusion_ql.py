"""The Diffusion-QL policy: a diffusion actor that carries its critic to choose among samples.

At control time it draws ``num_candidates`` actions per observation from the diffusion model
and picks one with probability ``softmax(Q)`` (or the argmax), as Wang et al. (2023) do at
evaluation. The critic is part of the saved policy, so ``load_policy`` needs no training code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from einops import rearrange

from genpolicy.models.base import register_policy
from genpolicy.models.critics import CriticConfig, EnsembleCritic
from genpolicy.models.diffusion import DiffusionPolicy, DiffusionPolicyConfig


@dataclass
class DiffusionQLPolicyConfig(DiffusionPolicyConfig):
    critic: CriticConfig = field(default_factory=CriticConfig)
    num_candidates: int = 50
    selection: Literal["softmax", "argmax"] = "softmax"

    def __post_init__(self) -> None:
        if isinstance(self.critic, dict):  # read back from config.json
            self.critic = CriticConfig(**self.critic)
        super().__post_init__()
        if self.pred_horizon != 1 or self.obs_horizon != 1:
            raise ValueError("Diffusion-QL scores single actions: obs_horizon and pred_horizon must be 1")


@register_policy("diffusion-ql")
class DiffusionQLPolicy(DiffusionPolicy):
    config_class = DiffusionQLPolicyConfig

    def __init__(self, config: DiffusionQLPolicyConfig) -> None:
        super().__init__(config)
        self.critic = EnsembleCritic(config.obs_dim, config.act_dim, config.critic)

    @torch.no_grad()
    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        batch, n = obs_history.shape[0], cfg.num_candidates
        obs_norm = self.obs_normalizer.normalize(obs_history[:, -1])
        repeated = obs_history.repeat_interleave(n, dim=0)
        cond = self.condition(self.obs_normalizer.normalize(repeated))
        noise = self._randn((batch * n, 1, cfg.act_dim), cond, self.inference_generator)
        candidates = self.denoise(cond, noise, self.inference_generator)[:, 0]  # [B*n, A] normalized
        q = self.critic.q_value(obs_norm.repeat_interleave(n, dim=0), candidates).min(0).values
        q = rearrange(q, "(b n) -> b n", n=n)
        if cfg.selection == "argmax":
            index = q.argmax(-1)
        else:
            index = torch.multinomial(torch.softmax(q, -1), 1, generator=self.inference_generator)[:, 0]
        chosen = rearrange(candidates, "(b n) a -> b n a", n=n)[torch.arange(batch, device=q.device), index]
        return self.action_normalizer.unnormalize(chosen)[:, None]


__all__ = ["DiffusionQLPolicy", "DiffusionQLPolicyConfig"]
