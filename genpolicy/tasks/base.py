"""What a built-in task is: an environment, a scripted expert, and the numbers to score against.

A `Task` bundles everything the rest of genpolicy needs to collect data and evaluate a policy on
one environment without knowing anything about it: how to build the env, how to build an expert
that solves it, the reference returns used for normalized scores, and (for 2-D tasks) how to
draw trajectories. Experts act on ONE env with its raw observations (dicts stay dicts); they are
plain numpy so data collection never touches torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from genpolicy.tasks.rollout import EpisodeRecord, row, run_episodes


@runtime_checkable
class Expert(Protocol):
    """A scripted controller for one env. `reset` is called with the first observation."""

    def reset(self, obs: Any) -> None: ...

    def act(self, obs: Any) -> np.ndarray: ...


class ScriptedExpert:
    """Base for scripted experts: subclasses write `plan(obs)`, this adds the noise.

    Noise is Gaussian with std ``noise`` on every action dimension, drawn from a generator seeded
    once at construction, then the action is clipped to the action bounds. Same seed and same
    observations give the same actions.
    """

    name = "scripted"

    def __init__(self, seed: int, noise: float, low: np.ndarray, high: np.ndarray) -> None:
        self.rng = np.random.default_rng(seed)
        self.noise = float(noise)
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)

    def reset(self, obs: Any) -> None:  # most experts are memoryless
        pass

    def plan(self, obs: Any) -> np.ndarray:
        raise NotImplementedError

    def act(self, obs: Any) -> np.ndarray:
        action = np.asarray(self.plan(obs), dtype=np.float64).reshape(self.low.shape)
        if self.noise > 0:
            action = action + self.noise * self.rng.standard_normal(action.shape)
        return np.clip(action, self.low, self.high).astype(np.float32)


class RandomExpert:
    """Uniform random actions: the policy behind every ``ref_min_score``."""

    name = "uniform-random"

    def __init__(self, action_space: gym.spaces.Box, seed: int) -> None:
        self.space = action_space
        self.rng = np.random.default_rng(seed)

    def reset(self, obs: Any) -> None:
        pass

    def act(self, obs: Any) -> np.ndarray:
        low, high = self.space.low, self.space.high
        return self.rng.uniform(low, high).astype(self.space.dtype)


def _one_mode(observations: np.ndarray) -> int:
    return 0


def _no_plane(*args: Any) -> Any:
    raise NotImplementedError("this task has no 2-D picture (xy_of / plot_background)")


@dataclass(frozen=True)
class Task:
    """A built-in task. Scores are undiscounted episode returns of ``make_env()`` episodes.

    ``ref_min_score`` / ``ref_max_score`` are the MEASURED mean returns of a uniform random
    policy and of the noise-free expert (see ``benchmarks/reference_scores.py``), so a
    normalized score of 100 means "as good as the scripted expert".

    ``mode_of(observations)`` takes one episode's flat observations ``[T, obs_dim]`` and names
    the behaviour mode it followed (``0 .. num_modes-1``; ``-1`` when it cannot tell).
    ``xy_of`` maps flat observations ``[..., obs_dim]`` to a position in the plane ``[..., 2]``
    and ``plot_background(ax)`` draws the walls/obstacles of that plane on a matplotlib axis.
    """

    name: str
    env_id: str
    make_env: Callable[..., gym.Env]
    make_expert: Callable[[int, float], Expert]
    ref_min_score: float
    ref_max_score: float
    max_episode_steps: int
    expert_name: str = "scripted"
    has_success: bool = False
    num_modes: int = 1
    mode_of: Callable[[np.ndarray], int] = field(default=_one_mode)
    xy_of: Callable[[np.ndarray], np.ndarray] = field(default=_no_plane)
    plot_background: Callable[[Any], None] = field(default=_no_plane)
    description: str = ""

    def normalized_score(self, episode_return: float | np.ndarray) -> float | np.ndarray:
        """100 * (R - R_random) / (R_expert - R_random)."""
        return 100.0 * (episode_return - self.ref_min_score) / (self.ref_max_score - self.ref_min_score)


def success_of(info: dict[str, Any]) -> bool:
    """Success flag as gymnasium(-robotics) envs report it: ``success`` or ``is_success``."""
    return bool(info.get("success", info.get("is_success", False)))


def stack_observations(observations: list[Any]) -> Any:
    """List of T+1 raw observations -> one array ``[T+1, ...]`` (or a dict of such arrays)."""
    if isinstance(observations[0], dict):
        return {key: np.stack([np.asarray(o[key]) for o in observations]) for key in observations[0]}
    return np.stack([np.asarray(o) for o in observations])


class ExpertActor:
    """Experts (one raw observation each) as a batched actor for `run_episodes`.

    Sub-env ``i`` is driven by ``experts[i]``. An expert's ``reset`` needs the episode's first
    observation, which the loop only has after it reset the sub-env, so a reset is noted here
    and handed to the expert with the next observation of that sub-env.
    """

    def __init__(self, experts: list[Expert]) -> None:
        self.experts = list(experts)
        self.pending = np.ones(len(self.experts), dtype=bool)

    def reset(self, mask: np.ndarray | None = None) -> None:
        self.pending |= True if mask is None else np.asarray(mask, dtype=bool)

    def act(self, obs: Any) -> np.ndarray:
        actions = []
        for i, expert in enumerate(self.experts):
            obs_i = row(obs, i)
            if self.pending[i]:
                expert.reset(obs_i)
                self.pending[i] = False
            actions.append(np.asarray(expert.act(obs_i)))
        return np.stack(actions)


def episode_dict(record: EpisodeRecord) -> dict:
    """A recorded episode in the collector's format (see `rollout`)."""
    return {
        "observations": stack_observations(record.observations),
        "actions": np.stack(record.actions).astype(np.float32).reshape(record.length, -1),
        "rewards": np.asarray(record.rewards, dtype=np.float64),
        "terminations": np.asarray(record.terminations, dtype=bool),
        "truncations": np.asarray(record.truncations, dtype=bool),
        "infos": {"success": np.asarray(record.step_successes, dtype=bool)},
        "success": record.success,
    }


def rollout(env: gym.Env, expert: Expert, seed: int | None = None) -> dict:
    """Run one episode of ``expert`` in ``env`` (reset with ``seed``) through the shared episode
    loop (`genpolicy.tasks.rollout.run_episodes`) and return it in the collector's format.

    Keys: ``observations`` (T+1 raw observations, stacked; dicts stay dicts), ``actions [T, A]``,
    ``rewards [T]``, ``terminations [T]``, ``truncations [T]``, ``success`` (bool: the last
    step's info said so) and ``infos`` (``{"success": [T+1]}``, including the reset info).
    ``env`` stays open: the one-env vector wrapper around it is not closed.
    """
    envs = gym.vector.SyncVectorEnv([lambda: env], autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    (record,), _ = run_episodes(
        envs, ExpertActor([expert]), 1, seed=seed, success_at="last", keep_observations=True, keep_transitions=True
    )
    return episode_dict(record)
