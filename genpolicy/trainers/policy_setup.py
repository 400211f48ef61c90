"""Glue between a dataset and a new policy: dimensions, horizons, bounds, normalizers.

Algorithms that fit one ``policy`` to windows of the data (BC, diffusion, CVAE, transformers)
share :class:`PolicyAlgorithm`. Their configs nest: the algorithm config holds the policy's
own config (``config.policy``, the dataclass saved with the policy) and its optimizer settings
(``config.optim``), so every setting has one home and one default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.samplers import WindowSampler
from genpolicy.models.base import Policy, PolicyConfig, build_policy
from genpolicy.trainers.base import AlgoConfig, OfflineAlgorithm, OptimizerConfig

# Dataset metadata a policy keeps, so evaluation knows its env and reference scores.
POLICY_METADATA_KEYS = ("task", "env_id", "ref_min_score", "ref_max_score", "source")


def data_fields(dataset: OfflineDataset) -> dict[str, Any]:
    """Policy config fields implied by the dataset: dimensions, action bounds, layout."""
    actions = dataset.actions
    meta = dataset.metadata
    return {
        "obs_dim": dataset.obs_dim,
        "act_dim": dataset.act_dim,
        # Execute only actions inside the range the demonstrator used (or the env's bounds).
        "action_low": meta.get("action_low", actions.min(0).values.tolist()),
        "action_high": meta.get("action_high", actions.max(0).values.tolist()),
        "obs_layout": meta.get("obs_layout"),
        "metadata": {key: meta[key] for key in POLICY_METADATA_KEYS if key in meta},
    }


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


@dataclass
class PolicyAlgoConfig(AlgoConfig):
    """An algorithm that trains one policy: its optimizer and an optional EMA copy."""

    optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-3))
    ema_decay: float = 0.0  # 0 disables EMA; else the maximum decay of a warm-up schedule
    policy: PolicyConfig = field(default_factory=PolicyConfig)


class PolicyAlgorithm(OfflineAlgorithm):
    """Base of the algorithms that fit ``self.policy`` to (To observations, Tp actions)
    windows: the policy is built from the dataset with its normalizers fitted, and updates
    see batches in the policy's normalized units."""

    config: PolicyAlgoConfig

    def install_policy(self, name: str, dataset: OfflineDataset, **forced: Any) -> Policy:
        """Build and register the policy ``name`` (optimizer ``config.optim``, EMA if asked)."""
        policy = make_policy(name, self.config.policy, dataset, **forced)
        self.config = replace(self.config, policy=replace(self.config.policy, **forced)) if forced else self.config
        return self.add_network("policy", policy, self.config.optim, ema_decay=self.config.ema_decay)

    def make_sampler(self, dataset: OfflineDataset) -> WindowSampler:
        policy = self.policy.config
        return WindowSampler(dataset, self.config.batch_size, policy.obs_horizon, policy.pred_horizon)

    def normalized(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(observations, actions)`` of a batch in the policy's normalized units."""
        policy = self.policy
        return policy.obs_normalizer.normalize(batch["observations"]), policy.action_normalizer.normalize(batch["actions"])
