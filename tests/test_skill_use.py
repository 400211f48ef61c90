"""Using and checking skills: the goal task, the skill-options wrapper, the held-out classifier check.

The skill policies here are hand-made (a linear actor whose mean for skill k points in direction
k), so each test knows exactly what every skill does, without training DIAYN first.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import genpolicy
import genpolicy.tasks  # noqa: F401  registers envs and wrappers
from genpolicy.evaluation.skill_holdout import HoldoutConfig, holdout_check, sampled_skill_rollouts
from genpolicy.models.base import build_policy, load_policy
from genpolicy.models.skills import SkillPolicy
from genpolicy.tasks.point2d_goals import GOALS, GOALS_ENV_ID, SUCCESS_RADIUS
from genpolicy.tasks.skill_options import SkillOptions
from genpolicy.tasks.wrappers import apply_wrappers


def compass_skills(directions: np.ndarray, log_std: float = -3.0) -> SkillPolicy:
    """A skill policy whose skill ``k`` moves along ``directions[k]`` (``[K, 2]``) at 0.9 of full speed
    (steps of 0.045: success radii are then crossed well inside, not at a float's edge)."""
    num_skills = len(directions)
    actor = build_policy("bc-gaussian", {"obs_dim": 2 + num_skills, "act_dim": 2, "obs_norm": "identity",
                                         "action_norm": "identity", "action_low": [-1.0, -1.0], "action_high": [1.0, 1.0],
                                         "hidden_dims": [], "metadata": {"task": "point2d"}})
    linear = actor.net[0]  # [x, y, one_hot] -> [mean_x, mean_y, log_std_x, log_std_y]
    with torch.no_grad():
        linear.weight.zero_()
        linear.weight[:2, 2:] = torch.as_tensor(np.arctanh(0.9) * np.asarray(directions, np.float32).T)
        linear.bias.copy_(torch.tensor([0.0, 0.0, log_std, log_std]))
    return SkillPolicy.wrap(actor, num_skills)


COMPASS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], dtype=np.float32)


# ------------------------------------------------------------------ the goal task
def test_goal_task_pays_once_at_the_goal_and_ends_there():
    assert len(GOALS) == 24 and not np.any(np.all(GOALS == 0.0, axis=1))  # the start is no goal
    env = gym.make(GOALS_ENV_ID)
    obs, info = env.reset(seed=0, options={"goal": int(np.argmin(np.linalg.norm(GOALS - [0.4, 0.0], axis=1)))})
    assert np.allclose(obs, [0.0, 0.0, 0.4, 0.0])
    rewards = []
    for _ in range(50):
        obs, reward, terminated, truncated, info = env.step([0.9, 0.0])
        rewards.append(reward)
        if terminated or truncated:
            break
    # 0.045 per step: 0.13 from x = 0.4 after 6 steps, 0.085 after 7: reward 1 there and the episode ends
    assert terminated and info["success"] and rewards == [0.0] * 6 + [1.0]
    assert abs(obs[0] - 0.315) < 1e-6 and np.linalg.norm(obs[:2] - [0.4, 0.0]) <= SUCCESS_RADIUS
    goals = {tuple(env.reset(seed=s)[0][2:].round(2)) for s in range(300)}
    assert len(goals) == 24  # drawn per episode from all 24
    env.reset(seed=1)
    for _ in range(49):
        *_, terminated, truncated, _ = env.step([0.0, 0.0])
    assert not terminated and not truncated and env.step([0.0, 0.0])[3]  # truncated after 50 steps
    env.close()


# ------------------------------------------------------------------ the skill-options wrapper
def test_skill_options_runs_the_argmax_skill_for_k_steps():
    env = SkillOptions(gym.make(GOALS_ENV_ID), compass_skills(COMPASS), every=10)
    assert env.action_space.shape == (4,) and env.observation_space.shape == (4,)
    obs, _ = env.reset(seed=0, options={"goal": int(np.argmin(np.linalg.norm(GOALS - [-0.8, 0.4], axis=1)))})
    obs, reward, terminated, truncated, info = env.step(np.array([0.1, 0.9, -0.5, 0.0]))  # argmax: skill 1 (-x)
    assert info["skill"] == 1 and info["env_steps"] == 10 and reward == 0.0 and not (terminated or truncated)
    assert np.allclose(obs[:2], [-0.45, 0.0], atol=1e-4)
    obs, reward, *_ = env.step(np.array([0.0, 0.0, 1.0, 0.0]))  # +y for 10 steps: (-0.45, 0.45)
    assert np.allclose(obs[:2], [-0.45, 0.45], atol=1e-4) and reward == 0.0
    obs, reward, terminated, truncated, info = env.step(np.array([0.0, 1.0, 0.0, 0.0]))  # -x again
    # within 0.1 of (-0.8, 0.4) at x = -0.72 (6th step): the option stops there, paid once
    assert terminated and info["success"] and reward == 1.0 and info["env_steps"] == 6
    assert np.allclose(obs[:2], [-0.72, 0.45], atol=1e-4)
    env.close()


def test_skill_options_spec_loads_a_saved_policy_and_a_run_records_it(tmp_path):
    compass_skills(COMPASS).save(tmp_path / "skills" / "policy")
    spec = {"name": "skill-options", "policy": str(tmp_path / "skills"), "every": 10}
    env = apply_wrappers(gym.make(GOALS_ENV_ID), [spec])
    env.reset(seed=0)
    obs, *_ = env.step(np.array([0.0, 0.0, 0.0, 1.0]))
    assert np.allclose(obs[:2], [0.0, -0.45], atol=1e-4)
    env.close()
    # a high-level SAC on top: the run records the wrapper, its policy evaluates through it again
    run = genpolicy.train("sac", env=GOALS_ENV_ID, wrappers=[spec], out=tmp_path / "hier", eval_episodes=4,
                          verbose=False, progress_bar=False,
                          overrides={"steps": 60, "warmup_steps": 20, "batch_size": 16, "updates_per_step": 10,
                                     "updates_per_epoch": 60, "actor.hidden_dims": [16], "critic.hidden_dims": [16]})
    assert json.loads((tmp_path / "hier" / "config.json").read_text())["env_wrappers"] == [spec]
    policy = load_policy(tmp_path / "hier")
    assert policy.config.act_dim == 4 and policy.config.metadata["env_wrappers"] == [spec]
    result = run.evaluate(episodes=3)
    assert result.success_rate is not None and len(result.returns) == 3


# ------------------------------------------------------------------ the held-out classifier check
def test_holdout_check_recovers_distinct_skills_and_rejects_identical_ones():
    config = HoldoutConfig(train_episodes=4, test_episodes=3, epochs=150)
    distinct = holdout_check(compass_skills(COMPASS, log_std=-1.0), "point2d", config)
    assert distinct.state_accuracy > 0.9 and distinct.episode_accuracy == 1.0, distinct
    assert distinct.train_states == 4 * 4 * 50 and distinct.test_states == 4 * 3 * 50
    same = holdout_check(compass_skills(np.repeat(COMPASS[:1], 4, axis=0), log_std=-1.0), "point2d", config)
    assert same.state_accuracy < 0.45, same  # four copies of one skill: about chance (0.25)


def test_sampled_rollouts_differ_across_seeds_and_repeat_for_a_seed():
    policy = compass_skills(COMPASS, log_std=-1.0)
    a, skills = sampled_skill_rollouts(policy, "point2d", episodes=2, seed=0)
    b, _ = sampled_skill_rollouts(policy, "point2d", episodes=2, seed=0)
    c, _ = sampled_skill_rollouts(policy, "point2d", episodes=2, seed=5)
    assert a.shape == (4, 2, 51, 2) and np.array_equal(skills, np.arange(4))
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert not np.allclose(a[:, 0], a[:, 1])  # sampled actions: episodes of one skill differ
    assert a[0, :, -1, 0].mean() > 0.8 and a[1, :, -1, 0].mean() < -0.8  # skill 0 goes +x, skill 1 -x


if __name__ == "__main__":
    pytest.main([__file__, "-q"])


# ------------------------------------------------------------------ a discrete skill chooser
def test_skill_dqn_learns_which_skill_reaches_which_goal(tmp_path):
    """Double DQN over 4 compass skills: from the start, the goal 0.4 away along an axis is reached by
    one option of the skill going that way, so that skill must become the greedy choice for it."""
    compass_skills(COMPASS).save(tmp_path / "skills" / "policy")
    spec = {"name": "skill-options", "policy": str(tmp_path / "skills"), "every": 10}
    run = genpolicy.train("skill-dqn", env=GOALS_ENV_ID, wrappers=[spec], out=tmp_path / "dqn", eval_episodes=0,
                          verbose=False, progress_bar=False,
                          overrides={"steps": 1500, "replay_ratio": 3.0, "warmup_steps": 200, "batch_size": 64,
                                     "updates_per_step": 10, "updates_per_epoch": 500, "epsilon_decay_steps": 100,
                                     "q.hidden_dims": [64, 64], "q_optim.lr": 1e-3, "tau": 0.02, "seed": 0,
                                     "gamma": 0.9})  # 0.99 per env step over a 10-step option
    policy = load_policy(tmp_path / "dqn")
    starts = np.array([[0, 0, 0.4, 0], [0, 0, -0.4, 0], [0, 0, 0, 0.4], [0, 0, 0, -0.4]], np.float32)
    actions = policy.act(starts)
    assert set(np.unique(actions).tolist()) == {-1.0, 1.0} and np.all((actions == 1.0).sum(1) == 1)  # one choice each
    assert actions.argmax(1).tolist() == [0, 1, 2, 3], actions  # +x, -x, +y, -y
    assert np.array_equal(actions, run.policy.act(starts))  # the saved chooser reloads identically
    algo = run.algo
    assert algo.epsilon() == pytest.approx(algo.config.epsilon_end)
    explored = algo.explore(starts)
    assert explored.shape == (4, 4) and np.all((explored == 1.0).sum(1) == 1)


def test_cli_fit_takes_a_wrapper_spec(tmp_path):
    from genpolicy.cli import main

    compass_skills(COMPASS).save(tmp_path / "skills" / "policy")
    spec = {"name": "skill-options", "policy": str(tmp_path / "skills"), "every": 10}
    assert main(["fit", "skill-dqn", "--env", GOALS_ENV_ID, "--wrap", json.dumps(spec), "--out", str(tmp_path / "run"),
                 "--steps", "40", "--eval-episodes", "2", "--eval-every", "1", "--set", "warmup_steps=20",
                 "--set", "batch_size=16", "--set", "updates_per_epoch=40", "--set", "q.hidden_dims=[16]"]) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["env_wrappers"] == [spec]
    assert load_policy(tmp_path / "run").config.metadata["env_wrappers"] == [spec]
