"""Agents make datasets: a trained online run rolled out (or its replay buffer) as a Minari dataset.

* ``collect_from_agent(run, episodes, out)``: the run's exported policy acts in its env through
  the shared episode loop (`genpolicy.tasks.rollout.run_episodes`, episode ``i`` reset with
  ``seed + i``), deterministically (the tanh-Gaussian's mean) or stochastically (a draw from
  it, seeded). D4RL's random / medium / expert recipes are this with different runs.
* ``collect_from_replay(run, out)``: the replay buffer of the run's last checkpoint, episodes
  in insertion order (D4RL's medium-replay: "the buffer up to that checkpoint").

Both record the recipe, the run, its checkpoint's update and env-step counts in
``metadata["recipe"]`` and write atomically through `write_minari_dataset`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from genpolicy.datasets.minari_io import write_minari_dataset
from genpolicy.datasets.replay import ReplayBuffer
from genpolicy.evaluation.envs import resolve_env
from genpolicy.evaluation.seeding import seeded_torch_rng
from genpolicy.models import load_policy
from genpolicy.tasks.base import episode_dict
from genpolicy.tasks.rollout import make_vector_env, run_episodes

LAST_CHECKPOINT = "checkpoints/last.ckpt"


class _Sampling:
    """A policy acting by a draw from its distribution instead of its mean."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def reset(self, mask: Any = None) -> None:
        self.policy.reset(mask)

    def act(self, obs: Any) -> np.ndarray:
        return self.policy.sample(obs, 1)[:, 0, 0].cpu().numpy()


def _run_info(run: Path) -> dict[str, Any]:
    checkpoint = run / LAST_CHECKPOINT
    info: dict[str, Any] = {"run": str(run)}
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        info["checkpoint"] = str(checkpoint)
        info["updates"] = int(state["state_dict"].get("num_updates", torch.tensor(-1)))
        if "online" in state:
            info["env_steps"] = int(state["online"]["env_steps"])
    return info


def collect_from_agent(run: str | Path, episodes: int, out: str | Path, *, stochastic: bool = False, seed: int = 0,
                       env: Any = None, overwrite: bool = False) -> Path:
    """Roll ``episodes`` episodes of the policy of ``run`` into a Minari dataset at ``out``."""
    run = Path(run)
    policy = load_policy(run)
    target = resolve_env(env, policy)
    envs = make_vector_env(target.make_env, 1)
    actor = _Sampling(policy) if stochastic else policy
    try:
        with seeded_torch_rng(seed, policy.device):
            records, _ = run_episodes(envs, actor, episodes, seed, success_at="last", keep_observations=True,
                                      keep_transitions=True)
        observation_space, action_space = envs.single_observation_space, envs.single_action_space
    finally:
        envs.close()
    collected = [{**episode_dict(r), "seed": r.seed} for r in records]
    returns = np.array([float(ep["rewards"].sum()) for ep in collected])
    for ep in collected:
        ep.pop("success", None)
    recipe = {"name": "agent", "stochastic": bool(stochastic), **_run_info(run)}
    metadata = _metadata(target, recipe, returns, seed, episodes,
                         f"genpolicy collect {target.name} --agent {run} --episodes {episodes} --seed {seed}"
                         + (" --stochastic" if stochastic else ""))
    return write_minari_dataset(out, collected, env_id=target.env_id, metadata=metadata, overwrite=overwrite,
                                observation_space=observation_space, action_space=action_space)


def collect_from_replay(run: str | Path, out: str | Path, *, env: Any = None, overwrite: bool = False) -> Path:
    """The replay buffer of ``run``'s last checkpoint as a Minari dataset (episodes in order)."""
    run = Path(run)
    state = torch.load(run / LAST_CHECKPOINT, map_location="cpu", weights_only=False)
    if "online" not in state:
        raise ValueError(f"{run}: its checkpoint holds no replay buffer (not an online run)")
    saved = state["online"]["buffer"]
    buffer = ReplayBuffer(saved["capacity"], saved["obs_dim"], saved["act_dim"], obs_layout=saved["obs_layout"])
    buffer.load_state_dict(saved)
    data = buffer.to_dataset()
    policy = load_policy(run) if (run / "policy").exists() else None
    target = resolve_env(env or _run_env(run), policy)
    probe = target.make_env()
    observation_space, action_space = probe.observation_space, probe.action_space
    probe.close()
    collected = []
    for episode in data.episodes():
        flat = torch.cat([episode["observations"], episode["next_observations"][-1:]]).numpy()
        collected.append({
            "observations": _unflatten(flat, buffer.obs_layout, observation_space),
            "actions": episode["actions"].numpy().reshape(len(flat) - 1, *action_space.shape),
            "rewards": episode["rewards"].double().numpy(), "terminations": episode["terminations"].numpy(),
            "truncations": episode["truncations"].numpy(),
        })
    returns = np.array([float(ep["rewards"].sum()) for ep in collected])
    recipe = {"name": "replay", **_run_info(run)}
    metadata = _metadata(target, recipe, returns, None, len(collected), f"genpolicy collect {target.name} --agent {run} --replay")
    return write_minari_dataset(out, collected, env_id=target.env_id, metadata=metadata, overwrite=overwrite,
                                observation_space=observation_space, action_space=action_space)


def _run_env(run: Path) -> str | None:
    import json

    config = run / "config.json"
    return json.loads(config.read_text()).get("env") if config.is_file() else None


def _unflatten(flat: np.ndarray, layout: dict[str, list[int]] | None, space: gym.Space) -> Any:
    if layout is None:
        return flat.reshape(len(flat), *space.shape)
    return {key: flat[:, a:b].reshape(len(flat), *space.spaces[key].shape) for key, (a, b) in layout.items()}


def _metadata(target: Any, recipe: dict, returns: np.ndarray, seed: int | None, episodes: int, command: str) -> dict:
    metadata = {
        "env_id": target.env_id, "ref_min_score": target.ref_min_score, "ref_max_score": target.ref_max_score,
        "episodes": int(episodes), "source": command, "recipe": recipe, "mean_return": float(returns.mean()),
    }
    if target.task is not None:
        metadata["task"] = target.name
    if seed is not None:
        metadata["seed"] = int(seed)
    if target.ref_min_score is not None and target.ref_max_score is not None:
        span = target.ref_max_score - target.ref_min_score
        metadata["mean_normalized_score"] = float(100 * (returns.mean() - target.ref_min_score) / span) if span else None
    return {k: v for k, v in metadata.items() if v is not None}


__all__ = ["collect_from_agent", "collect_from_replay"]
