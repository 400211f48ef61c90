"""Which environment an evaluation runs: a task name, a ``Task``, a gymnasium id or the policy's.

`resolve_env` turns whatever the user named into an `EnvTarget`: how to build the env (with
the env wrappers a run recorded, `genpolicy.tasks.wrappers`), the task behind it (success
flag, behaviour modes) when there is one, and the reference returns for normalized scores. An env id that belongs to a built-in task IS that task (``Pendulum-v1``
evaluates and scores exactly like ``pendulum``); reference returns follow the env id, see
`genpolicy.evaluation.references`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import gymnasium as gym

from genpolicy.evaluation.references import reference_scores, task_with_env_id
from genpolicy.models.base import Policy
from genpolicy.tasks.rollout import make_vector_env
from genpolicy.tasks.wrappers import normalize_specs, wrapped_maker

__all__ = ["EnvTarget", "make_by_id", "make_vector_env", "policy_reference_scores", "resolve_env"]

NO_ENV = (
    "no env given and the policy's metadata names no task or env_id: "
    "pass --env TASK_OR_ENV_ID (a task from `genpolicy tasks` or a gymnasium id, e.g. --env Hopper-v5)"
)


@dataclass
class EnvTarget:
    """What ``evaluate`` needs to know about the environment it runs.

    ``fixed_refs``: the reference returns were chosen for this target (passed explicitly, or
    the task was named) and no policy's metadata may replace them.
    """

    name: str
    env_id: str
    make_env: Callable[..., gym.Env]
    task: Any | None = None
    ref_min_score: float | None = None
    ref_max_score: float | None = None
    fixed_refs: bool = False
    wrappers: list[dict[str, Any]] = field(default_factory=list)  # env wrapper specs applied by make_env

    @property
    def num_modes(self) -> int:
        """Behaviour modes worth counting (a task with one mode has nothing to count: 0)."""
        modes = int(getattr(self.task, "num_modes", 0) or 0)
        return modes if modes > 1 else 0

    @property
    def has_success(self) -> bool | None:
        return getattr(self.task, "has_success", None)

    def references(self, policy: Policy | None) -> tuple[float | None, float | None]:
        """Reference returns for an evaluation of ``policy``: fixed ones, else the policy's own
        (its data recorded them for this very env id), else those known for the env id."""
        if not self.fixed_refs:
            own = policy_reference_scores(policy, self.env_id)
            if own is not None:
                return own
        return self.ref_min_score, self.ref_max_score


def make_by_id(env_id: str, **kwargs: Any) -> gym.Env:
    """``gym.make`` that also knows gymnasium-robotics ids (registered on first need)."""
    if env_id not in gym.registry:
        try:
            import gymnasium_robotics

            gym.register_envs(gymnasium_robotics)
        except ImportError:
            pass
    return gym.make(env_id, **kwargs)


def policy_reference_scores(policy: Policy | None, env_id: str) -> tuple[float, float] | None:
    """Reference returns from the policy's metadata, if it was trained on ``env_id``."""
    metadata = getattr(getattr(policy, "config", None), "metadata", None) or {}
    if metadata.get("env_id") not in (None, env_id):
        return None
    low, high = metadata.get("ref_min_score"), metadata.get("ref_max_score")
    return None if low is None or high is None else (float(low), float(high))


def _task_named(name: str) -> Any | None:
    from genpolicy.tasks import TASKS

    return TASKS.get(name)


def resolve_env(
    env: Any,
    policy: Policy | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    ref_scores: tuple[float, float] | None = None,
    wrappers: list[Any] | None = None,
) -> EnvTarget:
    """A task name, a ``Task``, a gymnasium env id or ``None`` -> :class:`EnvTarget`.

    ``None`` takes the task (or env id) the policy was trained for from
    ``policy.config.metadata``. Reference returns, first found wins: ``ref_scores``; the task
    when one was named; the policy's metadata when it was trained on this env id; the
    references known for the env id (built-in tasks by env id, D4RL locomotion bodies, user
    registrations).

    ``wrappers``: env wrapper specs to apply; None takes the policy's recorded
    ``metadata["env_wrappers"]`` (none for a policy without them).
    """
    metadata = dict(getattr(getattr(policy, "config", None), "metadata", None) or {})
    if env is None:
        env = metadata.get("task") or metadata.get("env_id")
        if env is None:
            raise ValueError(NO_ENV)
    kwargs = dict(env_kwargs or {})

    if hasattr(env, "make_env"):
        task, named = env, True
    elif isinstance(env, str):
        task, named = _task_named(env), True
        if task is None:
            task, named = task_with_env_id(env), False
    else:
        raise TypeError(f"env must be a task name, a Task or a gymnasium env id, got {type(env).__name__}")

    if task is not None:
        target = EnvTarget(
            name=task.name,
            env_id=str(getattr(task, "env_id", task.name)),
            make_env=partial(task.make_env, **kwargs) if kwargs else task.make_env,
            task=task,
            ref_min_score=getattr(task, "ref_min_score", None),
            ref_max_score=getattr(task, "ref_max_score", None),
            fixed_refs=named,
        )
    else:
        known = reference_scores(env)
        target = EnvTarget(name=env, env_id=env, make_env=partial(make_by_id, env, **kwargs))
        target.ref_min_score, target.ref_max_score = known if known is not None else (None, None)
    target.ref_min_score, target.ref_max_score = target.references(policy)
    target.wrappers = normalize_specs(metadata.get("env_wrappers") if wrappers is None else wrappers)
    target.make_env = wrapped_maker(target.make_env, target.wrappers)
    if ref_scores is not None:
        target.ref_min_score, target.ref_max_score = map(float, ref_scores)
        target.fixed_refs = True
    return target
