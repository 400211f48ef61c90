"""The skill wrapper: a skill ``z`` drawn at each episode start, appended to the observation as a one-hot.

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


class SkillWrapper(gym.Wrapper):
    """``obs -> [obs, one_hot(z)]`` with ``z ~ uniform{0..skills-1}`` drawn at each reset."""

    def __init__(self, env: gym.Env, skills: int, skill: int | None = None) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"wrapper 'skill' needs a flat Box observation space, got {space}")
        if skills < 1 or (skill is not None and not 0 <= skill < skills):
            raise ValueError(f"wrapper 'skill': need skills >= 1 and 0 <= skill < skills, got {skills}, {skill}")
        self.num_skills, self.fixed_skill = int(skills), skill
        low = np.concatenate([space.low.astype(np.float32), np.zeros(skills, np.float32)])
        high = np.concatenate([space.high.astype(np.float32), np.ones(skills, np.float32)])
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.skill = 0
        self._rng: np.random.Generator | None = None

    def observation(self, obs: Any) -> np.ndarray:
        return np.concatenate([np.asarray(obs, dtype=np.float32).reshape(-1), one_hot(self.skill, self.num_skills)])

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._rng = np.random.default_rng([int(seed), _SALT])
        elif self._rng is None:  # never seeded: derive from the env's own (seeded or entropy) stream
            self._rng = np.random.default_rng([int(self.env.np_random.integers(2**62)), _SALT])
        self.skill = self.fixed_skill if self.fixed_skill is not None else int(self._rng.integers(self.num_skills))
        return self.observation(obs), {**info, "skill": self.skill}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self.observation(obs), reward, terminated, truncated, info


register_wrapper(SKILL_WRAPPER, SkillWrapper)

from genpolicy.tasks import skill_options as _skill_options  # noqa: E402,F401  registers 'skill-options' (hierarchy)

__all__ = ["SKILL_WRAPPER", "SkillWrapper", "one_hot"]
