"""Behaviour cloning: maximize the likelihood (or minimize the MSE) of dataset actions.

    for each update:
        (o_{t-To+1..t}, a_{t..t+Tp-1}) ~ D          # windows, padded at episode edges
        loss = -log pi(a | o)   or   ||mu(o) - a||^2   (normalized units)
        theta <- theta - lr * grad(loss)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.sources import Sources
from genpolicy.models.policies import GMMPolicyConfig
from genpolicy.trainers.policy_algorithm import PolicyAlgoConfig, PolicyAlgorithm

_HEADS = {"mse": "bc-mse", "gaussian": "bc-gaussian", "gmm": "bc-gmm"}


@dataclass
class BCConfig(PolicyAlgoConfig):
    head: Literal["mse", "gaussian", "gmm"] = "mse"
    # One config for the three heads (num_modes / min_std are read by the GMM head only).
    policy: GMMPolicyConfig = field(default_factory=GMMPolicyConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.head not in _HEADS:
            raise ValueError(f"unknown BC head {self.head!r}; choose from {sorted(_HEADS)}")


class BC(PolicyAlgorithm):
    def __init__(self, config: BCConfig, sources: Sources | OfflineDataset) -> None:
        super().__init__(config, sources)
        dataset = self.dataset
        # tanh-Gaussian needs actions in [-1, 1]; the others train best on standardized ones.
        action_norm = "minmax" if config.head == "gaussian" else "standard"
        self.install_policy(_HEADS[config.head], dataset, action_norm=action_norm)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        obs, actions = self.normalized(batch)
        losses = self.policy.loss(obs, actions)
        self.step("policy", losses["loss"])
        return {k: v.detach() for k, v in losses.items()}


__all__ = ["BC", "BCConfig"]
