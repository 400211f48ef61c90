"""Vectorized policy evaluation: ``evaluate(policy, env, episodes, seed, num_envs)``.

The episodes run through the one episode loop, `genpolicy.tasks.rollout.run_episodes` (its
docstring has the rules: episode ``k`` is reset with ``seed + k`` whatever ``num_envs`` is,
finished sub-envs are reset individually, the policy is reset before each new episode's first
observation). This module adds what is particular to a trained policy: its sampling is seeded
from ``seed`` (`seeded_torch_rng`), dict observations are flattened in its ``obs_layout``, and
the outcome is summarized as an `EvalResult` with the task's reference scores, success and modes.

``SyncVectorEnv`` is the default: on 2 CPU cores ``AsyncVectorEnv`` was 2-7x slower for
pendulum, two-paths and pointmaze (pipe round trips cost more than these env steps; measured
with benchmarks/bench_eval.py --async). ``Evaluator`` keeps the vector env open across calls.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from genpolicy.evaluation.envs import make_vector_env, resolve_env
from genpolicy.evaluation.results import EvalResult
from genpolicy.evaluation.seeding import seeded_torch_rng
from genpolicy.evaluation.video import record_video
from genpolicy.models.base import Policy, flatten_observation
from genpolicy.tasks.base import stack_observations
from genpolicy.tasks.rollout import run_episodes


def flat_observations(observations: list[Any], layout: dict[str, list[int]] | None) -> np.ndarray:
    """One episode's raw observations -> ``[T + 1, obs_dim]`` float32, dicts flattened in the
    policy's ``layout`` (gymnasium's sorted-key order when it has none)."""
    stacked = stack_observations(observations)
    if isinstance(stacked, Mapping):
        if layout is None:
            return np.concatenate([np.asarray(stacked[k], dtype=np.float32) for k in sorted(stacked)], axis=-1)
        return flatten_observation(stacked, layout)
    return np.asarray(stacked, dtype=np.float32)


class Evaluator:
    """A vector env kept open across evaluations (env creation is not free: ~0.1 s per
    PointMaze env), e.g. for a trainer's periodic eval callback::

        with Evaluator("pointmaze-umaze", num_envs=8) as evaluator:
            for step in ...:
                result = evaluator(policy, episodes=50, seed=0)

    Every run starts with a full, seeded reset, so reusing the envs changes no result:
    ``Evaluator(env, n)(policy, episodes, seed)`` equals ``evaluate(policy, env, episodes,
    seed, n)``. The vector env is created on first use; ``close()`` (or ``with``) frees it.
    """

    def __init__(
        self,
        env: Any = None,
        num_envs: int = 8,
        *,
        policy: Policy | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
        ref_scores: tuple[float, float] | None = None,
        vectorization: Literal["sync", "async"] = "sync",
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.target = resolve_env(env, policy, env_kwargs, ref_scores)
        self.num_envs = num_envs
        self.vectorization = vectorization
        self._envs: gym.vector.VectorEnv | None = None

    def close(self) -> None:
        if self._envs is not None:
            self._envs.close()
            self._envs = None

    def __enter__(self) -> "Evaluator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __call__(
        self,
        policy: Policy,
        episodes: int = 10,
        seed: int = 0,
        video: str | Path | None = None,
        record_observations: bool = False,
        success_at: Literal["any", "last"] = "any",
        max_episode_steps: int | None = None,
    ) -> EvalResult:
        """Run exactly ``episodes`` episodes (episode ``k`` from ``reset(seed=seed + k)``)."""
        if episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {episodes}")
        target = self.target
        start = time.perf_counter()
        if self._envs is None:
            self._envs = make_vector_env(target.make_env, self.num_envs, self.vectorization)
        keep_obs = record_observations or target.num_modes > 0
        try:
            with seeded_torch_rng(seed, policy.device):
                records, saw_success = run_episodes(
                    self._envs, policy, episodes, seed,
                    max_episode_steps=max_episode_steps, success_at=success_at, keep_observations=keep_obs,
                )
        except BaseException:
            self.close()  # sub-envs may be mid-episode or broken: rebuild next time
            raise

        layout = policy.config.obs_layout
        trajectories = [flat_observations(r.observations, layout) for r in records] if keep_obs else None
        mode_ids = None
        if target.num_modes > 0:
            mode_ids = np.array([int(target.task.mode_of(traj)) for traj in trajectories], dtype=np.int64)
        has_success = target.has_success if target.has_success is not None else saw_success
        ref_min, ref_max = target.references(policy)
        result = EvalResult(
            name=target.name,
            env_id=target.env_id,
            seed=seed,
            returns=np.array([r.episode_return for r in records], dtype=np.float64),
            lengths=np.array([r.length for r in records], dtype=np.int64),
            successes=np.array([r.success for r in records], dtype=bool) if has_success else None,
            ref_min_score=ref_min,
            ref_max_score=ref_max,
            mode_ids=mode_ids,
            num_modes=target.num_modes,
            observations=trajectories if record_observations else None,
            wall_time=time.perf_counter() - start,
        )
        if video is not None:
            result.video = str(record_video(policy, target.make_env, video, seed=seed, max_steps=max_episode_steps))
        return result


def evaluate(
    policy: Policy,
    env: Any = None,
    episodes: int = 10,
    seed: int = 0,
    num_envs: int = 8,
    video: str | Path | None = None,
    record_observations: bool = False,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    ref_scores: tuple[float, float] | None = None,
    success_at: Literal["any", "last"] = "any",
    max_episode_steps: int | None = None,
    vectorization: Literal["sync", "async"] = "sync",
) -> EvalResult:
    """Run exactly ``episodes`` episodes of ``policy`` and summarize them.

    ``env``: a task name from ``genpolicy.tasks`` (reference scores, success and modes come
    from the task), a ``Task``, a gymnasium env id (a built-in task's env id is that task;
    other ids take reference scores from the policy's metadata or the known references, see
    `genpolicy.evaluation.references`), or None (the policy's metadata task or env id).
    Episode ``k`` starts from ``reset(seed=seed + k)`` whatever ``num_envs`` is.
    ``video``: also write the first episode (seed ``seed``, sampling seeded as here) as an mp4.
    ``record_observations``: keep each episode's flat observations ``[T + 1, obs_dim]``
    (dicts flattened in the policy's ``obs_layout``) in ``result.observations``.
    ``ref_scores``: ``(random, expert)`` returns to normalize with, overriding all others.
    ``success_at``: an episode succeeds if ``info["success"]``/``info["is_success"]`` is set
    at ``"any"`` of its steps or at its ``"last"`` step.
    ``max_episode_steps``: cut episodes at this length (on top of the env's own TimeLimit).
    ``vectorization``: ``"sync"`` (default, faster on few cores) or ``"async"`` (subprocesses).
    The envs are created and closed here; see :class:`Evaluator` to keep them open.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    evaluator = Evaluator(env, min(num_envs, episodes), policy=policy, env_kwargs=env_kwargs,
                          ref_scores=ref_scores, vectorization=vectorization)
    with evaluator:
        return evaluator(policy, episodes, seed, video, record_observations, success_at, max_episode_steps)
