"""Point2D with goals: the sparse-reward task on which discovered skills are put to use.

Env ``genpolicy/Point2DGoals-v0`` (registered with `genpolicy.tasks.point2d`): the point2d world
(start at the centre of ``[-1, 1]^2``, steps of ``0.05 * action``, 50-step episodes), plus a goal
drawn uniformly per episode from 24 goals, the 5 x 5 grid ``{-0.8, -0.4, 0, 0.4, 0.8}^2`` without
its centre (the start). Observation ``[x, y, goal_x, goal_y]``; reward 1 and termination (with
``info["success"] = True``) when the point comes within ``SUCCESS_RADIUS`` = 0.1 of the goal,
reward 0 otherwise. Sparse on purpose: a uniform-random walk drifts ~0.35 from the centre in 50
steps and almost never reaches the outer ring (distance 0.8 - 1.13), so this tests exploration,
which is what pre-trained skills should bring.

The first two observation entries are the point2d observation, so a skill policy trained on
point2d acts on ``obs[:2]`` (the ``skill-options`` wrapper, `genpolicy.tasks.skill_options`).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from genpolicy.tasks.point2d import BOUND, START, STEP

GOALS_ENV_ID = "genpolicy/Point2DGoals-v0"
SUCCESS_RADIUS = 0.1
GOALS = np.array([(x, y) for x in (-0.8, -0.4, 0.0, 0.4, 0.8) for y in (-0.8, -0.4, 0.0, 0.4, 0.8)
                  if (x, y) != (0.0, 0.0)], dtype=np.float64)


class Point2DGoalsEnv(gym.Env):
    metadata = {"render_modes": [], "render_fps": 10}

    def __init__(self) -> None:
        low = np.full(4, -BOUND, np.float32)
        self.observation_space = gym.spaces.Box(low, -low, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.pos, self.goal = START.copy(), GOALS[0].copy()

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.pos, self.goal]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.pos = START.copy()
        index = (options or {}).get("goal")
        self.goal = GOALS[int(self.np_random.integers(len(GOALS))) if index is None else int(index)].copy()
        return self._obs(), {"goal": self.goal.copy()}

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self.pos = np.clip(self.pos + STEP * action, -BOUND, BOUND)
        success = bool(np.linalg.norm(self.pos - self.goal) <= SUCCESS_RADIUS)
        return self._obs(), float(success), success, False, {"success": success}


__all__ = ["GOALS", "GOALS_ENV_ID", "Point2DGoalsEnv", "SUCCESS_RADIUS"]
