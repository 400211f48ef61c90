"""The online env loop: step a gymnasium vector env, store true transitions, track episodes.

Gymnasium 1.x vector envs end episodes in one of three autoreset modes (``envs.metadata
["autoreset_mode"]``); `EnvLoop` stores the same transitions under all three:

* ``SAME_STEP``: the step that ends an episode already returns the *reset* observation; the
  true final observation is in ``info["final_obs"][i]`` (mask ``info["_final_obs"]``), and that
  is what is stored as ``next_observations``.
* ``NEXT_STEP`` (what ``gym.make_vec`` and ``SyncVectorEnv`` use by default): the ending step
  returns the true final observation; the *next* step of that sub-env ignores its action and
  only resets it (reward 0, not done). That step is no transition and is not stored.
* ``DISABLED``: the ending step returns the true final observation and the loop resets exactly
  the finished sub-envs (``reset(options={"reset_mask": done})``), like the evaluation loop.

Termination and truncation are stored apart: learners bootstrap through a truncation (time
limit) and never through a termination (`genpolicy.models.critics.td_target`).
Observations are flattened to ``[N, obs_dim]`` float32 as they come in (dicts in the datasets'
layout), so the buffer, the actor and the stored data agree.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from genpolicy.datasets.replay import ReplayBuffer, flatten_batch

AutoresetMode = gym.vector.AutoresetMode
AUTORESET_MODES = {"same_step": AutoresetMode.SAME_STEP, "next_step": AutoresetMode.NEXT_STEP,
                   "disabled": AutoresetMode.DISABLED}


def make_online_envs(make_env: Any, num_envs: int, autoreset: str = "same_step") -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``make_env()`` in a ``SyncVectorEnv`` with the given autoreset mode
    (synchronous: on a few CPU cores, pipes to subprocesses cost more than small env steps)."""
    if autoreset not in AUTORESET_MODES:
        raise ValueError(f"autoreset must be one of {', '.join(AUTORESET_MODES)}, got {autoreset!r}")
    return gym.vector.SyncVectorEnv([make_env] * num_envs, autoreset_mode=AUTORESET_MODES[autoreset])


class EnvLoop:
    """One vector env feeding one replay buffer. ``start(seed)`` begins fresh episodes in every
    sub-env; ``step(actions)`` advances all of them and returns how many transitions it stored.
    Finished episodes' returns and lengths collect in ``finished`` until the caller drains them."""

    def __init__(self, envs: gym.vector.VectorEnv, buffer: ReplayBuffer) -> None:
        self.envs, self.buffer = envs, buffer
        self.num_envs = envs.num_envs
        self.mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if not isinstance(self.mode, AutoresetMode):
            self.mode = AutoresetMode(self.mode)
        self.layout = buffer.obs_layout
        self.obs: np.ndarray | None = None  # [N, obs_dim] the observation each sub-env acts on
        self.episode_return = np.zeros(self.num_envs)
        self.episode_length = np.zeros(self.num_envs, dtype=np.int64)
        self.finished: list[tuple[float, int]] = []  # (return, length) of episodes ended since the last drain
        self._resetting = np.zeros(self.num_envs, dtype=bool)  # NEXT_STEP: the next step only resets

    def flat(self, obs: Any) -> np.ndarray:
        return np.asarray(flatten_batch(obs, self.layout), dtype=np.float32)

    def start(self, seed: int | None) -> np.ndarray:
        obs, _ = self.envs.reset(seed=seed)
        self.obs = self.flat(obs)
        self.episode_return[:] = 0.0
        self.episode_length[:] = 0
        self._resetting[:] = False
        return self.obs

    def step(self, actions: np.ndarray, stored_actions: np.ndarray | None = None) -> int:
        """Step every sub-env with ``actions`` ``[N, act_dim]``; store the real transitions
        (with ``stored_actions`` in place of the executed ones when given: another actor's
        labels of the same states, as DAgger stores the expert's)."""
        if self.obs is None:
            raise RuntimeError("call start() before step()")
        next_obs, reward, terminated, truncated, info = self.envs.step(actions)
        reward = np.asarray(reward, dtype=np.float64)
        terminated, truncated = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
        following = self.flat(next_obs)  # what each sub-env acts on next
        stored_next = following.copy()  # the true next observation of this step
        if self.mode == AutoresetMode.SAME_STEP and "final_obs" in info:
            for i in np.flatnonzero(np.asarray(info.get("_final_obs", terminated | truncated), dtype=bool)):
                stored_next[i] = self.flat(_one_row(info["final_obs"][i]))[0]
        live = ~self._resetting  # NEXT_STEP: sub-envs that only reset this step made no transition
        if live.any():
            stored = np.asarray(actions if stored_actions is None else stored_actions)
            self.buffer.add(self.obs[live], stored[live], reward[live], stored_next[live],
                            terminated[live], truncated[live], env_ids=np.flatnonzero(live))
        self.episode_return[live] += reward[live]
        self.episode_length[live] += 1
        done = (terminated | truncated) & live
        for i in np.flatnonzero(done):
            self.finished.append((float(self.episode_return[i]), int(self.episode_length[i])))
        self.episode_return[done], self.episode_length[done] = 0.0, 0
        if self.mode == AutoresetMode.NEXT_STEP:
            self._resetting = done
        elif self.mode == AutoresetMode.DISABLED and done.any():
            reset_obs, _ = self.envs.reset(options={"reset_mask": done.copy()})
            following = self.flat(reset_obs)
        self.obs = following
        return int(live.sum())

    def drain(self) -> list[tuple[float, int]]:
        finished, self.finished = self.finished, []
        return finished

    def close(self) -> None:
        self.envs.close()


def _one_row(obs: Any) -> Any:
    """One sub-env's observation as a batch of one (dicts stay dicts)."""
    if isinstance(obs, dict):
        return {key: np.asarray(value)[None] for key, value in obs.items()}
    return np.asarray(obs)[None]


__all__ = ["AUTORESET_MODES", "EnvLoop", "make_online_envs"]
