"""Glue between a dataset and a new policy: dimensions, horizons, bounds, normalizers."""

from __future__ import annotations

from typing import Any

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.models.base import Policy


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
