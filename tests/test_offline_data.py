"""Data where offline RL matters: behaviour mixtures, maze2d stitching sets, two ways that pay
differently. Each recipe is recorded in the dataset's metadata."""

from __future__ import annotations

import numpy as np
import pytest

import genpolicy
from genpolicy.datasets.collect import collect
from genpolicy.evaluation import evaluate
from genpolicy.models.base import Policy, PolicyConfig
from genpolicy.tasks import get_task, rollout
from genpolicy.tasks.behaviours import behaviour_schedule, episode_counts, parse_mix
from genpolicy.tasks.maze2d import GOAL_RADIUS, MAZES
from genpolicy.tasks.pointmaze import MazeGrid
from genpolicy.tasks.two_paths import in_mud


# ------------------------------------------------------------------ mixtures
def test_parse_mix_and_exact_counts():
    assert parse_mix("expert:0.2,noisy:0.5,random:0.3") == {"expert": 0.2, "noisy": 0.5, "random": 0.3}
    assert parse_mix({"random": 1.0}) == {"random": 1.0}
    for bad, message in [("expert:0.5", "add up to 1"), ("expert:0.5,bogus:0.5", "unknown behaviour"),
                         ("expert=1", "NAME:FRACTION"), ("expert:x", "number"), ("expert:0.5,expert:0.5", "twice")]:
        with pytest.raises(ValueError, match=message):
            parse_mix(bad)
    # 7 episodes: exact 1.4 / 3.5 / 2.1 -> floors 1 / 3 / 2, the one left goes to the largest remainder
    assert episode_counts(parse_mix("expert:0.2,noisy:0.5,random:0.3"), 7) == {"expert": 1, "noisy": 4, "random": 2}
    for episodes in (1, 10, 33, 200):
        counts = episode_counts({"expert": 0.1, "noisy": 0.3, "random": 0.6}, episodes)
        assert sum(counts.values()) == episodes
        assert all(abs(counts[k] - f * episodes) < 1 for k, f in {"expert": 0.1, "noisy": 0.3, "random": 0.6}.items())
    schedule = behaviour_schedule({"expert": 0.5, "random": 0.5}, 20, seed=0)
    assert sorted(schedule) == ["expert"] * 10 + ["random"] * 10 and schedule != sorted(schedule)


def test_pendulum_mixture_fractions_behaviours_and_recipe(tmp_path):
    task = get_task("pendulum")
    out = collect("pendulum", 10, tmp_path / "mix", mix="expert:0.2,noisy:0.5,random:0.3", noise=1.5, seed=3)
    dataset = genpolicy.load_dataset(out)
    meta = dataset.metadata
    recipe = meta["recipe"]
    assert recipe["name"] == "mix" and recipe["mix"] == {"expert": 0.2, "noisy": 0.5, "random": 0.3}
    assert recipe["noise"] == 1.5 and recipe["counts"] == {"expert": 2, "noisy": 5, "random": 3}
    behaviours = recipe["behaviours"]
    assert len(behaviours) == dataset.num_episodes == 10 and behaviours.count("noisy") == 5
    assert "--mix expert:0.2,noisy:0.5,random:0.3" in meta["origin"] and "--noise 1.5" in meta["origin"]
    returns = dataset.episode_returns().numpy()
    assert meta["mean_return"] == pytest.approx(returns.mean())
    assert meta["mean_normalized_score"] == pytest.approx(task.normalized_score(returns.mean()))
    # each episode was driven by the behaviour recorded for it: the noise-free expert's episodes
    # are the expert's own rollouts of those reset seeds; the others are not
    env = task.make_env()
    for i, ((start, stop), behaviour) in enumerate(zip(dataset.episode_bounds().tolist(), behaviours)):
        again = rollout(env, task.make_expert(0, 0.0), seed=3 + i)["actions"]
        stored = dataset.actions.numpy()[start:stop]
        assert np.allclose(stored, again) == (behaviour == "expert"), (i, behaviour)
    env.close()
    means = recipe["mean_returns"]
    assert means["expert"] > means["random"] and means["noisy"] > means["random"]


def test_mix_needs_noise_for_noisy_episodes(tmp_path):
    with pytest.raises(ValueError, match="--noise"):
        collect("pendulum", 4, tmp_path / "x", mix="expert:0.5,noisy:0.5")
    assert not (tmp_path / "x").exists()


def test_plain_expert_collection_records_its_recipe(tmp_path):
    meta = genpolicy.load_dataset(collect("two-paths", 3, tmp_path / "e", noise=0.1)).metadata
    assert meta["recipe"] == {"name": "expert", "noise": 0.1}


# ------------------------------------------------------------------ maze2d stitching
def test_maze2d_eval_env_has_one_fixed_goal_and_never_terminates():
    task = get_task("maze2d-umaze")
    env_id, maze_map, goal_cell, steps = MAZES["maze2d-umaze"]
    goal = MazeGrid(maze_map).center_of(goal_cell)
    env = task.make_env()
    starts = set()
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(obs["desired_goal"], goal)  # exactly the cell centre, every episode
        starts.add(MazeGrid(maze_map).cell_of(obs["achieved_goal"]))
    assert goal_cell not in starts and len(starts) > 2  # random starts, never in the goal cell
    env.close()
    expert = rollout(task.make_env(), task.make_expert(0, 0.0), seed=0)
    assert not expert["terminations"].any() and expert["truncations"][-1] and len(expert["rewards"]) == steps
    assert expert["rewards"].sum() > 150  # arrives and stays: 1 per step at the goal


def test_stitching_set_properties(tmp_path):
    out = collect("pointmaze-umaze", 40, tmp_path / "stitch", recipe="stitch", noise=0.1, seed=1)
    dataset = genpolicy.load_dataset(out)
    meta = dataset.metadata
    task = get_task("maze2d-umaze")
    assert meta["task"] == "maze2d-umaze" and meta["env_id"] == task.env_id
    assert (meta["ref_min_score"], meta["ref_max_score"]) == (task.ref_min_score, task.ref_max_score)
    recipe = meta["recipe"]
    assert recipe["name"] == "stitch" and recipe["maze_task"] == "pointmaze-umaze" and recipe["noise"] == 0.1
    assert "--recipe stitch" in meta["origin"]

    layout = meta["obs_layout"]
    obs, next_obs = dataset.observations.numpy(), dataset.next_observations.numpy()
    desired = obs[:, slice(*layout["desired_goal"])]
    eval_goal = np.asarray(recipe["evaluation_goal"])
    np.testing.assert_allclose(desired, np.broadcast_to(eval_goal, desired.shape))  # the random goals are hidden
    env = task.make_env()
    np.testing.assert_allclose(env.reset(seed=0)[0]["desired_goal"], eval_goal)  # evaluation aims at the same goal
    env.close()

    # never a termination; one truncation per episode, at its end (a goal switch or the time limit)
    assert not dataset.terminations.any()
    episodes = list(dataset.episodes())
    assert len(episodes) == 40
    for ep in episodes:
        assert bool(ep["truncations"][-1]) and not ep["truncations"][:-1].any()
    # one unbroken stream: each episode starts where the previous one stopped
    xy = slice(*layout["achieved_goal"])
    for a, b in zip(episodes, episodes[1:]):
        np.testing.assert_allclose(a["next_observations"][-1, xy].numpy(), b["observations"][0, xy].numpy(), atol=1e-6)
    # sparse reward relative to the evaluation goal, and it does occur
    dist = np.linalg.norm(next_obs[:, xy] - eval_goal, axis=1)
    rewards = dataset.rewards.numpy()
    np.testing.assert_array_equal(rewards, (dist <= GOAL_RADIUS).astype(rewards.dtype))
    assert rewards.sum() > 0 and recipe["episodes_with_reward"] > 0
    # most trips head elsewhere: episodes that never come near the evaluation goal
    assert recipe["episodes_with_reward"] < len(episodes) / 2


def test_stitch_needs_a_maze(tmp_path):
    with pytest.raises(ValueError, match="maze task"):
        collect("pendulum", 3, tmp_path / "x", recipe="stitch")


# ------------------------------------------------------------------ two ways that pay differently
class Side(Policy):
    """Deterministic: around the disc on a fixed side (config.metadata['side'] = -1 left, +1 right)."""

    def predict_chunk(self, h):
        xy = h[:, -1, :2]
        side = float(self.config.metadata["side"])
        beside = torch.stack([torch.full_like(xy[:, 0], 0.65 * side), xy[:, 1] + 0.3], dim=1)
        goal = torch.tensor([[0.0, 1.0]]).expand_as(xy)
        target = torch.where(xy[:, 1:2] > 0.45, goal, beside)
        step = (target - xy) / 0.1
        return (step / step.norm(dim=1, keepdim=True).clamp(min=1.0))[:, None]


import torch  # noqa: E402  (used by Side)


def test_two_paths_value_left_pays_more_and_evaluation_reports_it():
    task = get_task("two-paths-value")
    env = task.make_env()
    expert = task.make_expert(0, 0.0)
    by_side: dict[int, list[float]] = {0: [], 1: []}
    for seed in range(12):
        ep = rollout(env, expert, seed=seed)
        assert ep["success"] and task.mode_of(ep["observations"]) == expert.mode
        by_side[expert.mode].append(ep["rewards"].sum())
        if expert.mode == 1:
            assert in_mud(ep["observations"]).sum() >= 5
    env.close()
    assert np.allclose(by_side[0], 1.0) and max(by_side[1]) < 0.6 and len(by_side[1]) >= 3

    left, right = (Side(PolicyConfig(obs_dim=2, act_dim=2, metadata={"side": s})) for s in (-1, 1))
    res_left = evaluate(left, task, episodes=6, seed=0, num_envs=3)
    res_right = evaluate(right, task, episodes=6, seed=0, num_envs=3)
    assert res_left.mode_fractions.tolist() == [1.0, 0.0] and res_right.mode_fractions.tolist() == [0.0, 1.0]
    assert res_left.success_rate == res_right.success_rate == 1.0
    assert res_left.mean_return > res_right.mean_return + 0.3
    assert res_left.normalized_score > 100 > res_right.normalized_score  # the 50/50 expert is 100
    assert res_left.mode_returns[0] == pytest.approx(res_left.mean_return) and np.isnan(res_left.mode_returns[1])
    assert "return by mode" in res_left.table() and res_left.to_dict()["modes"]["mean_returns"][0] == pytest.approx(1.0)
    # same world, no mud: both ways pay 1
    plain = evaluate(right, "two-paths", episodes=3, seed=0, num_envs=3)
    assert plain.mean_return == 1.0


def test_two_paths_value_data_splits_50_50(tmp_path):
    dataset = genpolicy.load_dataset(collect("two-paths-value", 20, tmp_path / "tpv", seed=0))
    task = get_task("two-paths-value")
    modes = [task.mode_of(ep["observations"].numpy()) for ep in dataset.episodes()]
    returns = dataset.episode_returns().numpy()
    left, right = returns[np.array(modes) == 0], returns[np.array(modes) == 1]
    assert min(len(left), len(right)) >= 5 and left.mean() > right.mean() + 0.3
