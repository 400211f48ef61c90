"""Agents make datasets: a trained online run rolled out (or its replay buffer) as a Minari dataset.

* ``collect_from_agent(run, episodes, out)``: the run's exported policy acts in its env through
  the shared episode loop (`genpolicy.tasks.rollout.run_episodes`, episode ``i`` reset with
  ``seed + i``), deterministically (the tanh-Gaussian's mean) or stochastically (a draw from
  it, seeded).
* ``collect_from_replay(run, out)``: the replay buffer of the run's last checkpoint, episodes
  in insertion order.
* ``collect_recipe(run, recipe, episodes, out)``: D4RL's recipes, one call each, from a run
  trained with periodic evaluation (``fit ... --eval-every 1``), whose policy snapshots
  (`PolicySnapshots`, ``RUN/snapshots/``) are matched to their evaluation returns:

  ``random``         uniform random actions in the run's env;
  ``expert``         the snapshot with the best evaluation return;
  ``medium``         the snapshot whose return is closest to a third of the way from the
                     random reference (or the lowest evaluation) to the best;
  ``medium-replay``  the replay buffer up to the medium snapshot, in insertion order;
  ``medium-expert``  medium and expert episodes, as many of each.

Every dataset records the recipe, the run, the snapshot (updates, env steps, evaluation
return) or checkpoint in ``metadata["recipe"]`` and is written atomically through
`write_minari_dataset`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from genpolicy.datasets.collector import collector_state
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
        collected = collector_state(state)
        if collected is not None:
            info["env_steps"] = int(collected["env_steps"])
    return info


def collect_from_agent(run: str | Path, episodes: int, out: str | Path, *, stochastic: bool = False, seed: int = 0,
                       env: Any = None, overwrite: bool = False) -> Path:
    """Roll ``episodes`` episodes of the policy of ``run`` into a Minari dataset at ``out``."""
    run = Path(run)
    policy = load_policy(run)
    target = resolve_env(env, policy)
    collected, spaces = _rollout(target, _Sampling(policy) if stochastic else policy, episodes, seed)
    recipe = {"name": "agent", "stochastic": bool(stochastic), **_run_info(run)}
    command = (f"genpolicy collect {target.name} --agent {run} --episodes {episodes} --seed {seed}"
               + (" --stochastic" if stochastic else ""))
    return _write(out, collected, target, recipe, seed, command, spaces, overwrite)


def _rollout(target: Any, actor: Any, episodes: int, seed: int) -> tuple[list[dict], tuple[gym.Space, gym.Space]]:
    """``episodes`` seeded episodes of ``actor`` as Minari episode dicts, and the env's spaces."""
    envs = make_vector_env(target.make_env, 1)
    try:
        device = getattr(actor, "device", torch.device("cpu"))
        with seeded_torch_rng(seed, device):
            records, _ = run_episodes(envs, actor, episodes, seed, success_at="last", keep_observations=True,
                                      keep_transitions=True)
        spaces = (envs.single_observation_space, envs.single_action_space)
    finally:
        envs.close()
    collected = [{**episode_dict(r), "seed": r.seed} for r in records]
    for episode in collected:
        episode.pop("success", None)
    return collected, spaces


def _write(out: str | Path, collected: list[dict], target: Any, recipe: dict, seed: int | None, command: str,
           spaces: tuple[gym.Space, gym.Space], overwrite: bool) -> Path:
    returns = np.array([float(ep["rewards"].sum()) for ep in collected])
    metadata = _metadata(target, recipe, returns, seed, len(collected), command)
    return write_minari_dataset(out, collected, env_id=target.env_id, metadata=metadata, overwrite=overwrite,
                                observation_space=spaces[0], action_space=spaces[1])


def collect_from_replay(run: str | Path, out: str | Path, *, env: Any = None, overwrite: bool = False,
                        before: int | None = None, recipe: dict | None = None) -> Path:
    """The replay buffer of ``run``'s last checkpoint as a Minari dataset (episodes in order);
    ``before``: only the transitions added before that count (medium-replay)."""
    run = Path(run)
    state = torch.load(run / LAST_CHECKPOINT, map_location="cpu", weights_only=False)
    collected = collector_state(state)
    if collected is None:
        raise ValueError(f"{run}: its checkpoint holds no replay buffer (not an online run)")
    saved = collected["buffer"]
    buffer = ReplayBuffer(saved["capacity"], saved["obs_dim"], saved["act_dim"], obs_layout=saved["obs_layout"])
    buffer.load_state_dict(saved)
    try:
        data = buffer.to_dataset(before=before)
    except ValueError as error:
        raise ValueError(f"{run}: {error}") from None
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
    recipe = {**(recipe or {"name": "replay"}), **_run_info(run)}
    command = f"genpolicy collect {target.name} --agent {run} " + (f"--recipe {recipe['name']}" if before is not None else "--replay")
    return _write(out, collected, target, recipe, None, command, (observation_space, action_space), overwrite)


# ------------------------------------------------------------------ D4RL recipes
D4RL_RECIPES = ("random", "medium", "medium-replay", "expert", "medium-expert")


@dataclass
class Snapshot:
    """A policy saved during an online run, with the evaluation made at the same update."""

    path: Path
    updates: int
    env_steps: int
    buffer_added: int
    eval_return: float | None

    def describe(self) -> dict[str, Any]:
        return {"snapshot": str(self.path), "snapshot_updates": self.updates, "snapshot_env_steps": self.env_steps,
                "snapshot_eval_return": self.eval_return}


def list_snapshots(run: str | Path) -> list[Snapshot]:
    """The run's snapshots, oldest first, each with the return of the evaluation at its update."""
    run = Path(run)
    history = run / "eval_history.json"
    returns = {int(h["updates"]): float(h["eval/return"]) for h in json.loads(history.read_text())} if history.is_file() else {}
    snapshots = []
    for info_file in sorted((run / "snapshots").glob("updates-*/snapshot.json")):
        info = json.loads(info_file.read_text())
        snapshots.append(Snapshot(info_file.parent, int(info["updates"]), int(info["env_steps"]), int(info["buffer_added"]),
                                  returns.get(int(info["updates"]))))
    return snapshots


def pick_snapshot(snapshots: list[Snapshot], level: str, floor: float | None = None) -> Snapshot:
    """``expert``: the best evaluated snapshot. ``medium``: the one whose return is closest to
    ``floor + (best - floor) / 3`` (``floor``: the random reference return, else the lowest
    evaluation), the earliest on a tie."""
    scored = [s for s in snapshots if s.eval_return is not None]
    if not scored:
        raise ValueError("no snapshot has an evaluation: train the run with periodic evaluation (fit ... --eval-every 1) "
                         "and snapshots (the default snapshot_every=1)")
    best = max(scored, key=lambda s: (s.eval_return, -s.updates))
    if level == "expert":
        return best
    if level != "medium":
        raise ValueError(f"unknown level {level!r}; expected 'medium' or 'expert'")
    low = floor if floor is not None else min(s.eval_return for s in scored)
    target = low + (best.eval_return - low) / 3.0
    return min(scored, key=lambda s: (abs(s.eval_return - target), s.updates))


class _UniformRandom:
    """Uniform random actions from the env's bounds, seeded."""

    def __init__(self, action_space: gym.spaces.Box, seed: int) -> None:
        self.low, self.high = np.asarray(action_space.low), np.asarray(action_space.high)
        self.rng = np.random.default_rng(seed)

    def reset(self, mask: Any = None) -> None:
        pass

    def act(self, obs: Any) -> np.ndarray:
        n = len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)
        return self.rng.uniform(self.low, self.high, size=(n, *self.low.shape)).astype(np.float32)


def collect_recipe(run: str | Path, recipe: str, episodes: int, out: str | Path, *, seed: int = 0, env: Any = None,
                   stochastic: bool = False, overwrite: bool = False) -> Path:
    """One of D4RL's recipes (`D4RL_RECIPES`) from the online run ``run``."""
    if recipe not in D4RL_RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(D4RL_RECIPES)}")
    run = Path(run)
    final = load_policy(run) if (run / "policy").exists() else None
    target = resolve_env(env or _run_env(run), final)
    command = f"genpolicy collect {target.name} --agent {run} --recipe {recipe} --episodes {episodes} --seed {seed}"
    about = {"name": recipe, "run": str(run), "stochastic": bool(stochastic)}
    if recipe == "random":
        probe = target.make_env()
        action_space = probe.action_space
        probe.close()
        collected, spaces = _rollout(target, _UniformRandom(action_space, seed), episodes, seed)
        return _write(out, collected, target, {"name": "random", "run": str(run)}, seed, command, spaces, overwrite)
    snapshots = list_snapshots(run)
    medium = pick_snapshot(snapshots, "medium", target.ref_min_score) if recipe.startswith("medium") else None
    expert = pick_snapshot(snapshots, "expert") if recipe.endswith("expert") else None
    if recipe == "medium-replay":
        return collect_from_replay(run, out, env=env, overwrite=overwrite, before=medium.buffer_added,
                                   recipe={"name": recipe, **medium.describe()})

    def roll(snapshot: Snapshot, offset: int) -> tuple[list[dict], Any]:
        policy = load_policy(snapshot.path)
        return _rollout(target, _Sampling(policy) if stochastic else policy, episodes, seed + offset)

    collected: list[dict] = []
    for level, snapshot, offset in (("medium", medium, 0), ("expert", expert, 1_000_003)):
        if snapshot is not None:
            episodes_of, spaces = roll(snapshot, offset)
            collected += episodes_of
            about[level] = snapshot.describe()
    return _write(out, collected, target, about, seed, command, spaces, overwrite)


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


__all__ = ["D4RL_RECIPES", "Snapshot", "collect_from_agent", "collect_from_replay", "collect_recipe",
           "list_snapshots", "pick_snapshot"]
