"""Measuring skills the way skill discovery should be measured: fresh rollouts, not replay batches.

A discriminator's accuracy on replay batches can be maxed out by skills that stand still in K
distinct places early on, and says nothing about whether the exported policy produces the
skill it is asked for. Here every skill ``k`` is rolled out afresh with deterministic actions
(`SkillPolicy.use_skill(k)`), and from those trajectories:

* ``accuracy``: the fraction of visited states (after the start, which all skills share) that
  the policy's own discriminator assigns to the commanded skill (chance: 1 / K);
* ``coverage``: the fraction of the cells of a ``grid x grid`` grid over the x-y box that some
  rollout visits (the LSD / METRA measure of exploration);
* ``final_distance``: per skill, the mean distance of the last x-y position from the first,
  in box widths (a skill below ~0.2 barely leaves the start: a "static" skill);
* ``near_data_fraction`` (skills learned from a dataset): the fraction of rollout states within
  a radius of some dataset state, the radius scaled to the data's own one-step movement, so
  "close" means "a step or two away from something the data did", whatever the units.

The x-y plane is the task's (``Task.xy_of``; the first two observation entries otherwise) and
the box is the env's observation bounds on those entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genpolicy.evaluation.envs import resolve_env
from genpolicy.evaluation.evaluator import evaluate


@dataclass
class SkillReport:
    """Fresh-rollout measures of K skills (see the module doc)."""

    num_skills: int
    accuracy: float | None
    coverage: float
    final_distance: np.ndarray  # [K] mean over a skill's episodes, in box widths
    per_skill_accuracy: np.ndarray | None  # [K]
    final_xy: np.ndarray  # [K, 2] mean final position
    trajectories: list[list[np.ndarray]] = field(repr=False, default_factory=list)  # [K][episodes] -> [T+1, obs_dim]

    def metrics(self, prefix: str = "skills/") -> dict[str, float]:
        out = {f"{prefix}coverage": self.coverage, f"{prefix}min_final_distance": float(self.final_distance.min()),
               f"{prefix}mean_final_distance": float(self.final_distance.mean())}
        if self.accuracy is not None:
            out[f"{prefix}accuracy"] = self.accuracy
        return out

    def table(self) -> str:
        lines = [f"{'skill':>5s} {'accuracy':>8s} {'final x':>8s} {'final y':>8s} {'distance':>8s}"]
        for k in range(self.num_skills):
            acc = f"{self.per_skill_accuracy[k]:8.2f}" if self.per_skill_accuracy is not None else f"{'-':>8s}"
            lines.append(f"{k:5d} {acc} {self.final_xy[k, 0]:8.2f} {self.final_xy[k, 1]:8.2f} {self.final_distance[k]:8.2f}")
        summary = f"coverage {self.coverage:.2f}, min final distance {self.final_distance.min():.2f} box widths"
        if self.accuracy is not None:
            summary = f"fresh-rollout accuracy {self.accuracy:.3f} (chance {1 / self.num_skills:.3f}), " + summary
        return "\n".join([*lines, summary])


def plane_of(target: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(xy_of, low, high)``: the x-y map of an env target and its box (observation bounds)."""
    task = target.task
    xy_of = getattr(task, "xy_of", None)
    try:
        if xy_of is not None:
            xy_of(np.zeros((1, 2)))
    except NotImplementedError:
        xy_of = None
    if xy_of is None:
        xy_of = lambda obs: np.asarray(obs)[..., :2]  # noqa: E731
    env = target.make_env()
    try:
        space = env.observation_space
        low, high = np.asarray(space.low, np.float64)[:2], np.asarray(space.high, np.float64)[:2]
    finally:
        env.close()
    return xy_of, low, high


def coverage(points: np.ndarray, low: np.ndarray, high: np.ndarray, grid: int = 10) -> float:
    """Fraction of the ``grid x grid`` cells of the box ``[low, high]`` that hold a point ``[N, 2]``."""
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        low, high = points.min(0), points.max(0) + 1e-9  # unbounded plane: the visited box
    cells = np.floor((points - low) / (high - low) * grid).astype(np.int64).clip(0, grid - 1)
    return len({(int(a), int(b)) for a, b in cells}) / grid**2


def typical_step(data_states: np.ndarray, next_states: np.ndarray | None = None) -> float:
    """The median one-step movement ``||s' - s||`` in the data (consecutive rows when
    ``next_states`` is None), the yardstick of `near_data_fraction`."""
    data_states = np.asarray(data_states, np.float64)
    moves = (np.asarray(next_states, np.float64) - data_states) if next_states is not None else np.diff(data_states, axis=0)
    step = float(np.median(np.linalg.norm(moves, axis=-1)))
    return step if step > 0 else 1e-6


def near_data_fraction(states: np.ndarray, data_states: np.ndarray, radius: float | None = None,
                       data_next_states: np.ndarray | None = None, chunk: int = 4096) -> float:
    """Fraction of ``states`` ``[N, d]`` within ``radius`` (Euclidean) of some row of
    ``data_states`` ``[M, d]``. Default radius: twice the data's median one-step movement
    (`typical_step`; pass ``data_next_states`` for transition data whose rows are not
    consecutive). Exact nearest neighbours, in chunks (no index structure: M is a dataset of
    at most a few 10^5 low-dimensional states here)."""
    states = np.asarray(states, np.float64).reshape(len(states), -1)
    data = np.asarray(data_states, np.float64).reshape(len(data_states), -1)
    if states.shape[1] != data.shape[1]:
        raise ValueError(f"states have {states.shape[1]} dims, the data {data.shape[1]}")
    if radius is None:
        radius = 2.0 * typical_step(data, data_next_states)
    data_sq = (data**2).sum(1)
    near = 0
    for start in range(0, len(states), chunk):
        block = states[start:start + chunk]
        sq = (block**2).sum(1)[:, None] - 2.0 * block @ data.T + data_sq[None]  # squared distances
        near += int((sq.min(1) <= radius**2 + 1e-12).sum())
    return near / max(len(states), 1)


def skill_rollouts(policy: Any, env: Any = None, episodes: int = 1, seed: int = 0,
                   max_episode_steps: int | None = None) -> list[list[np.ndarray]]:
    """``[K][episodes]`` flat observation trajectories of each skill, deterministic actions."""
    pinned = policy.skill
    try:
        out = []
        for k in range(policy.config.num_skills):
            result = evaluate(policy.use_skill(k), env, episodes=episodes, seed=seed, num_envs=min(episodes, 8),
                              record_observations=True, max_episode_steps=max_episode_steps)
            out.append(result.observations)
        return out
    finally:
        policy.use_skill(pinned)


def skill_report(policy: Any, env: Any = None, episodes: int = 1, seed: int = 0, grid: int = 10,
                 max_episode_steps: int | None = None) -> SkillReport:
    """Roll out every skill of ``policy`` afresh and measure them (see the module doc)."""
    target = resolve_env(env, policy)
    xy_of, low, high = plane_of(target)
    width = float(np.max(high - low)) if np.isfinite(high - low).all() else 1.0
    trajectories = skill_rollouts(policy, env, episodes, seed, max_episode_steps)
    num_skills = len(trajectories)
    discriminator = getattr(policy, "discriminator", None)
    per_skill_acc = np.zeros(num_skills) if discriminator is not None else None
    correct = total = 0
    finals, distances, points = np.zeros((num_skills, 2)), np.zeros(num_skills), []
    for k, episodes_k in enumerate(trajectories):
        xys = [np.asarray(xy_of(traj), dtype=np.float64) for traj in episodes_k]
        points.extend(xys)
        finals[k] = np.mean([xy[-1] for xy in xys], axis=0)
        distances[k] = np.mean([np.linalg.norm(xy[-1] - xy[0]) for xy in xys]) / width
        if discriminator is not None:
            states = np.concatenate([traj[1:] for traj in episodes_k])
            hits = int((discriminator.classify(states) == k).sum())
            per_skill_acc[k] = hits / len(states)
            correct, total = correct + hits, total + len(states)
    return SkillReport(num_skills, correct / total if total else None, coverage(np.concatenate(points), low, high, grid),
                       distances, per_skill_acc, finals, trajectories)


def plot_skills(report: SkillReport, env: Any, path: str, title: str = "") -> str:
    """Every skill's trajectories in the x-y plane, one colour per skill, on the task's background."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = resolve_env(env, wrappers=[]) if env is not None else None
    xy_of, _, _ = plane_of(target) if target is not None else (lambda o: np.asarray(o)[..., :2], None, None)
    fig, ax = plt.subplots(figsize=(5, 5))
    background = getattr(getattr(target, "task", None), "plot_background", None)
    if background is not None:
        try:
            background(ax)
        except NotImplementedError:
            pass
    colours = plt.get_cmap("tab20" if report.num_skills > 10 else "tab10")
    for k, episodes in enumerate(report.trajectories):
        for i, traj in enumerate(episodes):
            xy = np.asarray(xy_of(traj))
            ax.plot(xy[:, 0], xy[:, 1], color=colours(k % colours.N), lw=1.2, alpha=0.8, label=str(k) if i == 0 else None)
            ax.plot(xy[-1, 0], xy[-1, 1], "o", color=colours(k % colours.N), ms=3)
    summary = f"coverage {report.coverage:.2f}"
    if report.accuracy is not None:
        summary = f"accuracy {report.accuracy:.2f}, " + summary
    ax.set_title(f"{title}\n{summary}" if title else summary, fontsize=9)
    if report.num_skills <= 20:
        ax.legend(fontsize=6, ncol=2, loc="upper right", title="skill", title_fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


__all__ = ["SkillReport", "coverage", "near_data_fraction", "plot_skills", "skill_report", "skill_rollouts", "typical_step"]
