"""Which behaviour modes a set of rollouts covers, and how evenly.

A task labels each episode with a mode id in ``[0, num_modes)`` or ``-1`` when the
episode did not commit to any mode (e.g. it never left the start). Fractions are taken over
the *determined* episodes; the undetermined share is reported on its own, so a policy that
stalls is not mistaken for one that is unimodal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

UNDETERMINED = -1


def mode_counts(mode_ids: Any, num_modes: int) -> np.ndarray:
    """``[num_modes]`` int counts of each mode id; ``-1`` entries are not counted."""
    ids = np.asarray(mode_ids, dtype=np.int64).reshape(-1)
    if num_modes < 1:
        raise ValueError(f"num_modes must be >= 1, got {num_modes}")
    bad = (ids < UNDETERMINED) | (ids >= num_modes)
    if bad.any():
        raise ValueError(f"mode ids must lie in [-1, {num_modes}), got {sorted(set(ids[bad].tolist()))}")
    return np.bincount(ids[ids >= 0], minlength=num_modes)


def mode_fractions(mode_ids: Any, num_modes: int) -> tuple[np.ndarray, float]:
    """``(fractions [num_modes], undetermined_fraction)``.

    ``fractions`` sum to 1 over the episodes whose mode is known (all zeros if none is);
    ``undetermined_fraction`` is the share of *all* episodes labelled ``-1``.
    """
    ids = np.asarray(mode_ids, dtype=np.int64).reshape(-1)
    counts = mode_counts(ids, num_modes)
    determined = int(counts.sum())
    fractions = counts / determined if determined else np.zeros(num_modes)
    undetermined = (ids.size - determined) / ids.size if ids.size else 0.0
    return fractions.astype(np.float64), float(undetermined)


def normalized_entropy(fractions: Any) -> float:
    """``H(p) / log K`` with ``K = len(fractions)`` (natural log, ``0 log 0 = 0``).

    1.0 for the uniform distribution, 0.0 when all mass is on one mode (and for K = 1);
    NaN when ``fractions`` is all zeros (no episode had a known mode).
    """
    p = np.asarray(fractions, dtype=np.float64).reshape(-1)
    if (p < 0).any():
        raise ValueError("fractions must be non-negative")
    total = p.sum()
    if total == 0:
        return math.nan
    p = p / total
    if p.size <= 1:
        return 0.0
    nz = p[p > 0]
    entropy = float(-(nz * np.log(nz)).sum())
    return min(max(entropy / math.log(p.size), 0.0), 1.0)


@dataclass
class ModeStats:
    counts: np.ndarray
    fractions: np.ndarray
    undetermined_fraction: float
    entropy: float  # normalized, see normalized_entropy

    @classmethod
    def from_ids(cls, mode_ids: Any, num_modes: int) -> "ModeStats":
        fractions, undetermined = mode_fractions(mode_ids, num_modes)
        return cls(mode_counts(mode_ids, num_modes), fractions, undetermined, normalized_entropy(fractions))

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts.tolist(),
            "fractions": self.fractions.tolist(),
            "undetermined_fraction": self.undetermined_fraction,
            "entropy": None if math.isnan(self.entropy) else self.entropy,
        }
