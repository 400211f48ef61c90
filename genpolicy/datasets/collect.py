"""Roll a task's scripted expert into a Minari dataset, all or nothing.

Every episode is collected in memory first; only then is the dataset written, and the writer
(`write_minari_dataset`) builds it in a temporary folder and renames it into place. So a crash or
Ctrl-C at any point leaves nothing at ``out`` that looks like a whole dataset.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from genpolicy.datasets.minari_io import write_minari_dataset
from genpolicy.tasks import Task, get_task, rollout


def collect(
    task: str | Task, episodes: int, out: str | Path, *, noise: float = 0.0, seed: int = 0, overwrite: bool = False
) -> Path:
    """Collect ``episodes`` expert episodes of ``task`` into a Minari dataset at ``out``.

    Episode ``i`` is reset with seed ``seed + i``; the expert is built with ``seed`` (its noise
    and any per-episode choice, e.g. TwoPaths' side, come from that stream) and Gaussian action
    noise of std ``noise``. Observations are stored raw (T+1 per episode, dicts kept as dicts).
    The env's own observation/action spaces are stored. An existing ``out`` raises
    `FileExistsError` before any work unless ``overwrite=True``. Returns the dataset path.
    """
    task = get_task(task)
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if Path(out).expanduser().exists() and not overwrite:
        raise FileExistsError(f"{out}: a dataset already exists here (pass overwrite=True to replace it)")
    env = task.make_env()
    expert = task.make_expert(seed, noise)
    observation_space, action_space = env.observation_space, env.action_space
    collected, successes, returns = [], [], []
    report_every = max(1, -(-episodes // 4))  # about four progress lines
    start = time.perf_counter()
    try:
        for i in range(episodes):
            episode = rollout(env, expert, seed=seed + i)
            successes.append(episode.pop("success"))
            episode["seed"] = seed + i
            returns.append(float(episode["rewards"].sum()))
            collected.append(episode)
            if (i + 1) % report_every == 0 or i + 1 == episodes:
                print(
                    f"[collect {task.name}] {i + 1}/{episodes} episodes, mean return {np.mean(returns):.3f}"
                    + (f", success {np.mean(successes):.2f}" if task.has_success else "")
                    + f" ({time.perf_counter() - start:.1f}s)",
                    flush=True,
                )
    finally:
        env.close()

    metadata = {
        "task": task.name,
        "env_id": task.env_id,
        "ref_min_score": task.ref_min_score,
        "ref_max_score": task.ref_max_score,
        "max_episode_steps": task.max_episode_steps,
        "expert": task.expert_name,
        "noise": float(noise),
        "seed": int(seed),
        "episodes": int(episodes),
        "source": f"genpolicy.collect({task.name!r}, episodes={episodes}, noise={noise}, seed={seed})",
        "mean_return": float(np.mean(returns)),
    }
    if task.has_success:
        metadata["success_rate"] = float(np.mean(successes))
    return write_minari_dataset(
        out,
        collected,
        env_id=task.env_id,
        metadata=metadata,
        overwrite=overwrite,
        observation_space=observation_space,
        action_space=action_space,
    )
