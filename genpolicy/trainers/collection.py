"""Learning while collecting: the settings and logs of an algorithm that has an env collector.

Each Lightning step (a chunk of ``updates_per_step`` gradient updates, see
`genpolicy.trainers.base`) first steps the collector's vector env, then runs the chunk's
updates on batches from the replay buffer::

    training_step:
        env steps until  env_steps >= warmup_steps + (updates at the chunk's end) / replay_ratio
        (uniform random actions while env_steps < warmup_steps, then the algorithm's `explore`)
        the chunk's updates (the base loop)

The replay ratio is gradient updates per env step, fractional or not (0.25: four env steps
per update; 10: ten updates per env step). The env-step budget is computed from the update
count rather than accumulated, so it never drifts and a resumed run continues it exactly.
``steps`` stays the number of gradient updates (the base's unit); a run therefore takes about
``warmup_steps + steps / replay_ratio`` env steps. `CollectionConfig` holds both directions of
that formula (``env_steps_for`` and its inverse ``updates_at_env_step``).

Logs: ``env/steps``, ``env/episode_return``, ``env/episode_length``, ``env/steps_per_s`` and
``train/updates_per_s`` are logged with the env-step count as the logger step (TensorBoard
curves against env steps; each CSV row also carries ``train/updates``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from genpolicy.trainers.base import AlgoConfig


@dataclass
class CollectionConfig(AlgoConfig):
    """Settings of an algorithm that collects its own data (fields stay flat: ``--set replay_ratio=10``)."""

    steps: int = 100_000  # gradient updates in total
    updates_per_step: int = 10  # updates per Lightning step (the env is stepped before each chunk)
    updates_per_epoch: int = 5_000  # checkpoint / evaluation interval, in updates
    log_every: int = 500
    num_envs: int = 1  # sub-envs of the vector env (each vector step = num_envs env steps)
    replay_ratio: float = 1.0  # gradient updates per env step (0.25, 1, 2, 10 ...)
    warmup_steps: int = 5_000  # env steps of uniform random actions before the first update
    buffer_size: int = 1_000_000
    autoreset: Literal["same_step", "next_step", "disabled"] = "same_step"
    env_log_every: int = 1_000  # env steps between env/ log rows (rows come only when an episode ended)
    # Save the exported policy every N epochs under RUN/snapshots/ (0: never): the D4RL
    # recipes of `collect --agent RUN --recipe medium|medium-replay|medium-expert` pick from them.
    snapshot_every: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.replay_ratio <= 0:
            raise ValueError(f"replay_ratio must be > 0, got {self.replay_ratio}")
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {self.num_envs}")

    def env_steps_for(self, updates: int) -> int:
        """Env steps to have taken before update number ``updates`` (1-based) may run."""
        return self.warmup_steps + math.ceil(updates / self.replay_ratio - 1e-9) if updates > 0 else 0

    def updates_at_env_step(self, env_step: int) -> int:
        """The update count a run has reached once it took ``env_step`` env steps (the inverse)."""
        return max(0, math.floor((env_step - self.warmup_steps) * self.replay_ratio))


class CollectionLog:
    """One ``env/`` row when an episode ended and ``env_log_every`` env steps passed."""

    def __init__(self) -> None:
        self._finished: list[tuple[float, int]] = []
        self._last: tuple[float, int, int] | None = None  # (time, env steps, updates)
        self.last_metrics: dict[str, float] | None = None

    def restart(self, env_steps: int, updates: int) -> None:
        self._last = (time.perf_counter(), env_steps, updates)

    def log(self, algo: Any) -> None:
        collector = algo.collector
        self._finished.extend(collector.drain())
        if not self._finished or self._last is None:
            return
        then, steps_then, updates_then = self._last
        if collector.env_steps - steps_then < algo.config.env_log_every:
            return
        now, updates = time.perf_counter(), int(algo.num_updates)
        returns = np.array([r for r, _ in self._finished])
        lengths = np.array([n for _, n in self._finished])
        values = {
            "env/steps": float(collector.env_steps), "env/episode_return": float(returns.mean()),
            "env/episode_length": float(lengths.mean()), "env/episodes": float(collector.episodes_done),
            "env/steps_per_s": (collector.env_steps - steps_then) / max(now - then, 1e-9),
            "train/updates_per_s": (updates - updates_then) / max(now - then, 1e-9), "train/updates": float(updates),
        }
        algo.log("env/return", values["env/episode_return"], prog_bar=True, logger=False)
        algo.log("env/steps", values["env/steps"], prog_bar=True, logger=False)
        if algo.trainer.is_global_zero:
            for logger in algo.trainer.loggers:
                logger.log_metrics(values, step=collector.env_steps)
        self.last_metrics = values
        self._finished = []
        self._last = (now, collector.env_steps, updates)


__all__ = ["CollectionConfig", "CollectionLog"]
