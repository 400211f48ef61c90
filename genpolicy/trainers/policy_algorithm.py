"""Glue between a dataset and a new policy: dimensions, horizons, bounds, normalizers.

Algorithms that fit one ``policy`` to windows of the data (BC, diffusion, CVAE, transformers)
share :class:`PolicyAlgorithm`. Their configs nest: the algorithm config holds the policy's
own config (``config.policy``, the dataclass saved with the policy) and its optimizer settings
(``config.optim``), so every setting has one home and one default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.sources import DataSpec, dataset_spec
from genpolicy.datasets.samplers import WindowSampler
from genpolicy.models.base import Policy, PolicyConfig, build_policy
from genpolicy.trainers.base import AlgoConfig, Algorithm, OptimizerConfig

def data_fields(dataset: OfflineDataset) -> dict[str, Any]:
    """Policy config fields implied by the dataset: dimensions, action bounds, layout."""
    return dataset_spec(dataset).policy_fields()


def fit_normalizers(policy: Policy, dataset: OfflineDataset) -> None:
    policy.obs_normalizer.fit(dataset.observations)
    policy.action_normalizer.fit(dataset.actions)


def make_policy(name: str, config: PolicyConfig, dataset: OfflineDataset, **forced: Any) -> Policy:
    """Policy ``name`` for ``dataset`` from ``config`` (data fields filled in, ``forced``
    settings the algorithm requires applied), with its normalizers fitted."""
    settings = {**asdict(config), **data_fields(dataset), **forced}
    policy = build_policy(name, settings)
    fit_normalizers(policy, dataset)
    return policy


def make_env_policy(name: str, config: PolicyConfig, spec: DataSpec, **forced: Any) -> Policy:
    """Policy ``name`` for an env (no fixed data to fit statistics on): observations pass
    unnormalized, actions are min/max-normalized from the env's bounds to [-1, 1]."""
    settings = {**asdict(config), **spec.policy_fields(), "obs_norm": "identity", "action_norm": "minmax", **forced}
    policy = build_policy(name, settings)
    policy.action_normalizer.fit(torch.tensor(np.stack([np.asarray(spec.action_low, dtype=np.float32),
                                                        np.asarray(spec.action_high, dtype=np.float32)])))
    return policy


@dataclass
class PolicyAlgoConfig(AlgoConfig):
    """An algorithm that trains one policy: its optimizer and an optional EMA copy."""

    optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-3))
    ema_decay: float = 0.0  # 0 disables EMA; else the maximum decay of a warm-up schedule
    policy: PolicyConfig = field(default_factory=PolicyConfig)


class PolicyAlgorithm(Algorithm):
    """Base of the algorithms that fit ``self.policy`` to (To observations, Tp actions)
    windows: the policy is built from the dataset with its normalizers fitted, and updates
    see batches in the policy's normalized units."""

    config: PolicyAlgoConfig

    def install_policy(self, name: str, dataset: OfflineDataset, **forced: Any) -> Policy:
        """Build and register the policy ``name`` (optimizer ``config.optim``, EMA if asked)."""
        policy = make_policy(name, self.config.policy, dataset, **forced)
        self.config = replace(self.config, policy=replace(self.config.policy, **forced)) if forced else self.config
        return self.add_network("policy", policy, self.config.optim, ema_decay=self.config.ema_decay)

    def make_sampler(self) -> WindowSampler:
        policy = self.policy.config
        return WindowSampler(self.dataset, self.config.batch_size, policy.obs_horizon, policy.pred_horizon)

    def normalized(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(observations, actions)`` of a batch in the policy's normalized units."""
        policy = self.policy
        return policy.obs_normalizer.normalize(batch["observations"]), policy.action_normalizer.normalize(batch["actions"])
