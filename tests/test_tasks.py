"""Built-in tasks, their scripted experts, and the expert -> Minari dataset collector."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import genpolicy
from genpolicy.datasets.collect import collect
from genpolicy.tasks import TASKS, Task, get_task, list_tasks, rollout
from genpolicy.tasks import pointmaze, two_paths


def run(task: Task, episodes: int, seed: int = 0, noise: float = 0.0, expert=None) -> list[dict]:
    env = task.make_env()
    expert = expert or task.make_expert(seed, noise)
    try:
        return [rollout(env, expert, seed=seed + i) for i in range(episodes)]
    finally:
        env.close()


class Straight:
    """Always (0, 1): the average of the two TwoPaths modes."""

    def reset(self, obs):
        pass

    def act(self, obs):
        return np.array([0.0, 1.0], dtype=np.float32)


# ------------------------------------------------------------------ registry
def test_registry_lists_and_rejects_unknown_names():
    assert list_tasks() == sorted(["pendulum", "pointmaze-umaze", "pointmaze-medium", "maze2d-umaze", "maze2d-medium",
                                   "two-paths", "two-paths-value", "point2d"])
    task = get_task("two-paths")
    assert get_task(task) is task
    with pytest.raises(ValueError) as err:
        get_task("no-such-task")
    for name in list_tasks():
        assert name in str(err.value)
    for task in TASKS.values():
        assert task.ref_max_score > task.ref_min_score, task.name
        assert np.isclose(task.normalized_score(task.ref_max_score), 100.0)


def test_every_task_draws_its_plane_and_maps_observations():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for task in TASKS.values():
        fig, ax = plt.subplots()
        task.plot_background(ax)
        plt.close(fig)
    flat = np.zeros((5, 8), dtype=np.float32)
    flat[:, 0:2] = [0.3, -0.7]
    assert np.allclose(get_task("pointmaze-umaze").xy_of(flat), [0.3, -0.7])
    assert get_task("two-paths").xy_of(flat[:, :2]).shape == (5, 2)
    upright = np.array([[1.0, 0.0, 0.0]])  # cos, sin, theta_dot
    assert np.allclose(get_task("pendulum").xy_of(upright), [[0.0, 1.0]])


# ------------------------------------------------------------------ experts
def test_pendulum_expert_swings_up_and_balances():
    episodes = run(get_task("pendulum"), 3)
    returns = [ep["rewards"].sum() for ep in episodes]
    assert np.mean(returns) > -400, returns
    for ep in episodes:  # upright at the end
        cos_th = ep["observations"][-20:, 0]
        assert (cos_th > 0.99).all()


def test_pointmaze_umaze_expert_reaches_goal_and_episode_ends_there():
    task = get_task("pointmaze-umaze")
    episodes = run(task, 3)
    for ep in episodes:
        assert ep["success"] and ep["terminations"][-1] and not ep["truncations"].any()
        assert ep["rewards"].sum() == 1.0
        assert len(ep["rewards"]) < task.max_episode_steps


def test_pointmaze_maps_match_the_env():
    """The expert's copy of the maze and its cell geometry equal gymnasium-robotics' own."""
    for name, maze_map in (("pointmaze-umaze", pointmaze.U_MAZE), ("pointmaze-medium", pointmaze.MEDIUM_MAZE)):
        env = get_task(name).make_env()
        maze = env.unwrapped.maze
        assert [[int(c) for c in row] for row in maze.maze_map] == maze_map
        assert env.spec.max_episode_steps == get_task(name).max_episode_steps
        assert env.unwrapped.continuing_task is False
        grid = pointmaze.MazeGrid(maze_map)
        for cell in [(1, 1), (3, 2), (len(maze_map) - 2, len(maze_map[0]) - 2)]:
            xy = maze.cell_rowcol_to_xy(np.array(cell))
            assert np.allclose(grid.center_of(cell), xy)
            assert grid.cell_of(xy + 0.3) == tuple(maze.cell_xy_to_rowcol(xy + 0.3))
        env.close()


def test_two_paths_expert_succeeds_with_both_modes_balanced():
    task = get_task("two-paths")
    env = task.make_env()
    expert = task.make_expert(0, 0.1)
    modes = []
    for i in range(20):
        ep = rollout(env, expert, seed=i)
        assert ep["success"] and ep["terminations"][-1] and ep["rewards"].sum() == 1.0
        # mode_of recovers the side the expert chose, from observations alone
        assert task.mode_of(ep["observations"]) == expert.mode
        modes.append(expert.mode)
    counts = np.bincount(modes, minlength=2)
    assert counts.min() >= 5, counts  # fair coin: P(min < 5 of 20) ~ 1 %; seeded, so fixed


def test_two_paths_straight_line_collides():
    """Averaging the two modes goes straight up, into the obstacle."""
    (ep,) = run(get_task("two-paths"), 1, expert=Straight())
    assert ep["terminations"][-1] and not ep["success"] and ep["rewards"].sum() == 0.0
    assert np.linalg.norm(ep["observations"][-1]) < two_paths.OBSTACLE_RADIUS
    assert get_task("two-paths").mode_of(ep["observations"]) == -1


def test_two_paths_averaged_expert_collides():
    task = get_task("two-paths")
    left, right = task.make_expert(0, 0.0), task.make_expert(0, 0.0)

    class Average:
        def reset(self, obs):
            for expert, side in ((left, -1), (right, 1)):
                expert.reset(obs)
                expert.side = side

        def act(self, obs):
            return ((left.plan(obs) + right.plan(obs)) / 2).astype(np.float32)

    (ep,) = run(task, 1, expert=Average())
    assert not ep["success"] and ep["terminations"][-1]


def test_two_paths_mode_of_and_render():
    task = get_task("two-paths")
    ys = np.linspace(-1, 1, 21)
    assert task.mode_of(np.stack([-0.6 + 0 * ys, ys], 1)) == 0
    assert task.mode_of(np.stack([0.6 + 0 * ys, ys], 1)) == 1
    assert task.mode_of(np.array([[0.0, -1.0], [0.0, -0.9]])) == -1
    env = task.make_env(render_mode="rgb_array")
    env.reset(seed=0)
    env.step(np.array([1.0, 0.0]))
    image = env.render()
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    assert (image == (90, 90, 90)).all(-1).any()  # the obstacle is drawn
    env.close()


@pytest.mark.parametrize("name", ["two-paths", "pendulum", "pointmaze-umaze"])
def test_expert_is_deterministic_given_seed(name):
    task = get_task(name)
    a, b = run(task, 2, seed=7, noise=0.2), run(task, 2, seed=7, noise=0.2)
    for x, y in zip(a, b):
        assert np.array_equal(x["actions"], y["actions"])
    c = run(task, 2, seed=8, noise=0.2)
    assert not np.array_equal(a[0]["actions"], c[0]["actions"][: len(a[0]["actions"])])


# ------------------------------------------------------------------ collector
@pytest.mark.parametrize("name", ["two-paths", "pointmaze-umaze"])
def test_collect_writes_a_loadable_dataset(tmp_path, name):
    task = get_task(name)
    out = collect(name, 4, tmp_path / name, noise=0.1, seed=5)
    dataset = genpolicy.load_dataset(out)
    assert dataset.num_episodes == 4
    meta = dataset.metadata
    assert meta["task"] == name and meta["env_id"] == task.env_id
    assert meta["ref_min_score"] == task.ref_min_score and meta["ref_max_score"] == task.ref_max_score
    assert meta["noise"] == 0.1 and meta["seed"] == 5 and meta["expert"] == task.expert_name
    assert dataset.episode_returns().tolist() == [1.0] * 4
    # the same episodes again, straight from the expert: collection is reproducible
    expected = run(task, 4, seed=5, noise=0.1)
    assert len(dataset) == sum(len(ep["rewards"]) for ep in expected)
    assert np.allclose(dataset.actions.numpy(), np.concatenate([ep["actions"] for ep in expected]))
    if name == "pointmaze-umaze":  # dict observations flattened; xy_of reads the ball position
        first = expected[0]["observations"]["observation"][:-1, :2]
        assert np.allclose(task.xy_of(dataset.observations.numpy())[: len(first)], first, atol=1e-5)
    with pytest.raises(FileExistsError):
        collect(name, 1, out)


def test_interrupted_collect_leaves_nothing_loadable(tmp_path, monkeypatch):
    calls = {"n": 0}
    plan = two_paths.TwoPathsExpert.plan

    def flaky_plan(self, obs):
        calls["n"] += 1
        if calls["n"] > 100:  # a few episodes in
            raise RuntimeError("expert crashed")
        return plan(self, obs)

    monkeypatch.setattr(two_paths.TwoPathsExpert, "plan", flaky_plan)
    out = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="expert crashed"):
        collect("two-paths", 10, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(Exception):
        genpolicy.load_dataset(out)


def test_collect_failing_while_writing_leaves_nothing(tmp_path, monkeypatch):
    """A crash after the data is written but before the rename leaves no dataset behind."""
    from genpolicy.datasets import minari_io

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(minari_io, "_fsync_tree", broken)
    out = tmp_path / "half"
    with pytest.raises(OSError, match="disk full"):
        collect("two-paths", 3, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_collect_accepts_a_task_object(tmp_path):
    task = dataclasses.replace(get_task("two-paths"), name="two-paths-custom")
    dataset = genpolicy.load_dataset(collect(task, 2, tmp_path / "custom"))
    assert dataset.metadata["task"] == "two-paths-custom" and dataset.num_episodes == 2
