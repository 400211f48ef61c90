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
