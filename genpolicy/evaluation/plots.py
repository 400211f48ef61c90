"""Small matplotlib figures for reports: rollouts in the plane, sampled futures, score bars.

Figures are built with ``matplotlib.figure.Figure`` + the Agg canvas, never pyplot, so this
module neither needs a display nor changes the caller's backend. Every function takes either
an ``ax`` to draw into, or a ``path`` to save a PNG (or both); it returns the Figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

SUCCESS_COLOR, FAILURE_COLOR, NEUTRAL_COLOR = "tab:green", "tab:red", "tab:blue"

# How far (in the plane) one unit of action moves the agent per step, for plot_action_samples.
# two-paths: exact, the env moves the point by STEP * action. PointMaze: the action is a FORCE,
# so any scale is only a picture; 0.035 is the mean |displacement| / |action| per step of the
# scripted expert (measured over 5 episodes on both mazes), i.e. "action as velocity".
STEP_SCALES = {"two-paths": 0.1, "pointmaze-umaze": 0.035, "pointmaze-medium": 0.035}


def _task(task: Any) -> Any:
    if isinstance(task, str):
        from genpolicy.tasks import get_task

        return get_task(task)
    return task


def _figure(ax: Any, figsize: tuple[float, float]) -> tuple[Figure, Any]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, dpi=120)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path)
    return fig


def _flat_obs(obs: Any, layout: Mapping[str, Sequence[int]] | None = None) -> np.ndarray:
    if isinstance(obs, Mapping):
        keys = sorted(obs) if layout is None else sorted(layout, key=lambda k: layout[k][0])
        return np.concatenate([np.asarray(obs[k], dtype=np.float64).reshape(-1) for k in keys])
    return np.asarray(obs, dtype=np.float64).reshape(-1)


def plot_rollouts(
    task: Any,
    trajectories: Any,
    ax: Any = None,
    path: str | Path | None = None,
    successes: Sequence[bool] | None = None,
    mode_ids: Sequence[int] | None = None,
    color_by: str = "auto",
    title: str | None = None,
) -> Figure:
    """Draw the task's background and each episode's xy path (``task.xy_of``).

    ``trajectories``: a list of flat observation arrays ``[T, obs_dim]``, or an ``EvalResult``
    made with ``record_observations=True`` (its successes and mode ids are then used too).
    ``color_by``: ``"mode"`` (one colour per mode, grey = undetermined), ``"success"``
    (green/red) or ``"auto"`` (mode when mode ids exist, else success, else one colour).
    """
    task = _task(task)
    if hasattr(trajectories, "observations"):
        result = trajectories
        if result.observations is None:
            raise ValueError("this EvalResult holds no observations: evaluate(..., record_observations=True)")
        trajectories = result.observations
        successes = result.successes if successes is None else successes
        mode_ids = result.mode_ids if mode_ids is None else mode_ids
    if color_by == "auto":
        color_by = "mode" if mode_ids is not None else "success" if successes is not None else "none"

    fig, ax = _figure(ax, (4.5, 4.5))
    task.plot_background(ax)
    cmap = ["tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    legend: dict[str, str] = {}
    for k, traj in enumerate(trajectories):
        xy = np.asarray(task.xy_of(np.asarray(traj)))
        if color_by == "mode" and mode_ids is not None:
            mode = int(mode_ids[k])
            color = "0.55" if mode < 0 else cmap[mode % len(cmap)]
            label = "undetermined" if mode < 0 else f"mode {mode}"
        elif color_by == "success" and successes is not None:
            color = SUCCESS_COLOR if successes[k] else FAILURE_COLOR
            label = "success" if successes[k] else "failure"
        else:
            color, label = NEUTRAL_COLOR, "episode"
        legend.setdefault(label, color)
        ax.plot(xy[:, 0], xy[:, 1], color=color, lw=1.2, alpha=0.75)
        ax.plot(xy[0, 0], xy[0, 1], "o", color=color, ms=3)
        ax.plot(xy[-1, 0], xy[-1, 1], "x", color=color, ms=5)
    handles = [Line2D([], [], color=c, lw=2, label=f"{lab}") for lab, c in sorted(legend.items())]
    if handles:
        ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.8)
    ax.set_title(title or f"{task.name}: {len(trajectories)} episodes", fontsize=9)
    ax.tick_params(labelsize=7)
    return _finish(fig, path)


def plot_action_samples(
    task: Any,
    obs: Any,
    samples: Any,
    ax: Any = None,
    path: str | Path | None = None,
    step_scale: float | None = None,
    layout: Mapping[str, Sequence[int]] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw many sampled futures from one observation over the task's background.

    ``samples``: ``[N, Tp, act_dim]`` action chunks (e.g. ``policy.sample(obs[None], N)[0]``),
    in raw units; their first two dims are read as a planar velocity and integrated:
    ``xy_t = xy_0 + step_scale * cumsum(a[:t, :2])``. ``step_scale`` defaults to
    ``STEP_SCALES[task.name]`` (exact for two-paths; a picture, not dynamics, for PointMaze,
    where the action is a force). ``obs``: one raw observation, flat or dict (flattened by
    ``layout``, default sorted keys), mapped to the start point by ``task.xy_of``.
    """
    task = _task(task)
    chunks = samples.detach().cpu().numpy() if hasattr(samples, "detach") else np.asarray(samples)
    chunks = chunks.reshape(-1, *chunks.shape[-2:]).astype(np.float64)  # [N, Tp, A]
    if chunks.shape[-1] < 2:
        raise ValueError(f"plot_action_samples needs planar actions (act_dim >= 2), got act_dim={chunks.shape[-1]}")
    if step_scale is None:
        step_scale = getattr(task, "action_step_scale", None) or STEP_SCALES.get(task.name)
        if step_scale is None:
            raise ValueError(f"no step scale known for task {task.name!r}; pass step_scale=")
    start = np.asarray(task.xy_of(_flat_obs(obs, layout)), dtype=np.float64).reshape(2)
    futures = start + step_scale * np.cumsum(chunks[..., :2], axis=1)
    futures = np.concatenate([np.broadcast_to(start, (len(futures), 1, 2)), futures], axis=1)

    fig, ax = _figure(ax, (4.5, 4.5))
    task.plot_background(ax)
    alpha = float(np.clip(8.0 / np.sqrt(len(futures)), 0.08, 0.8))
    for future in futures:
        ax.plot(future[:, 0], future[:, 1], color="tab:blue", lw=1.0, alpha=alpha)
    ax.scatter(futures[:, -1, 0], futures[:, -1, 1], s=6, color="tab:blue", alpha=min(1.0, 2 * alpha), zorder=3)
    ax.plot(*start, marker="*", color="tab:red", ms=11, mec="k", mew=0.5, zorder=4, ls="none")
    ax.set_title(
        title or f"{task.name}: {len(futures)} sampled chunks of {chunks.shape[1]} steps", fontsize=9
    )
    ax.tick_params(labelsize=7)
    return _finish(fig, path)


def _bar_value(value: Any, metric: str) -> tuple[float, float]:
    """(height, error) of one bar from an EvalResult, a number or a (mean, std) pair."""
    if hasattr(value, "returns"):
        if metric == "normalized_score":
            scores = value.normalized_scores
            if scores is None:
                raise ValueError(f"{value.name}: no reference scores, cannot plot normalized_score")
            return float(np.mean(scores)), float(np.std(scores))
        if metric == "success_rate":
            if value.success_rate is None:
                raise ValueError(f"{value.name}: reports no success")
            return 100 * value.success_rate, 0.0
        if metric == "mean_return":
            return value.mean_return, value.std_return
        if metric == "mode_entropy":
            return float(value.mode_entropy if value.mode_entropy is not None else np.nan), 0.0
        raise ValueError(f"unknown metric {metric!r}")
    if isinstance(value, (tuple, list)):
        return float(value[0]), float(value[1])
    return float(value), 0.0


def plot_score_bars(
    results: Mapping[str, Any],
    metric: str = "normalized_score",
    ax: Any = None,
    path: str | Path | None = None,
    title: str | None = None,
) -> Figure:
    """One bar per named run (± std over episodes), value printed on top.

    ``results``: name -> ``EvalResult`` (``metric`` in ``normalized_score``, ``success_rate``
    (%), ``mean_return``, ``mode_entropy``), or name -> number, or name -> (mean, std).
    """
    names = list(results)
    values = [_bar_value(results[name], metric) for name in names]
    heights = np.array([v[0] for v in values])
    errors = np.array([v[1] for v in values])
    fig, ax = _figure(ax, (max(3.0, 0.9 * len(names) + 1.5), 3.2))
    x = np.arange(len(names))
    bars = ax.bar(x, heights, yerr=errors if errors.any() else None, capsize=3, color="tab:blue", alpha=0.8)
    for bar, height, error in zip(bars, heights, errors):
        if np.isfinite(height):
            tip = height + error if height >= 0 else height - error  # above the error bar
            ax.annotate(f"{height:.1f}" if abs(height) >= 10 else f"{height:.2f}",
                        (bar.get_x() + bar.get_width() / 2, tip), ha="center",
                        va="bottom" if height >= 0 else "top", fontsize=7, xytext=(0, 2 if height >= 0 else -3),
                        textcoords="offset points")
    ax.set_xticks(x, names, rotation=20 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center", fontsize=8)
    ax.axhline(0, color="k", lw=0.6)
    ax.margins(y=0.12)
    if metric == "normalized_score":
        ax.axhline(100, color="0.5", lw=0.6, ls="--")
    label = {"normalized_score": "normalized score", "success_rate": "success rate (%)",
             "mean_return": "return", "mode_entropy": "mode entropy"}.get(metric, metric)
    ax.set_ylabel(label, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return _finish(fig, path)
