"""`OfflineDataset`: the one in-memory form every loader produces and every trainer reads.

Transitions are stored flat (one row per step, episodes back to back) as torch tensors so
that a trainer can move the whole dataset to its device once and sample batches by index.
Episode boundaries are explicit: a transition ends its episode when it is terminal or
truncated, and the last transition of the dataset always ends one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch

from genpolicy.datasets.errors import DatasetError

FIELDS = ("observations", "actions", "rewards", "terminations", "truncations", "next_observations")


@dataclass
class OfflineDataset:
    """Flat transitions plus episode boundaries.

    Shapes (N transitions): observations/next_observations ``[N, obs_dim]`` float32,
    actions ``[N, act_dim]`` float32, rewards ``[N]`` float32, terminations/truncations
    ``[N]`` bool. ``metadata`` carries ``env_id``, ``ref_min_score``, ``ref_max_score``,
    ``source`` and, for flattened dict observations, ``obs_layout`` (key -> [start, stop]).
    """

    observations: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    terminations: torch.Tensor
    truncations: torch.Tensor
    next_observations: torch.Tensor
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.observations = _as_tensor(self.observations, torch.float32)
        self.next_observations = _as_tensor(self.next_observations, torch.float32)
        self.actions = _as_tensor(self.actions, torch.float32)
        self.rewards = _as_tensor(self.rewards, torch.float32).reshape(-1)
        self.terminations = _as_tensor(self.terminations, torch.bool).reshape(-1)
        self.truncations = _as_tensor(self.truncations, torch.bool).reshape(-1)
        if self.actions.ndim == 1:
            self.actions = self.actions[:, None]
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise `DatasetError` naming the field and index of the first violation."""
        source = self.metadata.get("source", "<memory>")
        n = self.observations.shape[0]
        if n == 0:
            raise DatasetError(source, "observations", None, "dataset is empty")
        for name in FIELDS:
            value = getattr(self, name)
            if value.shape[0] != n:
                raise DatasetError(
                    source, name, None, f"has {value.shape[0]} rows but observations has {n}"
                )
        if self.observations.ndim != 2 or self.next_observations.shape != self.observations.shape:
            raise DatasetError(
                source,
                "next_observations",
                None,
                f"shape {tuple(self.next_observations.shape)} does not match observations "
                f"{tuple(self.observations.shape)} (expected [N, obs_dim])",
            )
        if self.actions.ndim != 2:
            raise DatasetError(source, "actions", None, f"expected [N, act_dim], got {tuple(self.actions.shape)}")
        for name in ("observations", "next_observations", "actions", "rewards"):
            value = getattr(self, name)
            if _all_finite(value):  # one fast reduction; locate the index only on failure
                continue
            bad = ~torch.isfinite(value)
            if bad.any():
                index = int(bad.reshape(n, -1).any(dim=1).nonzero()[0, 0])
                raise DatasetError(source, name, index, "is not finite (NaN or inf)")
        if not bool(self.terminations[-1] | self.truncations[-1]):
            # An unfinished final episode is still usable: it simply stops here.
            self.truncations = self.truncations.clone()
            self.truncations[-1] = True

    # --------------------------------------------------------------- structure
    @property
    def obs_dim(self) -> int:
        return int(self.observations.shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.actions.shape[1])

    @property
    def device(self) -> torch.device:
        return self.observations.device

    def __len__(self) -> int:
        return int(self.observations.shape[0])

    @property
    def episode_ends(self) -> torch.Tensor:
        """Bool ``[N]``: True where a transition is the last of its episode."""
        return self.terminations | self.truncations

    @property
    def episode_starts(self) -> torch.Tensor:
        """Bool ``[N]``: True where a transition is the first of its episode."""
        starts = torch.zeros_like(self.terminations)
        starts[0] = True
        starts[1:] = self.episode_ends[:-1]
        return starts

    def episode_bounds(self) -> torch.Tensor:
        """Long ``[E, 2]``: ``[start, stop)`` of every episode, in order."""
        ends = torch.nonzero(self.episode_ends).reshape(-1) + 1
        starts = torch.cat([ends.new_zeros(1), ends[:-1]])
        return torch.stack([starts, ends], dim=1)

    def episode_index(self) -> torch.Tensor:
        """Long ``[N]``: which episode each transition belongs to."""
        return torch.cumsum(self.episode_starts.long(), 0) - 1

    @property
    def num_episodes(self) -> int:
        return int(self.episode_ends.sum())

    def episodes(self) -> Iterator[dict[str, torch.Tensor]]:
        """Yield each episode as a dict of tensor slices (views, no copies)."""
        for start, stop in self.episode_bounds().tolist():
            yield {name: getattr(self, name)[start:stop] for name in FIELDS}

    def episode_returns(self) -> torch.Tensor:
        """Float ``[E]``: undiscounted return of every episode."""
        index = self.episode_index()
        returns = torch.zeros(self.num_episodes, dtype=self.rewards.dtype, device=self.device)
        return returns.index_add_(0, index, self.rewards)

    # ----------------------------------------------------------------- moving
    def to(self, device: torch.device | str) -> "OfflineDataset":
        moved = {name: getattr(self, name).to(device) for name in FIELDS}
        return OfflineDataset(**moved, metadata=dict(self.metadata))

    def select_episodes(self, episode_ids: torch.Tensor | list[int]) -> "OfflineDataset":
        """A new dataset holding only the given episodes (in the given order)."""
        bounds = self.episode_bounds()[torch.as_tensor(episode_ids, dtype=torch.long)]
        rows = torch.cat([torch.arange(int(a), int(b)) for a, b in bounds.tolist()])
        rows = rows.to(self.device)
        picked = {name: getattr(self, name)[rows] for name in FIELDS}
        return OfflineDataset(**picked, metadata=dict(self.metadata))

    @classmethod
    def concatenate(cls, datasets: "list[OfflineDataset]", metadata: dict[str, Any] | None = None) -> "OfflineDataset":
        """Episodes of several datasets back to back (e.g. expert + noisy data, the way D4RL's
        medium-expert mixes two sources). ``metadata`` defaults to the first dataset's, with
        ``source`` listing all sources; observation and action sizes must agree."""
        if not datasets:
            raise ValueError("concatenate needs at least one dataset")
        first = datasets[0]
        for i, other in enumerate(datasets[1:], start=1):
            if (other.obs_dim, other.act_dim) != (first.obs_dim, first.act_dim):
                raise DatasetError(
                    other.metadata.get("source", f"<dataset {i}>"), "observations", None,
                    f"obs/act dims {(other.obs_dim, other.act_dim)} differ from the first dataset's "
                    f"{(first.obs_dim, first.act_dim)}",
                )
        joined = {name: torch.cat([getattr(d, name).to(first.device) for d in datasets]) for name in FIELDS}
        if metadata is None:
            metadata = dict(first.metadata)
            metadata["source"] = " + ".join(str(d.metadata.get("source", "<memory>")) for d in datasets)
        return cls(**joined, metadata=metadata)

    def summary(self) -> str:
        returns = self.episode_returns()
        return (
            f"{len(self)} transitions, {self.num_episodes} episodes, obs_dim={self.obs_dim}, "
            f"act_dim={self.act_dim}, return {returns.mean():.1f} ± {returns.std(unbiased=False):.1f}"
        )


def _all_finite(value: torch.Tensor) -> bool:
    """True if every element is finite, in one reduction pass (no mask allocated).

    A NaN or inf makes the sum non-finite; a non-finite sum of finite values (overflow)
    falls back to the exact elementwise check.
    """
    if value.device.type == "cpu":
        if value.dtype in (torch.float32, torch.float64):
            with np.errstate(over="ignore", invalid="ignore"):
                total = value.detach().numpy().sum()
            if np.isfinite(total):
                return True
    else:
        lo, hi = torch.aminmax(value)
        return bool(torch.isfinite(lo) & torch.isfinite(hi))
    return bool(torch.isfinite(value).all())


def _as_tensor(value: Any, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(dtype)
    return torch.as_tensor(np.asarray(value), dtype=dtype)
