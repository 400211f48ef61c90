"""The one episode loop: exactly N seeded episodes of an actor in a vector env.

Evaluation (a trained policy on 8 sub-envs), videos (one rendered sub-env) and data collection
(a scripted expert on one sub-env) all run their episodes through `run_episodes`, so the rules
below hold for all three and are tested once:

* Episode ``k`` starts from ``reset(seed=seed + k)`` whichever sub-env runs it, so outcomes do
  not depend on ``num_envs`` (for a deterministic actor).
* Sub-envs take the next unstarted episode when they finish; once all are handed out, finished
  sub-envs idle (a vector env steps every sub-env, but nothing of theirs is counted).
* The vector env must use ``AutoresetMode.DISABLED`` (see `make_vector_env`): a step that ends
  an episode returns its true final observation, and the loop resets exactly the finished
  sub-envs with ``reset(seed=..., options={"reset_mask": done})``.
* ``actor.reset()`` at the start and at the end, ``actor.reset(done_mask)`` after every finish,
  before the next episode's first observation reaches ``actor.act``.
* Success of an episode: ``info["success"]`` (or ``"is_success"``) at any of its steps
  (``success_at="any"``) or at its last step (``"last"``); the reset info does not count.

This module is torch-free on purpose: collecting data with a numpy expert never imports torch.
The caller seeds any RNG its actor draws from (evaluation seeds torch around this loop).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol

import gymnasium as gym
import numpy as np


class Actor(Protocol):
    """What the loop drives: batched raw observations in, ``[num_envs, act_dim]`` actions out."""

    def reset(self, mask: np.ndarray | None = None) -> None: ...

    def act(self, obs: Any) -> np.ndarray: ...


@dataclass
class EpisodeRecord:
    """One finished episode. The per-step lists are filled only when the loop was asked to keep
    them (``keep_observations`` / ``keep_transitions``); observations are the raw ones (dicts
    stay dicts), one per step plus the reset observation."""

    index: int
    seed: int | None
    episode_return: float = 0.0
    length: int = 0
    success: bool = False
    observations: list[Any] = field(default_factory=list)  # T + 1 raw observations
    actions: list[np.ndarray] = field(default_factory=list)  # T
    rewards: list[float] = field(default_factory=list)  # T
    terminations: list[bool] = field(default_factory=list)  # T
    truncations: list[bool] = field(default_factory=list)  # T
    step_successes: list[bool] = field(default_factory=list)  # T + 1, the reset info first


def make_vector_env(
    make_env: Callable[..., gym.Env], num_envs: int, vectorization: Literal["sync", "async"] = "sync"
) -> gym.vector.VectorEnv:
    """``num_envs`` copies in a vector env with autoreset disabled (the loop resets)."""
    fns = [make_env] * num_envs
    mode = gym.vector.AutoresetMode.DISABLED
    if vectorization == "sync":
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)
    if vectorization == "async":
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=mode)
    raise ValueError(f"vectorization must be 'sync' or 'async', got {vectorization!r}")


def success_flags(info: Mapping[str, Any], num_envs: int) -> np.ndarray | None:
    """This step's success per sub-env from a vector info dict, or None if not reported."""
    for key in ("success", "is_success"):
        if key in info:
            flags = np.asarray(info[key]).astype(bool).reshape(num_envs)
            present = info.get(f"_{key}")
            return flags if present is None else flags & np.asarray(present, dtype=bool)
    return None


def row(obs: Any, i: int) -> Any:
    """Sub-env ``i``'s raw observation out of a batched one (dicts stay dicts)."""
    if isinstance(obs, Mapping):
        return {key: value[i] for key, value in obs.items()}
    return obs[i]


class _Schedule:
    """Which episode each sub-env is running (-1: idle) and which one is handed out next."""

    def __init__(self, num_envs: int, episodes: int, seed: int | None) -> None:
        self.episodes, self.seed = episodes, seed
        self.slot = np.where(np.arange(num_envs) < episodes, np.arange(num_envs), -1)
        self.next_episode = min(num_envs, episodes)

    def seed_of(self, k: int) -> int | None:
        return None if self.seed is None or k < 0 else self.seed + int(k)

    def first_seeds(self) -> list[int | None]:
        return [self.seed_of(k) for k in self.slot]

    def record(self, i: int) -> EpisodeRecord | None:
        """A fresh record for sub-env ``i``'s current episode (None when it idles)."""
        k = int(self.slot[i])
        return EpisodeRecord(k, self.seed_of(k)) if k >= 0 else None

    def hand_out(self, i: int) -> int | None:
        """Give sub-env ``i`` the next episode; its reset seed, or None when it goes idle."""
        if self.next_episode >= self.episodes:
            self.slot[i] = -1
            return None
        self.slot[i] = self.next_episode
        self.next_episode += 1
        return self.seed_of(self.slot[i])


def run_episodes(
    envs: gym.vector.VectorEnv,
    actor: Actor,
    episodes: int,
    seed: int | None = 0,
    *,
    max_episode_steps: int | None = None,
    success_at: Literal["any", "last"] = "any",
    keep_observations: bool = False,
    keep_transitions: bool = False,
) -> tuple[list[EpisodeRecord], bool]:
    """Run exactly ``episodes`` episodes; return them in episode order, and whether the env
    reported success at all (envs without a success flag report none). ``seed=None`` resets
    every episode unseeded.

    ``max_episode_steps`` cuts episodes on top of the env's own time limit (the cut is not
    recorded as a truncation: that flag stays what the env said). Returns, lengths and success
    are accumulated as arrays over the sub-envs; per-step lists are kept only when asked for,
    so a plain evaluation pays no per-sub-env Python work on steps that finish nothing.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if success_at not in ("any", "last"):
        raise ValueError(f"success_at must be 'any' or 'last', got {success_at!r}")
    n = envs.num_envs
    schedule = _Schedule(n, episodes, seed)
    records: list[EpisodeRecord | None] = [None] * episodes
    running = [schedule.record(i) for i in range(n)]
    ep_return, ep_length, ep_success = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    saw_success, finished = False, 0
    keep = _Keep(keep_observations, keep_transitions)

    actor.reset()
    try:
        obs, info = envs.reset(seed=schedule.first_seeds())
        if keep.anything:
            keep.starts(running, np.ones(n, dtype=bool), obs, info)
        while finished < episodes:
            action = actor.act(obs)
            obs, reward, terminated, truncated, info = envs.step(action)
            _observe_reward(actor, reward)
            ep_return += reward
            ep_length += 1
            flags = success_flags(info, n)
            saw_success |= flags is not None
            if flags is None:
                flags = np.zeros(n, dtype=bool)
            ep_success = (ep_success | flags) if success_at == "any" else flags
            if keep.anything:
                keep.step(running, obs, action, reward, terminated, truncated, flags)
            done = np.logical_or(terminated, truncated)
            if max_episode_steps is not None:
                done |= ep_length >= max_episode_steps
            if not done.any():
                continue

            reset_seeds: list[int | None] = [None] * n
            for i in np.flatnonzero(done):
                record = running[i]
                if record is not None:
                    record.episode_return, record.length = float(ep_return[i]), int(ep_length[i])
                    record.success = bool(ep_success[i])
                    records[record.index] = record
                    finished += 1
                reset_seeds[i] = schedule.hand_out(i)
                running[i] = schedule.record(i)
            if finished == episodes:
                break
            ep_return[done], ep_length[done], ep_success[done] = 0.0, 0, False
            actor.reset(done)
            obs, info = envs.reset(seed=reset_seeds, options={"reset_mask": done.copy()})
            if keep.anything:
                keep.starts(running, done, obs, info)
    finally:
        actor.reset()
    return records, saw_success  # type: ignore[return-value]  # all filled: finished == episodes


def _observe_reward(actor: Actor, reward: np.ndarray) -> None:
    """Return-conditioned actors (Decision Transformer) lower their target from the rewards."""
    observe = getattr(actor, "observe_reward", None)
    if observe is not None:
        observe(reward)


@dataclass(frozen=True)
class _Keep:
    """Which per-step lists the loop fills (only the running episodes' records)."""

    observations: bool
    transitions: bool

    @property
    def anything(self) -> bool:
        return self.observations or self.transitions

    def starts(self, running: list[EpisodeRecord | None], mask: np.ndarray, obs: Any, info: Mapping[str, Any]) -> None:
        """The reset observation (and reset-info success) of the sub-envs in ``mask``."""
        flags = success_flags(info, len(running))
        for i in np.flatnonzero(mask):
            record = running[i]
            if record is None:
                continue
            if self.observations:
                record.observations.append(row(obs, i))
            if self.transitions:
                record.step_successes.append(bool(flags[i]) if flags is not None else False)

    def step(self, running: list[EpisodeRecord | None], obs: Any, action: np.ndarray, reward: np.ndarray,
             terminated: np.ndarray, truncated: np.ndarray, flags: np.ndarray) -> None:
        """One step of every running episode."""
        for i, record in enumerate(running):
            if record is None:
                continue
            if self.observations:
                record.observations.append(row(obs, i))
            if self.transitions:
                record.actions.append(np.asarray(action[i]))
                record.rewards.append(float(reward[i]))
                record.terminations.append(bool(terminated[i]))
                record.truncations.append(bool(truncated[i]))
                record.step_successes.append(bool(flags[i]))
