"""PointMaze (gymnasium-robotics) with D4RL maze2d's planner + PD waypoint expert.

The stock ``PointMaze_*-v3`` envs are *continuing* tasks: reaching the goal never ends the
episode and the sparse reward is paid on every step spent there. We register episodic twins,
``genpolicy/PointMaze_UMaze-v3`` and ``genpolicy/PointMaze_Medium-v3`` (same maze, same sparse
reward, ``continuing_task=False``): the episode terminates on the step the ball comes within 0.45
of the goal, so the return is 1 for success and 0 for failure, and the env id alone rebuilds the
exact env (kwargs live in the registration, hence in the Minari ``env_spec``).

Expert (as in D4RL's maze2d data): shortest path over the maze grid by BFS from the goal cell,
then a PD controller toward the centre of the next cell on that path (the goal itself once in
the goal cell): ``a = clip(kp (target - pos) - kd vel)``.

Dict observations are kept raw by the env and the expert. Flat observations (``xy_of``) follow
genpolicy's flattening order (`genpolicy.datasets.minari_io.flatten_observation_keys`):
observation[0:4] (= x, y, vx, vy), achieved_goal[4:6], desired_goal[6:8].
"""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np

from genpolicy.tasks.base import ScriptedExpert, Task

# Copies of gymnasium_robotics.envs.maze.maps.U_MAZE / MEDIUM_MAZE (1 = wall), so the expert and
# the plots need no mujoco import. tests/test_tasks.py checks they equal the env's own maps.
U_MAZE = [
    [1, 1, 1, 1, 1],
    [1, 0, 0, 0, 1],
    [1, 1, 1, 0, 1],
    [1, 0, 0, 0, 1],
    [1, 1, 1, 1, 1],
]
MEDIUM_MAZE = [
    [1, 1, 1, 1, 1, 1, 1, 1],
    [1, 0, 0, 1, 1, 0, 0, 1],
    [1, 0, 0, 1, 0, 0, 0, 1],
    [1, 1, 0, 0, 0, 1, 1, 1],
    [1, 0, 0, 1, 0, 0, 0, 1],
    [1, 0, 1, 0, 0, 1, 0, 1],
    [1, 0, 0, 0, 1, 0, 0, 1],
    [1, 1, 1, 1, 1, 1, 1, 1],
]
ENTRY_POINT = "gymnasium_robotics.envs.maze.point_maze:PointMazeEnv"


class MazeGrid:
    """Cell <-> plane conversions (same formulas as gymnasium_robotics ``Maze``, scaling 1)."""

    def __init__(self, maze_map: list[list[int]], scaling: float = 1.0) -> None:
        self.walls = np.asarray(maze_map) == 1
        self.rows, self.cols = self.walls.shape
        self.scaling = scaling
        self.x_center = self.cols / 2 * scaling
        self.y_center = self.rows / 2 * scaling

    def cell_of(self, xy: np.ndarray) -> tuple[int, int]:
        i = int(np.floor((self.y_center - xy[1]) / self.scaling))
        j = int(np.floor((xy[0] + self.x_center) / self.scaling))
        return min(max(i, 0), self.rows - 1), min(max(j, 0), self.cols - 1)

    def center_of(self, cell: tuple[int, int]) -> np.ndarray:
        i, j = cell
        return np.array([(j + 0.5) * self.scaling - self.x_center, self.y_center - (i + 0.5) * self.scaling])

    def distances_to(self, goal: tuple[int, int]) -> np.ndarray:
        """BFS steps from every free cell to ``goal`` (inf for walls / unreachable cells)."""
        dist = np.full(self.walls.shape, np.inf)
        dist[goal] = 0
        queue = deque([goal])
        while queue:
            i, j = queue.popleft()
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                n = (i + di, j + dj)
                if 0 <= n[0] < self.rows and 0 <= n[1] < self.cols and not self.walls[n] and dist[n] == np.inf:
                    dist[n] = dist[i, j] + 1
                    queue.append(n)
        return dist


class MazeExpert(ScriptedExpert):
    """BFS shortest path over cells + PD control toward the next cell centre (D4RL maze2d)."""

    name = "bfs-waypoints+pd"

    def __init__(self, maze_map, seed: int = 0, noise: float = 0.0, kp: float = 10.0, kd: float = 1.0) -> None:
        super().__init__(seed, noise, low=[-1.0, -1.0], high=[1.0, 1.0])
        self.grid = MazeGrid(maze_map)
        self.kp, self.kd = kp, kd
        self.goal_cell: tuple[int, int] | None = None
        self.dist = None

    def reset(self, obs: dict) -> None:
        self.goal_cell = self.grid.cell_of(obs["desired_goal"])
        self.dist = self.grid.distances_to(self.goal_cell)

    def target(self, pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
        if self.goal_cell is None or self.grid.cell_of(goal) != self.goal_cell:
            self.reset({"desired_goal": goal})  # act() without reset(), or the goal moved
        cell = self.grid.cell_of(pos)
        if cell == self.goal_cell:
            return goal
        i, j = cell
        neighbours = [(i + di, j + dj) for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1))]
        neighbours = [n for n in neighbours if 0 <= n[0] < self.grid.rows and 0 <= n[1] < self.grid.cols]
        best = min(neighbours, key=lambda n: self.dist[n])
        if not np.isfinite(self.dist[cell]) and np.isfinite(self.dist[best]):
            return self.grid.center_of(best)  # numerically inside a wall cell: step back out
        return self.grid.center_of(best) if self.dist[best] < self.dist[cell] else goal

    def plan(self, obs: dict) -> np.ndarray:
        state = np.asarray(obs["observation"], dtype=np.float64)
        pos, vel = state[:2], state[2:4]
        target = self.target(pos, np.asarray(obs["desired_goal"], dtype=np.float64))
        return self.kp * (target - pos) - self.kd * vel


def xy_of(observations: np.ndarray) -> np.ndarray:
    """Ball position from flat observations: ``observation`` (x, y, vx, vy) comes first."""
    return np.asarray(observations)[..., 0:2]


def make_plot_background(maze_map):
    grid = MazeGrid(maze_map)

    def plot_background(ax) -> None:
        import matplotlib.patches as patches

        for i, j in zip(*np.nonzero(grid.walls)):
            x, y = grid.center_of((i, j)) - grid.scaling / 2
            ax.add_patch(patches.Rectangle((x, y), grid.scaling, grid.scaling, color="0.6", lw=0))
        ax.set_xlim(-grid.x_center, grid.x_center)
        ax.set_ylim(-grid.y_center, grid.y_center)
        ax.set_aspect("equal")

    return plot_background


def register() -> None:
    for env_id, maze_map, steps in (
        ("genpolicy/PointMaze_UMaze-v3", U_MAZE, 300),
        ("genpolicy/PointMaze_Medium-v3", MEDIUM_MAZE, 600),
    ):
        if env_id not in gym.registry:
            gym.register(
                env_id,
                entry_point=ENTRY_POINT,
                max_episode_steps=steps,
                kwargs={"maze_map": maze_map, "reward_type": "sparse", "continuing_task": False},
            )


def make_maze_task(
    name: str, env_id: str, maze_map, steps: int, ref_min: float, ref_max: float, *,
    register_envs=None, description: str | None = None,
) -> Task:
    """A maze task driven by the waypoint expert (``register_envs`` registers ``env_id``)."""
    register_envs = register_envs or register

    def make_env(**kwargs) -> gym.Env:
        import gymnasium_robotics

        gym.register_envs(gymnasium_robotics)
        register_envs()
        return gym.make(env_id, **kwargs)

    return Task(
        name=name,
        env_id=env_id,
        make_env=make_env,
        make_expert=lambda seed, noise: MazeExpert(maze_map, seed, noise),
        ref_min_score=ref_min,
        ref_max_score=ref_max,
        max_episode_steps=steps,
        expert_name=MazeExpert.name,
        has_success=True,
        xy_of=xy_of,
        plot_background=make_plot_background(maze_map),
        description=description or f"{env_id.split('/')[1]} as an episodic task: return 1 on reaching the goal, else 0.",
    )


# Reference scores: mean return (= success rate) over 1000 episodes, reset seeds 0..999, measured
# by benchmarks/reference_scores.py (random: uniform actions; expert: noise-free MazeExpert).
# umaze: random 0.231, expert 1.000 (mean 55 steps); medium: random 0.127, expert 1.000 (102 steps).
# Random policies succeed sometimes because start and goal cells can be neighbours.
POINTMAZE_UMAZE = make_maze_task("pointmaze-umaze", "genpolicy/PointMaze_UMaze-v3", U_MAZE, 300, 0.231, 1.0)
POINTMAZE_MEDIUM = make_maze_task("pointmaze-medium", "genpolicy/PointMaze_Medium-v3", MEDIUM_MAZE, 600, 0.127, 1.0)
