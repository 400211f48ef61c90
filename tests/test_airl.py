"""AIRL's kept reward re-used (``reward.name=saved``) and the wall world of its transfer check."""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch

import genpolicy
from genpolicy.models.saved_rewards import RewardNet, RewardNetConfig
from genpolicy.tasks.wall_point import ENV_ID, GOAL, SHIFTED_ENV_ID, GapExpert, in_wall, move
from genpolicy.trainers.airl import SavedReward
from genpolicy.trainers.rewards import make_reward_source


def saved_linear_reward(directory, absorbing: bool = True) -> RewardNet:
    """g(x, y[, flag]) = x - 2 y (+ 5 flag), saved like an AIRL run's RUN/reward."""
    metadata = {"env_wrappers": [{"name": "absorbing"}]} if absorbing else {}
    net = RewardNet(RewardNetConfig(3 if absorbing else 2, 0, [], metadata=metadata))
    with torch.no_grad():
        net.net[0].weight.copy_(torch.tensor([[1.0, -2.0, 5.0][: net.config.obs_dim]]))
        net.net[0].bias.zero_()
    net.save(directory / "reward")
    return net


def test_saved_reward_source_scores_g_of_the_state_and_fills_the_absorbing_flag(tmp_path):
    saved_linear_reward(tmp_path)
    algo = SimpleNamespace(config=SimpleNamespace(reward=SimpleNamespace(path=str(tmp_path))))
    source = make_reward_source("saved", 2.0, algo)
    assert isinstance(source, SavedReward) and not isinstance(source, torch.nn.Module)  # never trained by the learner
    obs, next_obs = torch.tensor([[1.0, 0.5], [0.0, -1.0]]), torch.tensor([[9.0, 9.0], [9.0, 9.0]])
    reward = source(obs, torch.zeros(2, 2), next_obs, torch.full((2,), 100.0))
    assert reward.tolist() == pytest.approx([2.0 * (1.0 - 1.0), 2.0 * 2.0])  # 2 g(s): flag 0, s' and env reward unused
    flagged = source(torch.tensor([[0.0, 0.0, 1.0]]), torch.zeros(1, 2), torch.zeros(1, 3), torch.zeros(1))
    assert flagged.tolist() == pytest.approx([10.0])  # an env with the wrapper passes its own flag
    with pytest.raises(ValueError, match="obs_dim=3"):
        source(torch.zeros(1, 5), torch.zeros(1, 2), torch.zeros(1, 5), torch.zeros(1))
    with pytest.raises(ValueError, match="reward.path"):
        make_reward_source("saved", 1.0, SimpleNamespace(config=SimpleNamespace(reward=SimpleNamespace(path=""))))


def test_sac_reoptimizes_a_saved_reward_while_logging_the_true_return(tmp_path):
    """reward.name=saved through train(): the learner's batches carry g(s), the buffer the env's reward."""
    saved_linear_reward(tmp_path / "airl", absorbing=True)
    run = genpolicy.train("sac", env=SHIFTED_ENV_ID, out=tmp_path / "sac", steps=40, eval_episodes=0, verbose=False,
                          progress_bar=False, overrides={"warmup_steps": 20, "batch_size": 16,
                                                         "actor.hidden_dims": [16], "critic.hidden_dims": [16],
                                                         "reward.name": "saved", "reward.path": str(tmp_path / "airl"),
                                                         "reward.normalize": "none"})
    batch = run.algo.sample_batch()
    obs = batch["observations"]
    assert torch.allclose(batch["rewards"], obs[:, 0] - 2.0 * obs[:, 1], atol=1e-5)
    assert not torch.allclose(batch["rewards"], batch["env_rewards"])
    true = -torch.linalg.norm(batch["next_observations"] - torch.tensor(GOAL, dtype=torch.float32), dim=-1)
    assert torch.allclose(batch["env_rewards"], true, atol=1e-5)  # the buffer keeps the env's (true) reward


def test_wall_blocks_motion_into_it_and_lets_it_slide():
    below = np.array([0.0, -0.1])
    assert np.allclose(move(below, np.array([0.5, 1.0]), "right"), [0.05, -0.1])  # y motion dropped, x kept
    assert np.allclose(move(np.array([0.6, -0.1]), np.array([0.0, 1.0]), "right"), [0.6, 0.0])  # the gap lets it through
    assert np.allclose(move(np.array([0.6, -0.1]), np.array([0.0, 1.0]), "left"), [0.6, -0.1])  # the mirrored wall does not
    assert not in_wall(np.array([[0.6, 0.0]]), "right").any() and in_wall(np.array([[0.6, 0.0]]), "left").all()


@pytest.mark.parametrize("env_id, gap", [(ENV_ID, "right"), (SHIFTED_ENV_ID, "left")])
def test_gap_expert_reaches_the_goal_only_through_its_own_gap(env_id, gap):
    def episode(expert_gap: str) -> tuple[float, np.ndarray]:
        env, expert = gym.make(env_id), GapExpert(expert_gap)
        obs, _ = env.reset(seed=3)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(expert.act(obs))
            total, done = total + reward, terminated or truncated
        return total, obs

    own_return, own_end = episode(gap)
    other_return, other_end = episode("left" if gap == "right" else "right")
    assert np.linalg.norm(own_end - GOAL) < 0.05 and own_return > -15
    assert other_end[1] < 0 and other_return < -40  # stuck under the wall, steering for a gap that is not there


def test_wallpoint_starts_spread_only_when_asked_and_fixed_draws_what_it_always_drew():
    from genpolicy.tasks.wall_point import START, START_NOISE

    default, fixed = gym.make(ENV_ID), gym.make(ENV_ID, start="fixed")
    first, _ = default.reset(seed=7)
    expected = START + np.random.default_rng(7).uniform(-START_NOISE, START_NOISE, size=2)  # gymnasium seeds PCG64
    assert np.allclose(first, expected, atol=1e-6) and np.allclose(fixed.reset(seed=7)[0], first)
    for start, box in (("lower", ([-0.9, -0.9], [0.9, -0.15])), ("box", ([-0.9, -0.9], [0.9, 0.9]))):
        starts = np.array([default.reset(seed=s, options={"start": start})[0] for s in range(200)])
        assert (starts >= np.array(box[0]) - 1e-6).all() and (starts <= np.array(box[1]) + 1e-6).all()
        assert (np.abs(starts[:, 1]) >= 0.15 - 1e-6).all() and np.ptp(starts[:, 0]) > 1.5  # clear of the wall, spread
        assert np.allclose(gym.make(ENV_ID, start=start).reset(seed=3)[0], default.reset(seed=3, options={"start": start})[0])
    assert (starts[:, 1] > 0).any() and (starts[:, 1] < 0).any()  # "box": both sides of the wall
    assert np.allclose(default.reset(seed=7)[0], first)  # an option holds for its episode only
    with pytest.raises(ValueError, match="start must be"):
        default.reset(options={"start": "everywhere"})


def test_g_of_next_state_scores_the_state_reached_in_f_and_when_saved(tmp_path):
    from genpolicy.models.discriminators import ShapedReward
    from genpolicy.trainers.airl import AIRLReward
    from genpolicy.trainers.base import OptimizerConfig

    g, h = saved_linear_reward(tmp_path, absorbing=False), RewardNet(RewardNetConfig(2, 0, []))
    with torch.no_grad():
        h.net[0].weight.copy_(torch.tensor([[0.0, 1.0]]))  # h(x, y) = y
        h.net[0].bias.zero_()
    obs, next_obs = torch.tensor([[1.0, 0.5]]), torch.tensor([[0.0, -1.0]])
    for g_of, expected in (("state", (1.0 - 1.0) + 0.5 * -1.0 - 0.5), ("next_state", 2.0 + 0.5 * -1.0 - 0.5)):
        source = AIRLReward(ShapedReward(g, h, 0.5), 1.0, OptimizerConfig(), g_of=g_of)
        assert source.f(obs, torch.zeros(1, 2), next_obs).tolist() == pytest.approx([expected])
    g.config.metadata["g_of"] = "next_state"
    g.save(tmp_path / "reward")
    saved = SavedReward(tmp_path)
    assert saved(obs, torch.zeros(1, 2), next_obs, torch.zeros(1)).tolist() == pytest.approx([2.0])  # g(s') = 0 + 2


@pytest.mark.parametrize("learner_reward", ["f", "logit"])
def test_airl_learner_reward_is_f_or_the_logit_f_minus_log_pi(tmp_path, learner_reward):
    demos = []
    env, expert = gym.make(ENV_ID), GapExpert("right")
    obs, _ = env.reset(seed=0)
    for _ in range(50):
        action = expert.act(obs)
        next_obs, reward, _, _, _ = env.step(action)
        demos.append((obs, action, reward, next_obs))
        obs = next_obs
    from genpolicy.datasets.episodes import OfflineDataset

    col = lambda i: np.array([d[i] for d in demos], np.float32)  # noqa: E731
    truncated = np.zeros(50, bool)
    truncated[-1] = True
    data = OfflineDataset(col(0), col(1), col(2), np.zeros(50, bool), truncated, col(3), metadata={"env_id": ENV_ID})
    run = genpolicy.train("airl", data=data, env=ENV_ID, out=tmp_path, steps=30, eval_episodes=0, verbose=False,
                          progress_bar=False, overrides={"warmup_steps": 20, "batch_size": 16, "actor.hidden_dims": [16],
                                                         "critic.hidden_dims": [16], "reward_hidden_dims": [16],
                                                         "gradient_penalty": 1.0, "learner_reward": learner_reward})
    algo = run.algo
    batch = algo.sample_batch()
    with torch.no_grad():
        f = algo.reward.f(batch["observations"], batch["actions"], batch["next_observations"])
    log_pi = algo.log_pi(batch["observations"], batch["actions"])
    expected = f - log_pi if learner_reward == "logit" else f
    assert torch.allclose(batch["rewards"], expected, atol=1e-5) and log_pi.abs().sum() > 0
