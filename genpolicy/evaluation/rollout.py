"""Vectorized policy evaluation: ``evaluate(policy, env, episodes, seed, num_envs)``.

How the episodes are run (gymnasium 1.x vector envs):

* The vector env uses ``AutoresetMode.DISABLED``: when a sub-env finishes, its step output
  is the true final observation/info (no ``final_obs``/``final_info`` indirection and no
  ignored "reset step"), and we reset exactly the finished sub-envs ourselves with
  ``reset(seed=..., options={"reset_mask": done})``.
* Episode ``k`` always starts from ``reset(seed=seed + k)`` whichever sub-env runs it, so
  returns do not depend on ``num_envs`` (for a deterministic policy). Sub-envs take the next
  unstarted episode when they finish; once all episodes are handed out, finished sub-envs
  idle (they are still stepped, since a vector env steps all, but nothing is counted).
* ``policy.reset()`` at the start and ``policy.reset(done_mask)`` after every finish, before
  the reset observation of the next episode is fed to the policy.
* Success of an episode: ``info["success"]`` (or ``info["is_success"]``) read through the
  vector env's ``_success`` mask, at any step of the episode (``success_at="any"``, right for
  PointMaze whose goal is re-sampled on success) or at its last step (``success_at="last"``).

``SyncVectorEnv`` is the default: on 2 CPU cores ``AsyncVectorEnv`` was 2-7x slower for
pendulum, two-paths and pointmaze (pipe round trips cost more than these env steps; measured
with benchmarks/bench_eval.py --async). ``Evaluator`` keeps the vector env open across calls.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Literal

import gymnasium as gym
import numpy as np
import torch

from genpolicy.evaluation.multimodality import ModeStats
from genpolicy.evaluation.scores import normalized_score as _normalized_score
from genpolicy.models.base import Policy, flatten_observation


# --------------------------------------------------------------------------- targets
@dataclass
class EnvTarget:
    """What ``evaluate`` needs to know about the environment it runs."""

    name: str
    env_id: str
    make_env: Callable[..., gym.Env]
    task: Any | None = None
    ref_min_score: float | None = None
    ref_max_score: float | None = None

    @property
    def num_modes(self) -> int:
        """Behaviour modes worth counting (a task with one mode has nothing to count: 0)."""
        modes = int(getattr(self.task, "num_modes", 0) or 0)
        return modes if modes > 1 else 0

    @property
    def has_success(self) -> bool | None:
        return getattr(self.task, "has_success", None)


def _task_registry() -> tuple[Callable[[str], Any], Callable[[], list[str]]] | None:
    try:
        from genpolicy.tasks import get_task, list_tasks
    except ImportError:
        return None
    return get_task, list_tasks


def make_by_id(env_id: str, **kwargs: Any) -> gym.Env:
    """``gym.make`` that also knows gymnasium-robotics ids (registered on first need)."""
    if env_id not in gym.registry:
        try:
            import gymnasium_robotics

            gym.register_envs(gymnasium_robotics)
        except ImportError:
            pass
    return gym.make(env_id, **kwargs)


def _metadata_refs(policy: Policy | None, env_id: str) -> tuple[float | None, float | None]:
    """Reference scores from the policy's metadata, if it was trained on ``env_id``."""
    metadata = getattr(getattr(policy, "config", None), "metadata", None) or {}
    if metadata.get("env_id") not in (None, env_id):
        return None, None
    return metadata.get("ref_min_score"), metadata.get("ref_max_score")


def resolve_env(
    env: Any,
    policy: Policy | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    ref_scores: tuple[float, float] | None = None,
) -> EnvTarget:
    """A task name, a ``Task``, a gymnasium env id or ``None`` -> :class:`EnvTarget`.

    ``None`` takes the task (or env id) the policy was trained for from
    ``policy.config.metadata``. For a plain env id the reference scores come from the
    policy's metadata when it was trained on that same env id; ``ref_scores`` overrides both.
    """
    metadata = dict(getattr(getattr(policy, "config", None), "metadata", None) or {})
    if env is None:
        env = metadata.get("task") or metadata.get("env_id")
        if env is None:
            raise ValueError("no env given and the policy's metadata names no task or env_id")
    kwargs = dict(env_kwargs or {})

    task = None
    if hasattr(env, "make_env"):
        task = env
    elif isinstance(env, str):
        registry = _task_registry()
        if registry is not None and env in registry[1]():
            task = registry[0](env)
    elif not isinstance(env, str):
        raise TypeError(f"env must be a task name, a Task or a gymnasium env id, got {type(env).__name__}")

    if task is not None:
        target = EnvTarget(
            name=task.name,
            env_id=str(getattr(task, "env_id", task.name)),
            make_env=partial(task.make_env, **kwargs) if kwargs else task.make_env,
            task=task,
            ref_min_score=getattr(task, "ref_min_score", None),
            ref_max_score=getattr(task, "ref_max_score", None),
        )
    else:
        target = EnvTarget(name=env, env_id=env, make_env=partial(make_by_id, env, **kwargs))
        target.ref_min_score, target.ref_max_score = _metadata_refs(policy, env)
    if ref_scores is not None:
        target.ref_min_score, target.ref_max_score = map(float, ref_scores)
    return target


def make_vector_env(
    make_env: Callable[..., gym.Env], num_envs: int, vectorization: Literal["sync", "async"] = "sync"
) -> gym.vector.VectorEnv:
    """``num_envs`` copies in a vector env with autoreset disabled (``evaluate`` resets)."""
    fns = [make_env] * num_envs
    mode = gym.vector.AutoresetMode.DISABLED
    if vectorization == "sync":
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)
    if vectorization == "async":
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=mode)
    raise ValueError(f"vectorization must be 'sync' or 'async', got {vectorization!r}")


# --------------------------------------------------------------------------- result
def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@contextlib.contextmanager
def seeded_torch_rng(seed: int, device: torch.device):
    """Seed torch's global RNG (CPU, and ``device`` if CUDA) for the block, then restore the
    caller's state: stochastic policies sample repeatably without disturbing anyone else."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


@dataclass
class EvalResult:
    """Per-episode outcomes of one ``evaluate`` call (episode ``k`` was seeded ``seed + k``)."""

    name: str
    env_id: str
    seed: int
    returns: np.ndarray  # [E] float64
    lengths: np.ndarray  # [E] int64
    successes: np.ndarray | None = None  # [E] bool, None when the env reports no success
    ref_min_score: float | None = None
    ref_max_score: float | None = None
    mode_ids: np.ndarray | None = None  # [E] int, -1 = undetermined; None when no modes
    num_modes: int = 0
    observations: list[np.ndarray] | None = field(default=None, repr=False)  # E x [T_k+1, obs_dim]
    video: str | None = None
    wall_time: float = 0.0
    modes: ModeStats | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.mode_ids is not None and self.num_modes > 0:
            self.modes = ModeStats.from_ids(self.mode_ids, self.num_modes)

    # ---------------------------------------------------------- summaries
    @property
    def episodes(self) -> int:
        return int(self.returns.size)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        """Population std (ddof=0) over episodes."""
        return float(np.std(self.returns))

    @property
    def mean_length(self) -> float:
        return float(np.mean(self.lengths))

    @property
    def normalized_scores(self) -> np.ndarray | None:
        """Per-episode ``100 (R - ref_min) / (ref_max - ref_min)``; None without references."""
        if self.ref_min_score is None or self.ref_max_score is None:
            return None
        return _normalized_score(self.returns, self.ref_min_score, self.ref_max_score)

    @property
    def normalized_score(self) -> float | None:
        """Normalized mean return (= mean of the per-episode normalized scores)."""
        scores = self.normalized_scores
        return None if scores is None else float(np.mean(scores))

    @property
    def success_rate(self) -> float | None:
        return None if self.successes is None else float(np.mean(self.successes))

    @property
    def mode_fractions(self) -> np.ndarray | None:
        return None if self.modes is None else self.modes.fractions

    @property
    def mode_entropy(self) -> float | None:
        return None if self.modes is None else self.modes.entropy

    @property
    def env_steps_per_second(self) -> float:
        return float(self.lengths.sum() / self.wall_time) if self.wall_time > 0 else math.nan

    # ---------------------------------------------------------- output
    def to_dict(self, per_episode: bool = True) -> dict[str, Any]:
        """JSON-ready summary (NaN -> None); trajectories are never included."""
        out: dict[str, Any] = {
            "name": self.name,
            "env_id": self.env_id,
            "seed": self.seed,
            "episodes": self.episodes,
            "mean_return": self.mean_return,
            "std_return": self.std_return,
            "mean_length": self.mean_length,
            "normalized_score": self.normalized_score,
            "success_rate": self.success_rate,
            "ref_min_score": self.ref_min_score,
            "ref_max_score": self.ref_max_score,
            "modes": None if self.modes is None else self.modes.to_dict(),
            "video": self.video,
            "wall_time": self.wall_time,
            "env_steps_per_second": self.env_steps_per_second,
        }
        if per_episode:
            out["returns"] = self.returns
            out["lengths"] = self.lengths
            out["normalized_scores"] = self.normalized_scores
            out["successes"] = self.successes
            out["mode_ids"] = self.mode_ids
        return _jsonable(out)

    def table(self) -> str:
        """A few aligned lines for a terminal or a log."""
        rows = [
            ("episodes", f"{self.episodes} (seeds {self.seed}..{self.seed + self.episodes - 1})"),
            ("return", f"{self.mean_return:.2f} ± {self.std_return:.2f}"),
            ("length", f"{self.mean_length:.1f}"),
        ]
        if self.normalized_score is not None:
            rows.append(("normalized score", f"{self.normalized_score:.1f}"))
        if self.success_rate is not None:
            rows.append(("success rate", f"{100 * self.success_rate:.1f}%"))
        if self.modes is not None:
            fractions = ", ".join(f"{f:.2f}" for f in self.modes.fractions)
            rows.append(("mode fractions", f"[{fractions}] undetermined {100 * self.modes.undetermined_fraction:.0f}%"))
            rows.append(("mode entropy", f"{abs(self.modes.entropy):.3f} (normalized)"))
        if self.video:
            rows.append(("video", self.video))
        width = max(len(key) for key, _ in rows)
        title = self.name if self.name == self.env_id else f"{self.name} ({self.env_id})"
        return "\n".join([title] + [f"  {key:<{width}}  {value}" for key, value in rows])


def results_table(results: Mapping[str, EvalResult]) -> str:
    """Markdown table, one row per named result (policy, algorithm, checkpoint...). ``modes``
    is the fraction of episodes that ended in each mode (e.g. left / right of an obstacle)."""
    header = "| run | env | episodes | return | normalized | success | modes | mode entropy |"
    lines = [header, "|" + "---|" * 8]
    for run, r in results.items():
        norm = "—" if r.normalized_score is None else f"{r.normalized_score:.1f}"
        succ = "—" if r.success_rate is None else f"{100 * r.success_rate:.0f}%"
        modes = "—" if r.modes is None else " / ".join(f"{f:.2f}" for f in r.modes.fractions)
        ent = "—" if r.mode_entropy is None or math.isnan(r.mode_entropy) else f"{abs(r.mode_entropy):.2f}"
        lines.append(
            f"| {run} | {r.name} | {r.episodes} | {r.mean_return:.1f} ± {r.std_return:.1f} | {norm} | {succ} | {modes} | {ent} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- evaluate
def _success_flags(info: Mapping[str, Any], num_envs: int) -> np.ndarray | None:
    """This step's success per sub-env from a vector info dict, or None if not reported."""
    for key in ("success", "is_success"):
        if key in info:
            flags = np.asarray(info[key]).astype(bool).reshape(num_envs)
            present = info.get(f"_{key}")
            return flags if present is None else flags & np.asarray(present, dtype=bool)
    return None


def _flat(obs: Any, layout: dict[str, list[int]] | None) -> np.ndarray:
    if isinstance(obs, Mapping):
        if layout is None:  # no layout: gymnasium's Dict order (sorted keys)
            return np.concatenate([np.asarray(obs[k], dtype=np.float32) for k in sorted(obs)], axis=-1)
        return flatten_observation(obs, layout)
    return np.asarray(obs, dtype=np.float32)


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
        self._fixed_refs = ref_scores is not None or self.target.task is not None
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
        if success_at not in ("any", "last"):
            raise ValueError(f"success_at must be 'any' or 'last', got {success_at!r}")
        target = self.target
        refs = (target.ref_min_score, target.ref_max_score)
        if not self._fixed_refs:  # plain env id: this policy's metadata may know the references
            refs = _metadata_refs(policy, target.env_id)
        start = time.perf_counter()
        if self._envs is None:
            self._envs = make_vector_env(target.make_env, self.num_envs, self.vectorization)
        envs, n = self._envs, self.num_envs

        keep_obs = record_observations or target.num_modes > 0
        layout = policy.config.obs_layout
        returns = np.zeros(episodes, dtype=np.float64)
        lengths = np.zeros(episodes, dtype=np.int64)
        successes = np.zeros(episodes, dtype=bool)
        trajectories: list[np.ndarray | None] = [None] * episodes

        slot = np.where(np.arange(n) < episodes, np.arange(n), -1)  # episode per sub-env; -1 idle
        next_episode = min(n, episodes)
        finished = 0
        ep_return = np.zeros(n, dtype=np.float64)
        ep_length = np.zeros(n, dtype=np.int64)
        ep_success = np.zeros(n, dtype=bool)
        saw_success = False

        # Stochastic policies draw from torch's global RNG: seed it from ``seed`` inside a fork,
        # so an evaluation is repeatable and the caller's RNG stream is left untouched.
        with seeded_torch_rng(seed, policy.device):
            try:
                policy.reset()
                obs, _ = envs.reset(seed=[seed + i if i < episodes else None for i in range(n)])
                if keep_obs:
                    flat = _flat(obs, layout)
                    buffers: list[list[np.ndarray]] = [[flat[i]] for i in range(n)]
                while True:
                    obs, reward, terminated, truncated, info = envs.step(policy.act(obs))
                    policy.observe_reward(reward)
                    ep_return += reward
                    ep_length += 1
                    flags = _success_flags(info, n)
                    if flags is not None:
                        saw_success = True
                        ep_success = (ep_success | flags) if success_at == "any" else flags
                    elif success_at == "last":
                        ep_success[:] = False
                    done = np.logical_or(terminated, truncated)
                    if max_episode_steps is not None:
                        done |= ep_length >= max_episode_steps
                    if keep_obs:
                        flat = _flat(obs, layout)
                        for i in np.flatnonzero(slot >= 0):
                            buffers[i].append(flat[i])
                    if not done.any():
                        continue

                    reset_seeds: list[int | None] = [None] * n
                    for i in np.flatnonzero(done):
                        k = slot[i]
                        if k >= 0:
                            returns[k], lengths[k], successes[k] = ep_return[i], ep_length[i], ep_success[i]
                            if keep_obs:
                                trajectories[k] = np.stack(buffers[i])
                            finished += 1
                        if next_episode < episodes:
                            slot[i] = next_episode
                            reset_seeds[i] = seed + next_episode
                            next_episode += 1
                        else:
                            slot[i] = -1  # idle: still reset (a vector env steps all), never counted
                    if finished == episodes:
                        break
                    ep_return[done] = 0.0
                    ep_length[done] = 0
                    ep_success[done] = False
                    policy.reset(done)
                    obs, _ = envs.reset(seed=reset_seeds, options={"reset_mask": done.copy()})
                    if keep_obs:
                        flat = _flat(obs, layout)
                        for i in np.flatnonzero(done):
                            buffers[i] = [flat[i]]
            except BaseException:
                self.close()  # sub-envs may be mid-episode or broken: rebuild next time
                raise
            finally:
                policy.reset()

        mode_ids = None
        if target.num_modes > 0:
            mode_ids = np.array([int(target.task.mode_of(traj)) for traj in trajectories], dtype=np.int64)
        has_success = target.has_success if target.has_success is not None else saw_success
        result = EvalResult(
            name=target.name,
            env_id=target.env_id,
            seed=seed,
            returns=returns,
            lengths=lengths,
            successes=successes if has_success else None,
            ref_min_score=refs[0],
            ref_max_score=refs[1],
            mode_ids=mode_ids,
            num_modes=target.num_modes,
            observations=list(trajectories) if record_observations else None,  # type: ignore[arg-type]
            wall_time=time.perf_counter() - start,
        )
        if video is not None:
            from genpolicy.evaluation.video import record_video

            path = record_video(policy, target.make_env, video, seed=seed, max_steps=max_episode_steps)
            result.video = str(path)
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
    from the task), a ``Task``, a gymnasium env id, or None (the policy's metadata task).
    Episode ``k`` starts from ``reset(seed=seed + k)`` whatever ``num_envs`` is.
    ``video``: also write the first episode (seed ``seed``) as an mp4 at this path.
    ``record_observations``: keep each episode's flat observations ``[T + 1, obs_dim]``
    (dicts flattened in the policy's ``obs_layout``) in ``result.observations``.
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
