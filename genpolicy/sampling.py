"""`genpolicy sample`: many plausible futures for one observation, drawn as a picture.

Left panel: ``num`` action chunks sampled for one observation (integrated in the task's
plane for 2-D tasks, or as action-vs-time curves otherwise). Right panel: rollouts of the
policy from nearby starts, coloured by the mode they took (or by success).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from genpolicy.models.base import Policy, flatten_observation, load_policy


def start_observation(task: Any, seed: int, layout: dict | None) -> np.ndarray:
    """The task's reset observation for ``seed``, flattened like the policy's inputs."""
    env = task.make_env()
    try:
        obs, _ = env.reset(seed=seed)
    finally:
        env.close()
    if isinstance(obs, dict):
        return flatten_observation(obs, layout)
    return np.asarray(obs, dtype=np.float32)


def draw_samples(policy: Policy, obs: np.ndarray, num: int, seed: int) -> torch.Tensor:
    """``[num, Tp, act_dim]`` sampled chunks for one raw observation, seeded like an evaluation
    (the caller's torch RNG stream is left as it was)."""
    from genpolicy.evaluation.seeding import seeded_torch_rng

    with seeded_torch_rng(seed, policy.device):
        return torch.as_tensor(policy.sample(obs[None], num)[0])


def _plot_chunks_over_time(ax: Any, samples: np.ndarray) -> None:
    steps = np.arange(samples.shape[1])
    for dim in range(samples.shape[2]):
        for chunk in samples[:, :, dim]:
            ax.plot(steps, chunk, color=f"C{dim}", alpha=0.25, lw=1)
    ax.set_xlabel("step in chunk", fontsize=8)
    ax.set_ylabel("action", fontsize=8)
    ax.set_title(f"{len(samples)} sampled action chunks", fontsize=9)


def sample_figure(
    policy_dir: str | Path,
    out: str | Path,
    num: int = 64,
    task: str | None = None,
    obs: str | None = None,
    seed: int = 0,
    rollouts: int = 16,
) -> Path:
    from genpolicy.evaluation import evaluate
    from genpolicy.evaluation.plots import plot_action_samples, plot_rollouts
    from genpolicy.tasks import get_task

    policy = load_policy(policy_dir)
    task_name = task or policy.config.metadata.get("task")
    task_obj = get_task(task_name) if task_name else None
    if obs is not None:
        try:
            observation = np.array([float(v) for v in obs.split(",")], dtype=np.float32)
        except ValueError:
            raise ValueError(f"--obs expects comma-separated numbers, got {obs!r}") from None
    elif task_obj is not None:
        observation = start_observation(task_obj, seed, policy.config.obs_layout)
    else:
        raise ValueError("the policy names no task: pass --task or --obs")
    samples = draw_samples(policy, observation, num, seed).cpu().numpy()

    planar = task_obj is not None and samples.shape[-1] >= 2 and task_obj.name != "pendulum"
    panels = 2 if (rollouts > 0 and task_obj is not None and planar) else 1
    fig = Figure(figsize=(4.6 * panels, 4.6))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, panels, i + 1) for i in range(panels)]
    if planar:
        plot_action_samples(task_obj, observation, samples, ax=axes[0], layout=policy.config.obs_layout)
    else:
        _plot_chunks_over_time(axes[0], samples)
    if panels == 2:
        result = evaluate(policy, task_obj, episodes=rollouts, seed=seed, record_observations=True)
        rate = "" if result.success_rate is None else f", success {100 * result.success_rate:.0f}%"
        plot_rollouts(task_obj, result, ax=axes[1], title=f"{rollouts} rollouts{rate}")
    fig.suptitle(f"{policy.name} policy", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out
