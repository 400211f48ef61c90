"""Reference returns (random, expert) by env id, so a normalized score follows the env.

``100 (R - R_random) / (R_expert - R_random)`` needs the two reference returns. They are found
for an env id, whichever way the user named the env:

1. ``register_reference_scores(name, random, expert)``: the user's own (overrides the rest);
   ``name`` is an env id (``"Hopper-v5"``) or a body (``"hopper"``, every version).
2. genpolicy's built-in tasks, by their env id: ``Pendulum-v1`` scores exactly like ``pendulum``.
3. D4RL's published references for the MuJoCo locomotion bodies (Fu et al. 2020,
   ``d4rl/infos.py``: the random policy's and the expert SAC agent's mean returns), matched by
   body and any version, so ``Hopper-v4``, ``Hopper-v5`` and ``hopper-medium-v2`` all use the
   Hopper pair and scores compare with papers. (D4RL measured them on the mujoco-py ``-v2``
   envs; gymnasium's ``-v4``/``-v5`` bodies are the same models, so papers compare scores
   across versions this way.)
"""

from __future__ import annotations

import re

# body -> (random return, expert return), copied from D4RL's infos.py REF_MIN/MAX_SCORE.
D4RL_LOCOMOTION: dict[str, tuple[float, float]] = {
    "hopper": (-20.272305, 3234.3),
    "halfcheetah": (-280.178953, 12135.0),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
}

_registered: dict[str, tuple[float, float]] = {}


def body_of(env_id: str) -> str:
    """``"Hopper-v5"`` / ``"hopper-medium-v2"`` / ``"ns/HalfCheetah-v4"`` -> ``"hopper"`` /
    ``"hopper"`` / ``"halfcheetah"``: the part before the first dash, lower case, no namespace."""
    name = env_id.rsplit("/", 1)[-1]
    name = re.sub(r"-v\d+$", "", name)
    return name.split("-", 1)[0].lower()


def register_reference_scores(name: str, random_score: float, expert_score: float) -> None:
    """Use ``(random_score, expert_score)`` for env id or body ``name`` from now on."""
    if float(random_score) == float(expert_score):
        raise ValueError(f"reference scores must differ, got {random_score} twice")
    _registered[name] = (float(random_score), float(expert_score))


def unregister_reference_scores(name: str) -> None:
    _registered.pop(name, None)


def reference_scores(env_id: str) -> tuple[float, float] | None:
    """``(random, expert)`` returns for ``env_id`` (see the module doc for the order), or None."""
    for key in (env_id, body_of(env_id)):
        if key in _registered:
            return _registered[key]
    task = task_with_env_id(env_id)
    if task is not None:
        return float(task.ref_min_score), float(task.ref_max_score)
    return D4RL_LOCOMOTION.get(body_of(env_id))


def task_with_env_id(env_id: str):
    """The built-in task whose env is ``env_id`` (None if none is)."""
    from genpolicy.tasks import TASKS

    for task in TASKS.values():
        if task.env_id == env_id:
            return task
    return None
