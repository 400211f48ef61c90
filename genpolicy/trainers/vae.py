"""Conditional VAE over action chunks (ACT's objective, with an MLP or transformer decoder).

    for each update:
        (o_{t-To+1..t}, a_{t..t+Tp-1}) ~ D                  # windows, padded at episode edges
        mu, log sigma^2 = q(o, a)                           # encoder
        z = mu + sigma * eps,  eps ~ N(0, I)                # reparameterization
        a_hat = p(o, z)                                     # decoder
        loss = |a_hat - a|_1 (or _2^2, summed over the chunk)
               + beta * KL(N(mu, sigma^2) || N(0, I))
        theta <- theta - lr * grad(loss)

At control time z ~ N(0, I) (``inference="sample"``, multimodal) or z = 0 (``"mean"``, ACT).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.sources import Sources
from genpolicy.models.cvae import CVAEPolicyConfig, gaussian_kl, reconstruction_loss, reparameterize
from genpolicy.trainers.policy_algorithm import PolicyAlgoConfig, PolicyAlgorithm


@dataclass
class VAEConfig(PolicyAlgoConfig):
    kl_weight: float = 1.0  # beta; per-sample sums on both terms (see reconstruction_loss)
    reconstruction: Literal["l1", "l2"] = "l1"
    ignore_padded_actions: bool = False  # True: chunk steps past the episode end leave the loss (ACT)
    policy: CVAEPolicyConfig = field(default_factory=CVAEPolicyConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reconstruction not in ("l1", "l2"):
            raise ValueError(f"reconstruction must be 'l1' or 'l2', got {self.reconstruction!r}")


class VAE(PolicyAlgorithm):
    def __init__(self, config: VAEConfig, sources: Sources | OfflineDataset) -> None:
        super().__init__(config, sources)
        dataset = self.dataset
        self.install_policy("vae", dataset)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg, policy = self.config, self.policy
        obs, actions = self.normalized(batch)
        is_pad = batch["action_is_pad"] if cfg.ignore_padded_actions else None

        mean, logvar = policy.encode(obs, actions)
        z = reparameterize(mean, logvar)
        reconstruction = policy.decode(obs, z)
        recon = reconstruction_loss(reconstruction, actions, cfg.reconstruction, is_pad).mean()
        kl = gaussian_kl(mean, logvar).mean()
        loss = recon + cfg.kl_weight * kl

        self.step("policy", loss)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}


__all__ = ["VAE", "VAEConfig"]
