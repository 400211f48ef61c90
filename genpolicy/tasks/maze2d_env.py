"""PointMaze with one fixed goal at a cell centre (D4RL maze2d's evaluation env).

Imported only when such an env is built (the gym registration names this module), because it
imports gymnasium-robotics and MuJoCo.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium_robotics.envs.maze.point_maze import PointMazeEnv

GOAL_RADIUS = 0.45  # gymnasium-robotics' success radius and sparse-reward radius


class FixedGoalPointMazeEnv(PointMazeEnv):
    """Every episode has its goal exactly at the centre of ``goal_cell`` (the stock env adds up
    to ±0.25 of noise to the goal) and starts in a random other cell, as maze2d's evaluation
    does. With ``continuing_task=True`` and ``reset_target=False`` the goal never moves and the
    sparse reward is 1 on every step the ball spends within 0.45 of it."""

    def __init__(self, goal_cell: tuple[int, int] | list[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.goal_cell = np.asarray(goal_cell, dtype=np.int64)
        self.goal_xy = self.maze.cell_rowcol_to_xy(self.goal_cell)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        options = {**(options or {}), "goal_cell": self.goal_cell}
        obs, info = super().reset(seed=seed, options=options)
        self.goal = self.goal_xy.copy()  # undo the stock goal noise: one goal for every episode
        self.update_target_site_pos()
        obs["desired_goal"] = self.goal.copy()
        info["success"] = bool(np.linalg.norm(obs["achieved_goal"] - self.goal) <= GOAL_RADIUS)
        return obs, info
