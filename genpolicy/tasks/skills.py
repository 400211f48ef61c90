"""The skill wrappers: a skill ``z`` drawn at each episode start, appended to the observation
(as a one-hot of K skills, ``skill``, or as a unit vector of ``R^d``, ``continuous-skill``).

DIAYN-style learners condition their policy on a skill that stays fixed for an episode. Making
the skill part of the observation (instead of a side channel of the learner) means the
collector, the replay buffer, the actor and the critics all see it like any other feature, and
a run records it like any other wrapper (spec ``{"name": "skill", "skills": K}``), so
evaluation rebuilds the same env.

Seeding: a reset with a seed reseeds the wrapper's own generator from that seed, a reset
without one continues it. A vector env resets sub-env ``i`` with ``seed + i`` and evaluation
episode ``k`` with ``seed + k``, so sub-envs draw different skills and runs are reproducible.
The wrapper's generator is its own, so drawing skills leaves the wrapped env's randomness as
it was. ``skill=k`` pins the skill (every episode runs skill ``k``: per-skill rollouts).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from genpolicy.tasks.wrappers import register_wrapper

SKILL_WRAPPER = "skill"
_SALT = 0x5EED_5C11  # keeps the skill stream apart from the env's own stream of the same seed


def one_hot(skills: np.ndarray | int, num_skills: int) -> np.ndarray:
    """``[...]`` integer skills -> ``[..., num_skills]`` float32 one-hots."""
    return np.eye(num_skills, dtype=np.float32)[np.asarray(skills, dtype=np.int64)]


class _SkillInObservation(gym.Wrapper):
    """What both skill wrappers share: a flat Box observation extended by the skill's code
    ``[low, high]`` (``code_low`` / ``code_high``), a skill drawn at each reset from the
    wrapper's own seeded stream (see the module doc), or a pinned one."""

    name = ""

    def __init__(self, env: gym.Env, code_low: np.ndarray, code_high: np.ndarray) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"wrapper '{self.name}' needs a flat Box observation space, got {space}")
        low = np.concatenate([space.low.astype(np.float32), code_low.astype(np.float32)])
        high = np.concatenate([space.high.astype(np.float32), code_high.astype(np.float32)])
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self._rng: np.random.Generator | None = None

    def draw(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def code(self) -> np.ndarray:
        """The current skill as the float32 entries appended to the observation."""
        raise NotImplementedError

    def observation(self, obs: Any) -> np.ndarray:
        return np.concatenate([np.asarray(obs, dtype=np.float32).reshape(-1), self.code()])

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._rng = np.random.default_rng([int(seed), _SALT])
        elif self._rng is None:  # never seeded: derive from the env's own (seeded or entropy) stream
            self._rng = np.random.default_rng([int(self.env.np_random.integers(2**62)), _SALT])
        self.skill = self.draw(self._rng)
        return self.observation(obs), {**info, "skill": self.skill}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self.observation(obs), reward, terminated, truncated, info


class SkillWrapper(_SkillInObservation):
    """``obs -> [obs, one_hot(z)]`` with ``z ~ uniform{0..skills-1}`` drawn at each reset."""

    name = SKILL_WRAPPER

    def __init__(self, env: gym.Env, skills: int, skill: int | None = None) -> None:
        if skills < 1 or (skill is not None and not 0 <= skill < skills):
            raise ValueError(f"wrapper 'skill': need skills >= 1 and 0 <= skill < skills, got {skills}, {skill}")
        super().__init__(env, np.zeros(skills), np.ones(skills))
        self.num_skills, self.fixed_skill = int(skills), skill
        self.skill = 0

    def draw(self, rng: np.random.Generator) -> int:
        return self.fixed_skill if self.fixed_skill is not None else int(rng.integers(self.num_skills))

    def code(self) -> np.ndarray:
        return one_hot(self.skill, self.num_skills)


register_wrapper(SKILL_WRAPPER, SkillWrapper)

CONTINUOUS_SKILL_WRAPPER = "continuous-skill"


def unit_vectors(count: int, dim: int, generator: np.random.Generator) -> np.ndarray:
    """``[count, dim]`` float32 directions uniform on the unit sphere (normalized Gaussians)."""
    z = generator.standard_normal((count, dim))
    return (z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


class ContinuousSkillWrapper(_SkillInObservation):
    """``obs -> [obs, z]`` with ``z`` uniform on the unit sphere of ``R^dim`` drawn at each reset.

    METRA's continuous skills (its ``unit_length`` setting): a skill is a direction, so skills
    cannot crowd onto a few one-hot codes and every direction of the representation is asked
    for (spec ``{"name": "continuous-skill", "dim": d}``). ``skill=[...]`` pins one direction."""

    name = CONTINUOUS_SKILL_WRAPPER

    def __init__(self, env: gym.Env, dim: int, skill: Any = None) -> None:
        if dim < 1:
            raise ValueError(f"wrapper '{CONTINUOUS_SKILL_WRAPPER}': need dim >= 1, got {dim}")
        super().__init__(env, -np.ones(dim), np.ones(dim))
        self.skill_dim, self.fixed_skill = int(dim), None
        if skill is not None:
            pinned = np.asarray(skill, dtype=np.float32).reshape(-1)
            if pinned.shape != (dim,) or not np.linalg.norm(pinned) > 0:
                raise ValueError(f"wrapper '{CONTINUOUS_SKILL_WRAPPER}': skill must be a nonzero vector of "
                                 f"{dim} entries, got {skill}")
            self.fixed_skill = pinned / np.linalg.norm(pinned)
        self.skill = np.zeros(dim, np.float32)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return self.fixed_skill.copy() if self.fixed_skill is not None else unit_vectors(1, self.skill_dim, rng)[0]

    def code(self) -> np.ndarray:
        return self.skill


register_wrapper(CONTINUOUS_SKILL_WRAPPER, ContinuousSkillWrapper)

from genpolicy.tasks import skill_options as _skill_options  # noqa: E402,F401  registers 'skill-options' (hierarchy)

__all__ = ["CONTINUOUS_SKILL_WRAPPER", "ContinuousSkillWrapper", "SKILL_WRAPPER", "SkillWrapper", "one_hot",
           "unit_vectors"]
