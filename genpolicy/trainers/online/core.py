"""The online core: an algorithm of the multi-network base that collects its own data.

Each Lightning step (a chunk of ``updates_per_step`` gradient updates, see
`genpolicy.trainers.base`) first steps the vector env, then runs the chunk's updates on
batches from the replay buffer::

    training_step:
        env steps until  env_steps >= warmup_steps + (updates at the chunk's end) / replay_ratio
        (uniform random actions while env_steps < warmup_steps, then the actor's samples)
        the chunk's updates (the base loop), each on a batch from the replay buffer

The replay ratio is gradient updates per env step, fractional or not (0.25: four env steps
per update; 10: ten updates per env step). The env-step budget is computed from the update
count rather than accumulated, so it never drifts and a resumed run continues it exactly.
``steps`` stays the number of gradient updates (the base's unit); a run therefore takes about
``warmup_steps + steps / replay_ratio`` env steps.

Rewards pass through ``reward_source`` when a batch is drawn (`rewards.py`: the seam for
GAIL/AIRL/DIAYN). Logs: ``env/steps``, ``env/episode_return``, ``env/episode_length``,
``env/steps_per_s`` and ``train/updates_per_s`` are logged with the env-step count as the
logger step (TensorBoard curves against env steps; each CSV row also carries
``train/updates``); ``train/*`` losses stay logged by update count as in every algorithm.

Checkpoints add the replay buffer, the env-step and episode counters and the generator of the
random warm-up actions to the base's state. The envs' own state cannot be saved: a resumed run
cuts the episodes that were running (a truncation in the buffer), starts fresh ones and says so
in one line.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Literal

import lightning as L
import numpy as np
import torch

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.replay import ReplayBuffer, ReplaySampler, observation_layout, symmetric_sampler
from genpolicy.trainers.base import AlgoConfig, OfflineAlgorithm
from genpolicy.trainers.online.env_loop import EnvLoop, make_online_envs
from genpolicy.trainers.online.rewards import make_reward_source


@dataclass
class OnlineConfig(AlgoConfig):
    steps: int = 100_000  # gradient updates in total
    updates_per_step: int = 10  # updates per Lightning step (the env is stepped before each chunk)
    updates_per_epoch: int = 5_000  # checkpoint / evaluation interval, in updates
    log_every: int = 500
    num_envs: int = 1  # sub-envs of the vector env (each vector step = num_envs env steps)
    replay_ratio: float = 1.0  # gradient updates per env step (0.25, 1, 2, 10 ...)
    warmup_steps: int = 5_000  # env steps of uniform random actions before the first update
    buffer_size: int = 1_000_000
    autoreset: Literal["same_step", "next_step", "disabled"] = "same_step"
    reward: str = "env"  # reward source (rewards.py)
    reward_scale: float = 1.0
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


def _env_spaces(make_env: Any) -> tuple[Any, Any]:
    env = make_env()
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


class OnlineAlgorithm(OfflineAlgorithm):
    """Base of the online learners. ``env``: a task name or gymnasium id; ``dataset``: optional
    offline data mixed half/half into every batch (RLPD's symmetric sampling)."""

    online = True
    config: OnlineConfig

    def __init__(self, config: OnlineConfig, env: Any, dataset: OfflineDataset | None = None) -> None:
        super().__init__(config, dataset)  # type: ignore[arg-type]
        from genpolicy.evaluation.envs import resolve_env

        self.env_target = resolve_env(env)
        obs_space, act_space = _env_spaces(self.env_target.make_env)
        import gymnasium as gym

        if not isinstance(act_space, gym.spaces.Box) or not (np.isfinite(act_space.low).all() and np.isfinite(act_space.high).all()):
            raise ValueError(f"{self.env_target.env_id}: online actor-critics need a bounded Box action space, got {act_space}")
        self.obs_layout = observation_layout(obs_space)
        self.obs_dim = (max(stop for _, stop in self.obs_layout.values()) if self.obs_layout
                        else int(np.prod(obs_space.shape)))
        self.act_dim = int(np.prod(act_space.shape))
        self.action_low = np.asarray(act_space.low, dtype=np.float32).reshape(-1)
        self.action_high = np.asarray(act_space.high, dtype=np.float32).reshape(-1)
        self.buffer = ReplayBuffer(config.buffer_size, self.obs_dim, self.act_dim, "cpu", self.obs_layout)
        self.reward_source = make_reward_source(config.reward, config.reward_scale)
        self.env_steps = 0
        self.episodes_done = 0
        self.starts = 0  # (re)starts of the env loop: seeds fresh episodes differently each time
        self._loop: EnvLoop | None = None
        self._resumed = False
        self.warm_started = False  # started from a trained run: warm-up acts with the actor
        self._action_generator = torch.Generator().manual_seed(config.seed)
        self._finished: list[tuple[float, int]] = []
        self._last_env_log: tuple[float, int, int] | None = None  # (time, env steps, updates)

    # --------------------------------------------------------------- metadata
    def policy_fields(self) -> dict[str, Any]:
        """Policy config fields implied by the env (what `data_fields` gives for a dataset)."""
        target = self.env_target
        metadata = {"env_id": target.env_id, "source": f"online:{target.env_id}"}
        if target.task is not None:
            metadata["task"] = target.name
        if target.ref_min_score is not None and target.ref_max_score is not None:
            metadata.update(ref_min_score=target.ref_min_score, ref_max_score=target.ref_max_score)
        return {"obs_dim": self.obs_dim, "act_dim": self.act_dim, "action_low": self.action_low.tolist(),
                "action_high": self.action_high.tolist(), "obs_layout": self.obs_layout, "metadata": metadata}

    # ---------------------------------------------------------------- acting
    @torch.no_grad()
    def explore(self, obs: np.ndarray) -> np.ndarray:
        """Actions the learner takes while collecting (override: e.g. an optimistic actor)."""
        raise NotImplementedError

    def random_actions(self, n: int) -> np.ndarray:
        u = torch.rand((n, self.act_dim), generator=self._action_generator).numpy()
        return self.action_low + u * (self.action_high - self.action_low)

    def collect(self, until_env_steps: int) -> None:
        """Step the env until ``until_env_steps`` transitions were stored (or a stop request)."""
        loop = self._loop
        while self.env_steps < until_env_steps and not self.trainer.should_stop:
            n = loop.num_envs
            random = self.env_steps < self.config.warmup_steps and not self.warm_started
            actions = self.random_actions(n) if random else self.explore(loop.obs)
            self.env_steps += loop.step(actions)
        finished = loop.drain()
        self.episodes_done += len(finished)
        self._finished.extend(finished)

    # ------------------------------------------------------------------ data
    def make_sampler(self, dataset: OfflineDataset | None = None):
        if dataset is not None:
            return symmetric_sampler(dataset, self.buffer, self.config.batch_size)
        return ReplaySampler(self.buffer, self.config.batch_size)

    def sample_batch(self) -> dict[str, torch.Tensor]:
        if self._sampler is None or self.buffer.device != self.device:
            self.buffer.to(self.device)
            if self.dataset is not None:
                self.dataset = self.dataset.to(self.device)
            self._sampler = self.make_sampler(self.dataset)
        batch = self._sampler.sample(self.generator)
        batch["env_rewards"] = batch["rewards"]
        batch["rewards"] = self.reward_source(batch["observations"], batch["actions"], batch["next_observations"],
                                              batch["env_rewards"])
        return batch

    # ------------------------------------------------------------- Lightning
    def on_train_start(self) -> None:
        super().on_train_start()
        if self.trainer.world_size > 1:
            raise ValueError("online algorithms run on one device (one env loop, one replay buffer); use --devices 1")
        self.buffer.to(self.device)
        if self._loop is None:
            envs = make_online_envs(self.env_target.make_env, self.config.num_envs, self.config.autoreset)
            self._loop = EnvLoop(envs, self.buffer)
        if self._resumed:
            cut = self.buffer.end_running_episodes()
            if self.trainer.is_global_zero:
                print(f"[online] resumed at {self.env_steps} env steps with {len(self.buffer)} transitions in the "
                      f"replay buffer; env state is not saved, so fresh episodes start now"
                      + (f" ({cut} running episode(s) cut as truncated)" if cut else ""), flush=True)
        self._loop.start(seed=self.config.seed * 100_003 + self.starts * 1_009)
        self.starts += 1
        self._last_env_log = (time.perf_counter(), self.env_steps, int(self.num_updates))

    def training_step(self, step: Any, batch_index: int) -> None:
        cfg = self.config
        done = int(self.num_updates)
        steps_per_epoch = cfg.updates_per_epoch // cfg.updates_per_step
        chunk_end = (self.current_epoch * steps_per_epoch + batch_index + 1) * cfg.updates_per_step
        end = min(cfg.steps, max(chunk_end, done))  # the updates this chunk will have done (as the base)
        self.collect(cfg.env_steps_for(end))
        super().training_step(step, batch_index)
        self._log_env()

    def _log_env(self) -> None:
        """One ``env/`` row when an episode ended and ``env_log_every`` env steps passed."""
        if not self._finished or self._last_env_log is None:
            return
        then, steps_then, updates_then = self._last_env_log
        if self.env_steps - steps_then < self.config.env_log_every:
            return
        now, updates = time.perf_counter(), int(self.num_updates)
        returns = np.array([r for r, _ in self._finished])
        lengths = np.array([n for _, n in self._finished])
        values = {
            "env/steps": float(self.env_steps), "env/episode_return": float(returns.mean()),
            "env/episode_length": float(lengths.mean()), "env/episodes": float(self.episodes_done),
            "env/steps_per_s": (self.env_steps - steps_then) / max(now - then, 1e-9),
            "train/updates_per_s": (updates - updates_then) / max(now - then, 1e-9), "train/updates": float(updates),
        }
        self.log("env/return", values["env/episode_return"], prog_bar=True, logger=False)
        self.log("env/steps", values["env/steps"], prog_bar=True, logger=False)
        if self.trainer.is_global_zero:
            for logger in self.trainer.loggers:
                logger.log_metrics(values, step=self.env_steps)
        self.last_env_metrics = values
        self._finished = []
        self._last_env_log = (now, self.env_steps, updates)

    def teardown(self, stage: str) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def configure_callbacks(self) -> list[L.Callback]:
        callbacks: list[L.Callback] = [OnlineProgress()]
        if self.config.snapshot_every > 0:
            callbacks.append(PolicySnapshots(self.config.snapshot_every))
        return callbacks

    # ------------------------------------------------------------ checkpoint
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["online"] = {
            "buffer": self.buffer.state_dict(), "env_steps": self.env_steps, "episodes_done": self.episodes_done,
            "starts": self.starts, "action_generator": self._action_generator.get_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get("online")
        if state is None:
            return
        self.buffer.load_state_dict(state["buffer"])
        self.env_steps, self.episodes_done = int(state["env_steps"]), int(state["episodes_done"])
        self.starts = int(state.get("starts", 1))
        self._action_generator.set_state(state["action_generator"])
        self._resumed = True


class OnlineProgress(L.Callback):
    """Without a terminal, one line every ``every_s`` seconds: env steps and their rate,
    updates and their rate, the latest mean episode return (rank 0)."""

    def __init__(self, every_s: float = 30.0, lines: bool | None = None) -> None:
        self.every_s = every_s
        self.lines = (not sys.stdout.isatty()) if lines is None else lines
        self._last: tuple[float, int, int] | None = None

    def on_train_start(self, trainer: L.Trainer, algo: Any) -> None:
        from genpolicy.trainers.callbacks import ProgressReport

        for callback in trainer.callbacks:  # follow the run's progress settings (--progress-every)
            if isinstance(callback, ProgressReport):
                self.every_s, self.lines = callback.every_s, callback.lines

    def on_train_batch_end(self, trainer: L.Trainer, algo: Any, *args: Any) -> None:
        if not self.lines or not trainer.is_global_zero:
            return
        now = time.perf_counter()
        if self._last is None:
            self._last = (now, algo.env_steps, int(algo.num_updates))
            return
        if now - self._last[0] < self.every_s:
            return
        then, steps, updates = self._last
        done = int(algo.num_updates)
        line = (f"[online] {algo.env_steps} env steps ({(algo.env_steps - steps) / (now - then):.0f}/s), "
                f"{done}/{algo.config.steps} updates ({(done - updates) / (now - then):.1f}/s)")
        metrics = getattr(algo, "last_env_metrics", None)
        if metrics:
            line += f", return {metrics['env/episode_return']:.1f}"
        print(line, flush=True)
        self._last = (now, algo.env_steps, done)

    def state_dict(self) -> dict[str, Any]:
        return {}




class PolicySnapshots(L.Callback):
    """Every ``every`` epochs, save the exported policy to ``RUN/snapshots/updates-<N>/`` with
    ``snapshot.json`` (updates, env steps, transitions added to the replay buffer so far), so a
    dataset can later be rolled out by the agent *as it was* at a given point (D4RL's medium
    policy) and cut from the replay buffer up to that point (medium-replay). Rank 0 only."""

    DIRECTORY = "snapshots"

    def __init__(self, every: int = 1) -> None:
        self.every = every

    def on_train_epoch_end(self, trainer: L.Trainer, algo: Any) -> None:
        from genpolicy.trainers.callbacks import _at_epoch_boundary

        epoch = trainer.current_epoch + 1
        if (epoch % self.every and epoch != trainer.max_epochs) or not trainer.is_global_zero or not _at_epoch_boundary(algo):
            return
        import json
        from pathlib import Path

        updates = int(algo.num_updates)
        directory = Path(trainer.default_root_dir, self.DIRECTORY, f"updates-{updates:09d}")
        algo.export_policy().save(directory)
        info = {"updates": updates, "env_steps": int(algo.env_steps), "buffer_added": int(algo.buffer.added)}
        (directory / "snapshot.json").write_text(json.dumps(info))


__all__ = ["OnlineAlgorithm", "OnlineConfig", "OnlineProgress", "PolicySnapshots"]
