"""Roll a task's behaviour policy into a Minari dataset, all or nothing, recipe recorded.

Recipes (``metadata["recipe"]`` says which, with every setting needed to make the set again):

* ``expert`` (default): the scripted expert, Gaussian action noise of std ``noise``.
* ``mix``: D4RL-style mixed quality, episodes split between the noise-free expert, the expert
  under noise ``noise`` and uniform random actions (`genpolicy.tasks.behaviours`), e.g.
  ``mix="expert:0.1,noisy:0.3,random:0.6"``. Which behaviour drove each episode is recorded.
* ``stitch`` (maze tasks): maze2d's stitching data, a planner stream toward random goals with
  sparse reward relative to a fixed evaluation goal (`genpolicy.tasks.maze2d`); the dataset
  names the maze2d task it is evaluated on.

Every episode runs through the shared episode loop (`genpolicy.tasks.rollout.run_episodes`, one
sub-env; episode ``i`` reset with ``seed + i``) and is kept in memory; only then is the dataset
written, and the writer (`write_minari_dataset`) builds it in a temporary folder and renames it
into place. So a crash or Ctrl-C at any point leaves nothing at ``out`` that looks like a dataset.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from genpolicy.datasets.minari_io import write_minari_dataset
from genpolicy.tasks import Expert, Task, get_task
from genpolicy.tasks.base import ExpertActor, episode_dict
from genpolicy.tasks.rollout import run_episodes

RECIPES = ("expert", "mix", "stitch")


def collect(
    task: str | Task,
    episodes: int,
    out: str | Path,
    *,
    noise: float = 0.0,
    seed: int = 0,
    overwrite: bool = False,
    mix: str | Mapping[str, float] | None = None,
    recipe: str | None = None,
) -> Path:
    """Collect ``episodes`` episodes of ``task`` into a Minari dataset at ``out``.

    ``recipe``: ``"expert"``, ``"mix"`` (implied by ``mix``) or ``"stitch"`` (see the module
    doc). Observations are stored raw (T+1 per episode, dicts kept as dicts) with the env's own
    observation/action spaces. An existing ``out`` raises `FileExistsError` before any work
    unless ``overwrite=True``. Returns the dataset path.
    """
    recipe = recipe or ("mix" if mix else "expert")
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    if mix and recipe != "mix":
        raise ValueError(f"--mix belongs to the mix recipe, not {recipe!r}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if Path(out).expanduser().exists() and not overwrite:
        raise FileExistsError(f"{out}: a dataset already exists here (pass overwrite=True to replace it)")

    if recipe == "stitch":
        from genpolicy.tasks.maze2d import GOAL_RADIUS, stitch_setup

        source = task.name if isinstance(task, Task) else str(task)
        task, env, expert = stitch_setup(source, seed, noise)
        details: dict[str, Any] = {
            "maze_task": source, "planner": expert.name, "goal_radius": GOAL_RADIUS,
            "segment_steps": env.segment_steps, "noise": float(noise),
            "episode_ends": "truncation when the ball reaches the random goal or after segment_steps; never a termination",
            "reward": "the env's own: 1 per step within goal_radius of the fixed evaluation goal",
        }
    else:
        task = get_task(task)
        env = task.make_env()
        details = {"noise": float(noise)}
        if recipe == "mix":
            from genpolicy.tasks.behaviours import mixture_expert, parse_mix

            fractions = parse_mix(mix)  # type: ignore[arg-type]
            expert, schedule = mixture_expert(task, fractions, episodes, noise, seed, env.action_space)
            details.update(mix=fractions, behaviours=schedule)
        else:
            expert = task.make_expert(seed, noise)

    observation_space, action_space = env.observation_space, env.action_space
    collected = _run(task, env, expert, episodes, seed)
    returns = np.array([float(ep["rewards"].sum()) for ep in collected])
    if recipe == "mix":
        behaviours = np.array(details["behaviours"])
        details["counts"] = {name: int((behaviours == name).sum()) for name in details["mix"]}
        details["mean_returns"] = {name: float(returns[behaviours == name].mean()) for name in details["counts"] if details["counts"][name]}
    if recipe == "stitch":
        details["episodes_with_reward"] = int((returns > 0).sum())
        details["evaluation_goal"] = [float(v) for v in collected[0]["observations"]["desired_goal"][0]]

    command = f"genpolicy collect {details.get('maze_task', task.name)} --recipe {recipe} --episodes {episodes} --seed {seed}"
    command += (f" --noise {noise:g}" if noise else "") + (f" --mix {_mix_text(details['mix'])}" if recipe == "mix" else "")
    metadata = {
        "task": task.name,
        "env_id": task.env_id,
        "ref_min_score": task.ref_min_score,
        "ref_max_score": task.ref_max_score,
        "max_episode_steps": task.max_episode_steps,
        "expert": getattr(expert, "name", task.expert_name) if recipe != "mix" else task.expert_name,
        "noise": float(noise),
        "seed": int(seed),
        "episodes": int(episodes),
        "source": command,
        "recipe": {"name": recipe, **details},
        "mean_return": float(returns.mean()),
        "mean_normalized_score": float(task.normalized_score(returns.mean())),
    }
    if task.has_success:
        metadata["success_rate"] = float(np.mean([ep.pop("success") for ep in collected]))
    for ep in collected:
        ep.pop("success", None)
    return write_minari_dataset(
        out,
        collected,
        env_id=task.env_id,
        metadata=metadata,
        overwrite=overwrite,
        observation_space=observation_space,
        action_space=action_space,
    )


def _mix_text(mix: Mapping[str, float]) -> str:
    return ",".join(f"{name}:{fraction:g}" for name, fraction in mix.items())


def _run(task: Task, env: gym.Env, expert: Expert, episodes: int, seed: int) -> list[dict]:
    """``episodes`` episodes of ``expert`` on one sub-env (episode ``i`` reset with ``seed + i``),
    in about four chunks so progress shows; the env is closed afterwards."""
    envs = gym.vector.SyncVectorEnv([lambda: env], autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    actor = ExpertActor([expert])
    chunk = max(1, -(-episodes // 4))
    collected: list[dict] = []
    start = time.perf_counter()
    try:
        for first in range(0, episodes, chunk):
            records, _ = run_episodes(envs, actor, min(chunk, episodes - first), seed + first,
                                      success_at="last", keep_observations=True, keep_transitions=True)
            collected += [{**episode_dict(r), "seed": r.seed} for r in records]
            returns = [float(ep["rewards"].sum()) for ep in collected]
            success = f", success {np.mean([ep['success'] for ep in collected]):.2f}" if task.has_success else ""
            print(f"[collect {task.name}] {len(collected)}/{episodes} episodes, mean return {np.mean(returns):.3f}"
                  f"{success} ({time.perf_counter() - start:.1f}s)", flush=True)
    finally:
        envs.close()
    return collected
