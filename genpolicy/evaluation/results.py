"""What an evaluation found: per-episode outcomes, their summaries, and tables of them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genpolicy.evaluation.multimodality import ModeStats
from genpolicy.evaluation.scores import normalized_score as _normalized_score


def jsonable(value: Any) -> Any:
    """numpy scalars/arrays -> Python, NaN -> None, recursively (for ``json.dumps``)."""
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@dataclass
class EvalResult:
    """Per-episode outcomes of one ``evaluate`` call (episode ``k`` was seeded ``seed + k``)."""

    name: str
    env_id: str
    seed: int
    returns: np.ndarray  # [E] float64
    lengths: np.ndarray  # [E] int64
    successes: np.ndarray | None = None  # [E] bool, None when the env reports no success
    ref_min_score: float | None = None
    ref_max_score: float | None = None
    mode_ids: np.ndarray | None = None  # [E] int, -1 = undetermined; None when no modes
    num_modes: int = 0
    observations: list[np.ndarray] | None = field(default=None, repr=False)  # E x [T_k+1, obs_dim]
    video: str | None = None
    wall_time: float = 0.0
    modes: ModeStats | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.mode_ids is not None and self.num_modes > 0:
            self.modes = ModeStats.from_ids(self.mode_ids, self.num_modes)

    # ---------------------------------------------------------- summaries
    @property
    def episodes(self) -> int:
        return int(self.returns.size)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        """Population std (ddof=0) over episodes."""
        return float(np.std(self.returns))

    @property
    def mean_length(self) -> float:
        return float(np.mean(self.lengths))

    @property
    def normalized_scores(self) -> np.ndarray | None:
        """Per-episode ``100 (R - ref_min) / (ref_max - ref_min)``; None without references."""
        if self.ref_min_score is None or self.ref_max_score is None:
            return None
        return _normalized_score(self.returns, self.ref_min_score, self.ref_max_score)

    @property
    def normalized_score(self) -> float | None:
        """Normalized mean return (= mean of the per-episode normalized scores)."""
        scores = self.normalized_scores
        return None if scores is None else float(np.mean(scores))

    @property
    def success_rate(self) -> float | None:
        return None if self.successes is None else float(np.mean(self.successes))

    @property
    def mode_fractions(self) -> np.ndarray | None:
        return None if self.modes is None else self.modes.fractions

    @property
    def mode_entropy(self) -> float | None:
        return None if self.modes is None else self.modes.entropy

    @property
    def mode_returns(self) -> np.ndarray | None:
        """Mean return of the episodes that took each mode (NaN for a mode never taken): where
        the ways pay differently, this says which way a policy's choice is worth."""
        if self.modes is None or self.mode_ids is None:
            return None
        return np.array([
            float(np.mean(self.returns[self.mode_ids == m])) if (self.mode_ids == m).any() else math.nan
            for m in range(self.num_modes)
        ])

    @property
    def env_steps_per_second(self) -> float:
        return float(self.lengths.sum() / self.wall_time) if self.wall_time > 0 else math.nan

    # ---------------------------------------------------------- output
    def to_dict(self, per_episode: bool = True) -> dict[str, Any]:
        """JSON-ready summary (NaN -> None); trajectories are never included."""
        out: dict[str, Any] = {
            "name": self.name,
            "env_id": self.env_id,
            "seed": self.seed,
            "episodes": self.episodes,
            "mean_return": self.mean_return,
            "std_return": self.std_return,
            "mean_length": self.mean_length,
            "normalized_score": self.normalized_score,
            "success_rate": self.success_rate,
            "ref_min_score": self.ref_min_score,
            "ref_max_score": self.ref_max_score,
            "modes": None if self.modes is None else {**self.modes.to_dict(), "mean_returns": self.mode_returns},
            "video": self.video,
            "wall_time": self.wall_time,
            "env_steps_per_second": self.env_steps_per_second,
        }
        if per_episode:
            out["returns"] = self.returns
            out["lengths"] = self.lengths
            out["normalized_scores"] = self.normalized_scores
            out["successes"] = self.successes
            out["mode_ids"] = self.mode_ids
        return jsonable(out)

    def table(self) -> str:
        """A few aligned lines for a terminal or a log."""
        rows = [
            ("episodes", f"{self.episodes} (seeds {self.seed}..{self.seed + self.episodes - 1})"),
            ("return", f"{self.mean_return:.2f} ± {self.std_return:.2f}"),
            ("length", f"{self.mean_length:.1f}"),
        ]
        if self.normalized_score is not None:
            rows.append(("normalized score", f"{self.normalized_score:.1f}"))
        if self.success_rate is not None:
            rows.append(("success rate", f"{100 * self.success_rate:.1f}%"))
        if self.modes is not None:
            fractions = ", ".join(f"{f:.2f}" for f in self.modes.fractions)
            rows.append(("mode fractions", f"[{fractions}] undetermined {100 * self.modes.undetermined_fraction:.0f}%"))
            rows.append(("mode entropy", f"{abs(self.modes.entropy):.3f} (normalized)"))
            by_mode = ", ".join("—" if math.isnan(r) else f"{r:.2f}" for r in self.mode_returns)
            rows.append(("return by mode", f"[{by_mode}]"))
        if self.video:
            rows.append(("video", self.video))
        width = max(len(key) for key, _ in rows)
        title = self.name if self.name == self.env_id else f"{self.name} ({self.env_id})"
        return "\n".join([title] + [f"  {key:<{width}}  {value}" for key, value in rows])


def results_table(results: Mapping[str, EvalResult]) -> str:
    """Markdown table, one row per named result (policy, algorithm, checkpoint...). ``modes``
    is the fraction of episodes that ended in each mode (e.g. left / right of an obstacle)."""
    header = "| run | env | episodes | return | normalized | success | modes | mode entropy |"
    lines = [header, "|" + "---|" * 8]
    for run, r in results.items():
        norm = "—" if r.normalized_score is None else f"{r.normalized_score:.1f}"
        succ = "—" if r.success_rate is None else f"{100 * r.success_rate:.0f}%"
        modes = "—" if r.modes is None else " / ".join(f"{f:.2f}" for f in r.modes.fractions)
        ent = "—" if r.mode_entropy is None or math.isnan(r.mode_entropy) else f"{abs(r.mode_entropy):.2f}"
        lines.append(
            f"| {run} | {r.name} | {r.episodes} | {r.mean_return:.1f} ± {r.std_return:.1f} | {norm} | {succ} | {modes} | {ent} |"
        )
    return "\n".join(lines)
