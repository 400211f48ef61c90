"""Who labels the states DAgger visits: an expert as a batched function ``obs -> actions``.

DAgger (`genpolicy.trainers.dagger`) asks its expert for the action at every state the
learner reaches, so the expert must be a *function of the state*. A config holds only plain
values (it is saved with the run and a resume rebuilds everything from it), so the expert is
named by a string, resolved here into a `Labeler` (flat observations ``[N, obs_dim]`` in the
collector's layout -> actions ``[N, act_dim]``, numpy):

* ``"task"``: the scripted expert of the built-in task the run collects in (``--env pendulum``,
  ``pointmaze-umaze``...), noise-free, called once per row on the row unflattened to the
  task's raw observation (dicts for PointMaze);
* a directory: a saved genpolicy policy (a run directory or its ``policy/``; `load_policy`),
  e.g. a SAC agent (``genpolicy fit sac``), acting deterministically;
* ``"package.module:attribute"``: a Python callable ``obs [N, obs_dim] -> actions [N, act_dim]``
  imported by name (a resumed run imports it again);
* a name given to `register_expert` (a user's function from Python, for this process).

Experts that keep state across an episode (two-paths' per-episode choice of side) are no
DAgger experts: their label for a state depends on the history, which differs between the
expert's and the learner's rollouts. The scripted experts of pendulum and the mazes are
memoryless (the maze expert re-plans from the goal it is shown).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

Labeler = Callable[[np.ndarray], np.ndarray]
# name -> factory(env_info, obs_layout, seed) -> Labeler
_EXPERTS: dict[str, Callable[[dict[str, Any], dict[str, list[int]] | None, int], Labeler]] = {}


def register_expert(name: str, factory: Callable[..., Labeler] | Labeler, *, is_factory: bool = False) -> None:
    """Make ``expert=name`` resolve to ``factory`` (``is_factory``: called as
    ``factory(env_info, obs_layout, seed)`` to build the labeler; else it is the labeler)."""
    _EXPERTS[name] = factory if is_factory else (lambda info, layout, seed: factory)


def unflatten(obs: np.ndarray, layout: dict[str, list[int]] | None) -> Any:
    """One flat observation back to the env's raw form (a dict when the env has a layout)."""
    if layout is None:
        return obs
    return {key: obs[start:stop] for key, (start, stop) in layout.items()}


class TaskLabeler:
    """A built-in task's noise-free scripted expert, row by row (see the module doc)."""

    def __init__(self, task_name: str, obs_layout: dict[str, list[int]] | None, seed: int = 0) -> None:
        from genpolicy.tasks import get_task

        self.task = get_task(task_name)
        self.expert = self.task.make_expert(seed, 0.0)
        self.layout = obs_layout

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        return np.stack([np.asarray(self.expert.act(unflatten(row, self.layout)), dtype=np.float32).reshape(-1)
                         for row in obs])


class PolicyLabeler:
    """A saved genpolicy policy as the expert (deterministic ``act`` on a batch)."""

    def __init__(self, directory: str | Path) -> None:
        from genpolicy.models import load_policy

        self.policy = load_policy(directory).eval()
        if self.policy.config.obs_horizon > 1 or self.policy.config.action_horizon > 1:
            raise ValueError(f"{directory}: a DAgger expert must be a function of the current state; this policy "
                             f"keeps a history (obs_horizon={self.policy.config.obs_horizon}, action_horizon="
                             f"{self.policy.config.action_horizon})")

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self.policy.act(np.asarray(obs, dtype=np.float32)), dtype=np.float32)


def resolve_expert(spec: str, env_info: dict[str, Any], obs_layout: dict[str, list[int]] | None,
                   seed: int = 0) -> Labeler:
    """The labeler ``spec`` names (see the module doc); ``env_info`` is the collector's
    metadata (``task``, ``env_id``)."""
    if spec in _EXPERTS:
        return _EXPERTS[spec](env_info, obs_layout, seed)
    if spec == "task":
        task = env_info.get("task")
        if not task:
            raise ValueError(f"expert=task needs a built-in task as the env (--env pendulum, pointmaze-umaze, ...); "
                             f"got {env_info.get('env_id', 'an env')!r}: pass expert=RUN_DIR (a trained policy) or "
                             "expert=module:function")
        return TaskLabeler(task, obs_layout, seed)
    if Path(spec).expanduser().exists():
        return PolicyLabeler(Path(spec).expanduser())
    if ":" in spec:
        module, _, attribute = spec.partition(":")
        target: Any = importlib.import_module(module)
        for part in attribute.split("."):
            target = getattr(target, part)
        if not callable(target):
            raise ValueError(f"expert={spec}: {attribute} is not callable")
        return target
    raise ValueError(f"expert={spec!r}: not 'task', a policy/run directory, 'module:function' or a registered "
                     f"expert ({', '.join(sorted(_EXPERTS)) or 'none registered'})")


__all__ = ["Labeler", "PolicyLabeler", "TaskLabeler", "register_expert", "resolve_expert", "unflatten"]
