"""Glue between a dataset and a new policy: dimensions, horizons, bounds, normalizers."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.samplers import WindowSampler
from genpolicy.models.base import Policy, build_policy
from genpolicy.trainers.base import OfflineAlgorithm


def policy_fields_from(dataset: OfflineDataset, algo_config: Any, **extra: Any) -> dict[str, Any]:
    """Policy config fields implied by the dataset and the algorithm's horizons."""
    actions = dataset.actions
    meta = dataset.metadata
    fields: dict[str, Any] = {
        "obs_dim": dataset.obs_dim,
        "act_dim": dataset.act_dim,
        "obs_horizon": getattr(algo_config, "obs_horizon", 1),
        "pred_horizon": getattr(algo_config, "pred_horizon", 1),
        "action_horizon": getattr(algo_config, "action_horizon", 1),
        # Execute only actions inside the range the demonstrator used (or the env's bounds).
        "action_low": meta.get("action_low", actions.min(0).values.tolist()),
        "action_high": meta.get("action_high", actions.max(0).values.tolist()),
        "obs_layout": meta.get("obs_layout"),
        "metadata": {
            key: meta[key]
            for key in ("task", "env_id", "ref_min_score", "ref_max_score", "source")
            if key in meta
        },
    }
    fields.update(extra)
    return fields


def fit_normalizers(policy: Policy, dataset: OfflineDataset) -> None:
    policy.obs_normalizer.fit(dataset.observations)
    policy.action_normalizer.fit(dataset.actions)


class PolicyAlgorithm(OfflineAlgorithm):
    """Base of the algorithms that fit one ``self.policy`` to windows of the data (BC,
    diffusion, CVAE, transformers): the policy is built from the dataset with its normalizers
    fitted, batches are (To observations, Tp actions) windows, and updates see them normalized.
    The config needs ``obs_horizon`` and ``pred_horizon``."""

    def install_policy(self, name: str, dataset: OfflineDataset, **overrides: Any) -> None:
        """Build the registered policy ``name`` for ``dataset``, fit its normalizers and start
        its EMA copy. Every algorithm-config field that the policy config also declares is
        passed on (a shared name means the same setting on both sides); ``overrides`` win."""
        settings = {**asdict(self.config), **policy_fields_from(dataset, self.config, **overrides)}
        self.policy = build_policy(name, settings)
        fit_normalizers(self.policy, dataset)
        self.enable_ema()

    def make_sampler(self, dataset: OfflineDataset) -> WindowSampler:
        cfg = self.config
        return WindowSampler(dataset, cfg.batch_size, cfg.obs_horizon, cfg.pred_horizon)

    def normalized(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(observations, actions)`` of a batch in the policy's normalized units."""
        policy = self.policy
        return policy.obs_normalizer.normalize(batch["observations"]), policy.action_normalizer.normalize(batch["actions"])
