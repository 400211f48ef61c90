"""D4RL maze2d on PointMaze: a fixed evaluation goal, and stitching data that never aims at it.

Tasks ``maze2d-umaze`` / ``maze2d-medium`` (env ids ``genpolicy/Maze2d_UMaze-v3`` /
``genpolicy/Maze2d_Medium-v3``) are maze2d's evaluation setting: the goal is fixed at one cell
centre (top-left of the U; bottom-right of the medium maze), each episode starts in a random
other cell, the task is *continuing* (never terminates; time limit 300 / 600 steps, as in
maze2d) and the sparse reward is 1 on every step spent within 0.45 of the goal. The expert
(BFS waypoints + PD) reaches the goal and stays, so its return is about "steps left after
arriving".

Stitching data (maze2d's recipe, `stitch_setup`): one unbroken stream of the same planner
driving the ball to RANDOM goal cells, one after another. Each visit to a random goal is one
dataset episode; it ends in a truncation when the ball comes within 0.45 of that random goal
(the planner then draws the next one) or after the time limit. The reward is the env's own,
relative to the fixed evaluation goal, so it is paid only where a random trip happens to pass
through the evaluation goal; terminations are never set (the task is continuing). The random
goal is not in the observation (``desired_goal`` is the evaluation goal, as at evaluation), so
reaching the evaluation goal from an arbitrary start means stitching pieces of trips that were
heading elsewhere — imitation of the whole stream wanders, offline RL can stitch.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from genpolicy.tasks.base import Task
from genpolicy.tasks.pointmaze import MEDIUM_MAZE, U_MAZE, MazeExpert, MazeGrid, make_maze_task

GOAL_RADIUS = 0.45  # = genpolicy.tasks.maze2d_env.GOAL_RADIUS (that module imports MuJoCo)
GOAL_NOISE = 0.25  # random goals of the stream: cell centre +- this (the stock env's goal noise)
ENTRY_POINT = "genpolicy.tasks.maze2d_env:FixedGoalPointMazeEnv"
MAZES = {  # task name -> (env id, maze, evaluation goal cell, time limit)
    "maze2d-umaze": ("genpolicy/Maze2d_UMaze-v3", U_MAZE, (1, 1), 300),
    "maze2d-medium": ("genpolicy/Maze2d_Medium-v3", MEDIUM_MAZE, (6, 6), 600),
}
# Which maze2d task a stitching set is made for, by the task name the user collects from.
STITCH_TASK = {"pointmaze-umaze": "maze2d-umaze", "pointmaze-medium": "maze2d-medium",
               "maze2d-umaze": "maze2d-umaze", "maze2d-medium": "maze2d-medium"}


def register() -> None:
    for env_id, maze_map, goal_cell, steps in MAZES.values():
        if env_id not in gym.registry:
            gym.register(
                env_id,
                entry_point=ENTRY_POINT,
                max_episode_steps=steps,
                kwargs={"maze_map": maze_map, "goal_cell": list(goal_cell), "reward_type": "sparse",
                        "continuing_task": True, "reset_target": False},
            )


class RandomGoalStream(gym.Wrapper):
    """The ball's unbroken stream, cut into one episode per random goal (data collection only).

    The first ``reset`` resets the maze (seeded); every later ``reset`` keeps the ball where it
    is and only draws the planner's next random goal cell (seeded by the reset seed), like
    maze2d's generator, which never reset the ball between goals. ``step`` truncates when the
    ball is within `GOAL_RADIUS` of the random goal or after ``segment_steps``; it never
    terminates (the env underneath is continuing and has no time limit of its own).
    """

    def __init__(self, env: gym.Env, maze_map: list[list[int]], segment_steps: int) -> None:
        super().__init__(env)
        self.grid = MazeGrid(maze_map)
        self.free_cells = [tuple(int(v) for v in c) for c in np.argwhere(~self.grid.walls)]
        self.segment_steps = segment_steps
        self.planner_goal = np.zeros(2)
        self._obs: dict[str, np.ndarray] | None = None
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if self._obs is None:
            self._obs, info = self.env.reset(seed=seed, options=options)
        else:
            info = {"success": bool(np.linalg.norm(self._obs["achieved_goal"] - self._obs["desired_goal"]) <= GOAL_RADIUS)}
        rng = np.random.default_rng(seed)
        here = self.grid.cell_of(self._obs["achieved_goal"])
        cells = [c for c in self.free_cells if c != here]
        cell = cells[int(rng.integers(len(cells)))]
        self.planner_goal = self.grid.center_of(cell) + rng.uniform(-GOAL_NOISE, GOAL_NOISE, size=2)
        self._steps = 0
        return {k: v.copy() for k, v in self._obs.items()}, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._obs = obs
        self._steps += 1
        arrived = bool(np.linalg.norm(obs["achieved_goal"] - self.planner_goal) <= GOAL_RADIUS)
        return obs, reward, terminated, truncated or arrived or self._steps >= self.segment_steps, info


class StreamPlanner(MazeExpert):
    """maze2d's data policy: BFS waypoints + PD toward the stream's current random goal (not the
    observation's ``desired_goal``, which is the evaluation goal)."""

    name = "bfs-waypoints+pd, random goals"

    def __init__(self, maze_map: list[list[int]], stream: RandomGoalStream, seed: int = 0, noise: float = 0.0) -> None:
        super().__init__(maze_map, seed, noise)
        self.stream = stream

    def reset(self, obs: dict) -> None:
        super().reset({"desired_goal": self.stream.planner_goal})  # plan toward the stream's goal

    def plan(self, obs: dict) -> np.ndarray:
        state = np.asarray(obs["observation"], dtype=np.float64)
        pos, vel = state[:2], state[2:4]
        return self.kp * (self.target(pos, self.stream.planner_goal) - pos) - self.kd * vel


def stitch_setup(task_name: str, seed: int, noise: float) -> tuple[Task, RandomGoalStream, StreamPlanner]:
    """The evaluation task, the stream env and its planner for a stitching set on ``task_name``'s maze."""
    from genpolicy.tasks import get_task

    if task_name not in STITCH_TASK:
        raise ValueError(f"the stitch recipe needs a maze task ({', '.join(sorted(STITCH_TASK))}), got {task_name!r}")
    task = get_task(STITCH_TASK[task_name])
    maze_map = MAZES[task.name][1]
    stream = RandomGoalStream(task.make_env().unwrapped, maze_map, segment_steps=task.max_episode_steps)
    return task, stream, StreamPlanner(maze_map, stream, seed, noise)


def _make_task(name: str, ref_min: float, ref_max: float) -> Task:
    env_id, maze_map, goal_cell, steps = MAZES[name]
    description = f"D4RL maze2d: fixed goal cell {goal_cell}, random start, continuing, reward 1 per step at the goal."
    return make_maze_task(name, env_id, maze_map, steps, ref_min, ref_max, register_envs=register, description=description)


MAZE2D_UMAZE = _make_task("maze2d-umaze", 14.44, 229.60)
MAZE2D_MEDIUM = _make_task("maze2d-medium", 16.68, 473.59)
