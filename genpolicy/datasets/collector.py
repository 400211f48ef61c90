"""The env collector: a source that owns its env and fills a replay buffer by stepping it.

``EnvCollector(make_env, wrappers=[...], num_envs=..., ...)`` builds its vector env as
``num_envs`` copies of ``apply_wrappers(make_env(), wrappers)`` (`genpolicy.tasks.wrappers`)
and exposes the *wrapped* spaces (``spec``): the algorithm sizes its networks from them, and
the wrapper specs go into ``spec.metadata["env_wrappers"]``, which every exported policy
keeps, so evaluation rebuilds the same env. The collector does not know which actions to
take: the algorithm passes its acting function to ``collect`` (uniform random actions while
``env_steps < random_until``)::

    collector.start(seed)                            # fresh episodes in every sub-env
    collector.collect(until_env_steps, act, random_until=warmup_steps, should_stop=...)
    collector.transitions(batch_size)                # a sampler over the replay buffer

``label`` (optional, a callable ``(obs, actions) -> actions``) replaces the stored actions by
another actor's labels while the env is stepped with the executed ones: DAgger's "roll out
the learner, store the expert's actions" without a second training loop.

Checkpoints (``state_dict``) hold the buffer, the env-step and episode counters and the
generator of the random actions. The envs' own state cannot be saved: a resumed run cuts the
episodes that were running (a truncation in the buffer), starts fresh ones and says so.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

from genpolicy.datasets.env_loop import EnvLoop, make_online_envs
from genpolicy.datasets.replay import ReplayBuffer, ReplaySampler, observation_layout
from genpolicy.datasets.sources import DataSpec, Source
from genpolicy.tasks.wrappers import normalize_specs, wrapped_maker

Actor = Callable[[np.ndarray], np.ndarray]


def env_spaces(make_env: Callable[[], gym.Env]) -> tuple[gym.Space, gym.Space]:
    """Observation and action space of what ``make_env`` builds (one env, closed again)."""
    env = make_env()
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


class EnvCollector(Source):
    """A vector env + replay buffer (see the module doc).

    ``env_info``: what a policy trained on this env should record (``env_id``, ``task``,
    reference scores); the wrappers are added to it.
    """

    kind = "collector"

    def __init__(
        self,
        make_env: Callable[[], gym.Env],
        *,
        env_info: dict[str, Any] | None = None,
        wrappers: Sequence[Any] | None = None,
        num_envs: int = 1,
        autoreset: str = "same_step",
        buffer_size: int = 1_000_000,
        seed: int = 0,
        label: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.wrappers = normalize_specs(wrappers)
        self.make_env = wrapped_maker(make_env, self.wrappers)
        self.num_envs, self.autoreset, self.label = int(num_envs), autoreset, label
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        info = dict(env_info or {})
        name = info.get("env_id", "env")
        obs_space, act_space = env_spaces(self.make_env)
        if not isinstance(act_space, gym.spaces.Box) or not (np.isfinite(act_space.low).all() and np.isfinite(act_space.high).all()):
            raise ValueError(f"{name}: the env collector needs a bounded Box action space, got {act_space}")
        self.obs_space, self.act_space = obs_space, act_space
        self.obs_layout = observation_layout(obs_space)
        self.obs_dim = (max(stop for _, stop in self.obs_layout.values()) if self.obs_layout
                        else int(np.prod(obs_space.shape)))
        self.act_dim = int(np.prod(act_space.shape))
        self.action_low = np.asarray(act_space.low, dtype=np.float32).reshape(-1)
        self.action_high = np.asarray(act_space.high, dtype=np.float32).reshape(-1)
        self.metadata = {"source": f"online:{name}", **info}
        if self.wrappers:
            self.metadata["env_wrappers"] = self.wrappers
        self.buffer = ReplayBuffer(buffer_size, self.obs_dim, self.act_dim, "cpu", self.obs_layout)
        self.seed = int(seed)
        self.env_steps = 0
        self.episodes_done = 0
        self.starts = 0  # (re)starts of the env loop: seeds fresh episodes differently each time
        self.finished: list[tuple[float, int]] = []  # (return, length) since the last `drain`
        self._action_generator = torch.Generator().manual_seed(self.seed)
        self._loop: EnvLoop | None = None
        self._resumed = False

    # --------------------------------------------------------------- source
    @property
    def spec(self) -> DataSpec:
        return DataSpec(self.obs_dim, self.act_dim, self.action_low.tolist(), self.action_high.tolist(),
                        self.obs_layout, dict(self.metadata))

    def to(self, device: torch.device | str) -> "EnvCollector":
        self.buffer.to(device)
        return self

    def transitions(self, batch_size: int) -> ReplaySampler:
        return ReplaySampler(self.buffer, batch_size)

    # ---------------------------------------------------------------- envs
    def start(self) -> None:
        """Build the vector env (once) and begin fresh episodes in every sub-env."""
        if self._loop is None:
            self._loop = EnvLoop(make_online_envs(self.make_env, self.num_envs, self.autoreset), self.buffer)
        if self._resumed:
            cut = self.buffer.end_running_episodes()
            print(f"[online] resumed at {self.env_steps} env steps with {len(self.buffer)} transitions in the "
                  f"replay buffer; env state is not saved, so fresh episodes start now"
                  + (f" ({cut} running episode(s) cut as truncated)" if cut else ""), flush=True)
            self._resumed = False
        self._loop.start(seed=self.seed * 100_003 + self.starts * 1_009)
        self.starts += 1

    def random_actions(self, n: int) -> np.ndarray:
        u = torch.rand((n, self.act_dim), generator=self._action_generator).numpy()
        return self.action_low + u * (self.action_high - self.action_low)

    def collect(self, until_env_steps: int, act: Actor, *, random_until: int = 0,
                should_stop: Callable[[], bool] = lambda: False) -> None:
        """Step the env until ``until_env_steps`` transitions were stored (or ``should_stop()``)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("call start() before collect()")
        while self.env_steps < until_env_steps and not should_stop():
            actions = self.random_actions(loop.num_envs) if self.env_steps < random_until else act(loop.obs)
            self.env_steps += loop.step(actions, self.label(loop.obs, actions) if self.label else None)
        finished = loop.drain()
        self.episodes_done += len(finished)
        self.finished.extend(finished)

    def drain(self) -> list[tuple[float, int]]:
        """(return, length) of the episodes finished since the last call."""
        finished, self.finished = self.finished, []
        return finished

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    # ----------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state_dict(), "env_steps": self.env_steps, "episodes_done": self.episodes_done,
                "starts": self.starts, "action_generator": self._action_generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer.load_state_dict(state["buffer"])
        self.env_steps, self.episodes_done = int(state["env_steps"]), int(state["episodes_done"])
        self.starts = int(state.get("starts", 1))
        self._action_generator.set_state(state["action_generator"])
        self._resumed = True


def collector_state(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    """The env collector's saved state in a run's checkpoint (None for an offline run)."""
    for state in checkpoint.get("sources", {}).values():
        if "buffer" in state and "env_steps" in state:
            return state
    return checkpoint.get("online")  # checkpoints written before sources existed


__all__ = ["EnvCollector", "collector_state", "env_spaces"]
