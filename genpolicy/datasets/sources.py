"""Data sources: what an algorithm draws its batches from, as objects handed to it by name.

An algorithm is built as ``Algo(config, sources)``; ``sources`` maps names to sources:

* ``DatasetSource``: a fixed `OfflineDataset` (offline learning, demonstrations, the offline
  half of an RLPD mix, GAIL's ``"expert"``);
* ``EnvCollector`` (`genpolicy.datasets.collector`): a vector env (env target + wrappers)
  feeding a replay buffer, stepped by the algorithm between its updates.

Every source lives on the training device (``to(device)``), is sampled by index with the
module's ``torch.Generator`` (the algorithm builds its samplers from the sources in
``make_sampler``), describes the data it yields (``spec``: dimensions, action bounds,
observation layout, metadata a policy keeps) and saves its own state in the checkpoint
(``state_dict``; a fixed dataset has none, a collector its buffer and counters).
Networks are sized from ``Sources.spec``: the collector's when there is one (the env *as
wrapped* is what the policy acts in), else the dataset's.

Names are the algorithm's business: offline learners read ``"data"``, online ones
``"env"`` (and an optional ``"data"`` mixed into every batch), GAIL ``"expert"`` + ``"env"``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from genpolicy.datasets.episodes import OfflineDataset

# Dataset / env metadata a policy keeps, so evaluation knows its env, wrappers and reference scores.
POLICY_METADATA_KEYS = ("task", "env_id", "ref_min_score", "ref_max_score", "source", "env_wrappers")


@dataclass
class DataSpec:
    """What a source's batches look like: the fields a policy config takes from its data."""

    obs_dim: int
    act_dim: int
    action_low: list[float]
    action_high: list[float]
    obs_layout: dict[str, list[int]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def policy_fields(self) -> dict[str, Any]:
        """Policy config fields implied by the data (dimensions, bounds, layout, metadata)."""
        return {"obs_dim": self.obs_dim, "act_dim": self.act_dim, "action_low": list(self.action_low),
                "action_high": list(self.action_high), "obs_layout": self.obs_layout,
                "metadata": {key: self.metadata[key] for key in POLICY_METADATA_KEYS if key in self.metadata}}


class Source:
    """Base of the sources (see the module doc). ``kind`` is ``"dataset"`` or ``"collector"``."""

    kind = "source"

    @property
    def spec(self) -> DataSpec:
        raise NotImplementedError

    def to(self, device: torch.device | str) -> "Source":
        return self

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def dataset_spec(dataset: OfflineDataset) -> DataSpec:
    """A dataset's spec; executed actions stay inside the range the demonstrator used (or the
    env's bounds, when the dataset recorded them)."""
    meta = dataset.metadata
    return DataSpec(
        obs_dim=dataset.obs_dim, act_dim=dataset.act_dim,
        action_low=meta.get("action_low", dataset.actions.min(0).values.tolist()),
        action_high=meta.get("action_high", dataset.actions.max(0).values.tolist()),
        obs_layout=meta.get("obs_layout"), metadata=dict(meta),
    )


class DatasetSource(Source):
    """A fixed dataset; the algorithm chooses how to sample it (transitions, windows)."""

    kind = "dataset"

    def __init__(self, dataset: OfflineDataset) -> None:
        if not isinstance(dataset, OfflineDataset):
            raise TypeError(f"DatasetSource takes an OfflineDataset, got {type(dataset).__name__}")
        self.dataset = dataset
        self._spec: DataSpec | None = None

    @property
    def spec(self) -> DataSpec:
        if self._spec is None:
            self._spec = dataset_spec(self.dataset)
        return self._spec

    def to(self, device: torch.device | str) -> "DatasetSource":
        self.dataset = self.dataset.to(device)
        return self


class Sources(Mapping):
    """The named sources of one algorithm (an ordered, read-only mapping)."""

    def __init__(self, sources: Mapping[str, Source] | None = None, **named: Source) -> None:
        self._sources: dict[str, Source] = {}
        for name, source in {**(sources or {}), **named}.items():
            if isinstance(source, OfflineDataset):
                source = DatasetSource(source)
            if not isinstance(source, Source):
                raise TypeError(f"source {name!r}: expected a DatasetSource, an EnvCollector or an OfflineDataset, "
                                f"got {type(source).__name__}")
            self._sources[name] = source
        collectors = [name for name, source in self._sources.items() if source.kind == "collector"]
        if len(collectors) > 1:
            raise ValueError(f"at most one env collector per algorithm, got {', '.join(collectors)}")
        self._collector = collectors[0] if collectors else None

    @classmethod
    def coerce(cls, value: "Sources | Mapping[str, Any] | OfflineDataset | Source") -> "Sources":
        """``Sources`` from what a caller hands an algorithm: a dataset means ``{"data": it}``,
        a collector ``{"env": it}``."""
        if isinstance(value, Sources):
            return value
        if isinstance(value, OfflineDataset):
            return cls(data=DatasetSource(value))
        if isinstance(value, Source):
            return cls({"env" if value.kind == "collector" else "data": value})
        if isinstance(value, Mapping):
            return cls(value)
        raise TypeError(f"sources: expected a Sources mapping, an OfflineDataset or a source, got {type(value).__name__}")

    # ------------------------------------------------------------ mapping
    def __getitem__(self, name: str) -> Source:
        return self._sources[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __repr__(self) -> str:
        return "Sources(" + ", ".join(f"{name}={type(source).__name__}" for name, source in self.items()) + ")"

    # -------------------------------------------------------------- views
    @property
    def collector(self) -> Any | None:
        """The env collector, if the algorithm has one."""
        return self._sources[self._collector] if self._collector else None

    @property
    def collector_name(self) -> str | None:
        return self._collector

    @property
    def primary(self) -> Source:
        """The source networks are sized from: the collector, else ``"data"``, else the first."""
        if not self._sources:
            raise ValueError("no data source: pass a dataset (data=...) or an env (env=...)")
        if self._collector:
            return self._sources[self._collector]
        return self._sources.get("data") or next(iter(self._sources.values()))

    @property
    def spec(self) -> DataSpec:
        return self.primary.spec

    def dataset(self, name: str = "data", *, needed_by: str = "this algorithm") -> OfflineDataset:
        """The dataset of source ``name`` (a clear error when there is none)."""
        source = self._sources.get(name)
        if source is None or source.kind != "dataset":
            have = ", ".join(f"{n} ({s.kind})" for n, s in self.items()) or "none"
            raise ValueError(f"{needed_by} needs a dataset source {name!r} (--data); sources given: {have}")
        return source.dataset

    def has_dataset(self, name: str = "data") -> bool:
        return name in self._sources and self._sources[name].kind == "dataset"

    # -------------------------------------------------------- device, state
    def to(self, device: torch.device | str) -> "Sources":
        for source in self._sources.values():
            source.to(device)
        return self

    def state_dict(self) -> dict[str, dict[str, Any]]:
        return {name: state for name, source in self.items() if (state := source.state_dict())}

    def load_state_dict(self, state: Mapping[str, dict[str, Any]]) -> None:
        for name, source_state in state.items():
            if name in self._sources:
                self._sources[name].load_state_dict(source_state)


__all__ = ["DataSpec", "DatasetSource", "POLICY_METADATA_KEYS", "Source", "Sources", "dataset_spec"]
