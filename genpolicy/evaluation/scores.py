"""Normalized score (D4RL convention) and a last/best tracker across evaluations.

``normalized = 100 * (R - ref_min) / (ref_max - ref_min)``: 0 is the reference random
policy, 100 the reference expert. The design asks to report the *last* and the *best*
evaluation separately (best-of-N over training is optimistic; last is the honest number).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def normalized_score(returns: Any, ref_min: float, ref_max: float) -> Any:
    """``100 * (R - ref_min) / (ref_max - ref_min)``, element-wise for arrays, float for scalars."""
    if ref_max == ref_min:
        raise ValueError(f"reference scores must differ, got ref_min = ref_max = {ref_min}")
    scaled = 100.0 * (np.asarray(returns, dtype=np.float64) - ref_min) / (ref_max - ref_min)
    return float(scaled) if scaled.ndim == 0 else scaled


@dataclass
class ScoreTracker:
    """Remembers every evaluation's score; ``last`` and ``best`` (max) are reported apart.

    >>> t = ScoreTracker(); t.update(10.0, step=1); t.update(30.0, step=2); t.update(20.0, step=3)
    >>> t.last, t.best, t.best_step
    (20.0, 30.0, 2)
    """

    history: list[tuple[int | None, float]] = field(default_factory=list)

    def update(self, score: float, step: int | None = None) -> None:
        score = float(score)
        if math.isnan(score):
            raise ValueError("score is NaN")
        self.history.append((step, score))

    @property
    def last(self) -> float | None:
        return self.history[-1][1] if self.history else None

    @property
    def best(self) -> float | None:
        return max(score for _, score in self.history) if self.history else None

    @property
    def best_step(self) -> int | None:
        if not self.history:
            return None
        # first occurrence of the maximum
        return max(self.history, key=lambda item: item[1])[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "last": self.last,
            "best": self.best,
            "best_step": self.best_step,
            "num_evaluations": len(self.history),
            "history": [{"step": step, "score": score} for step, score in self.history],
        }
