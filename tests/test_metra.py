"""METRA on DIAYN's core: the reward and the constrained representation loss by hand, and a short run."""

from __future__ import annotations

import math

import pytest
import torch

import genpolicy
from genpolicy.evaluation.skill_holdout import HoldoutConfig, holdout_check
from genpolicy.evaluation.skills import skill_report
from genpolicy.models.skills import DiscriminatorConfig, SkillDiscriminator
from genpolicy.trainers.metra import TemporalDistanceReward


def linear_phi(weight: torch.Tensor) -> SkillDiscriminator:
    """phi(s) = W s (no hidden layer, no bias): every step of phi is known in closed form."""
    phi = SkillDiscriminator(2, weight.shape[0], DiscriminatorConfig(hidden_dims=[]))
    with torch.no_grad():
        phi.net[0].weight.copy_(weight)
        phi.net[0].bias.zero_()
    return phi


def test_metra_reward_is_the_phi_step_along_the_centred_skill():
    # K = 3, phi = identity on x-y into the first two of three dims
    source = TemporalDistanceReward(linear_phi(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])), state_dim=2,
                                    slack=1e-3, initial_dual=30.0)
    obs = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0], [0.5, 0.5, 0.0, 1.0, 0.0]])  # [x, y, one_hot(z)], z = 0, 1
    next_obs = torch.tensor([[0.1, 0.2, 1.0, 0.0, 0.0], [0.5, 0.3, 0.0, 1.0, 0.0]])
    reward = source(obs, torch.zeros(2, 2), next_obs, torch.zeros(2))
    # m(0) = (1, -1/2, -1/2), step (0.1, 0.2, 0) -> 0.1 - 0.1 = 0;  m(1) = (-1/2, 1, -1/2), step (0, -0.2, 0) -> -0.2
    assert torch.allclose(reward, torch.tensor([0.0, -0.2]), atol=1e-6)
    assert math.isclose(float(source.log_dual.exp()), 30.0, rel_tol=1e-6)


def test_metra_dual_grows_when_phi_steps_exceed_one_and_phi_climbs_the_skill_direction():
    far = TemporalDistanceReward(linear_phi(torch.tensor([[10.0, 0.0], [0.0, 10.0]])), 2, 1e-3, 30.0)
    obs = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    next_obs = torch.tensor([[0.5, 0.0, 1.0, 0.0]])  # phi step 5 > 1: the constraint is violated
    far.loss(obs, next_obs).backward()
    assert far.log_dual.grad.item() < 0  # a gradient step raises lambda
    # within the constraint, phi's gradient pushes its step along m(z) (here +x for z = 0)
    near = TemporalDistanceReward(linear_phi(torch.tensor([[0.1, 0.0], [0.0, 0.1]])), 2, 1e-3, 30.0)
    near.loss(obs, next_obs).backward()
    assert near.log_dual.grad.item() == pytest.approx(1e-3)  # constraint clamped at eps: lambda shrinks slowly
    assert near.phi.net[0].weight.grad[0, 0].item() < 0  # descending the loss grows W[0, 0] (the z = 0 step)


def test_metra_skills_move_and_separate_on_the_point_task(tmp_path):
    torch.manual_seed(0)
    run = genpolicy.train("metra", env="point2d", out=tmp_path, eval_episodes=0, verbose=False, progress_bar=False,
                          overrides={"skills": 3, "steps": 1500, "updates_per_epoch": 500, "warmup_steps": 300,
                                     "batch_size": 128, "updates_per_step": 10, "log_every": 100,
                                     "actor.hidden_dims": [64, 64], "critic.hidden_dims": [64, 64],
                                     "representation.hidden_dims": [64, 64], "representation.dims": [0, 1],
                                     "actor_optim.lr": 1e-3, "critic_optim.lr": 1e-3, "representation_optim.lr": 1e-3})
    report = skill_report(run.policy, episodes=1, seed=5)
    assert report.accuracy is None and run.policy.discriminator is None  # METRA has no skill classifier
    assert report.final_distance.min() > 0.25, report.table()  # every skill travels
    holdout = holdout_check(run.policy, "point2d", HoldoutConfig(train_episodes=4, test_episodes=3, epochs=150))
    assert holdout.episode_accuracy > 0.8, holdout  # and they go to different places (chance 1/3)


# ---------------------------------------------------------------- continuous skills (skill_dim=d)

def test_continuous_skill_wrapper_draws_unit_directions_per_episode_seeded_and_pins_one():
    import numpy as np

    from genpolicy.tasks.skills import ContinuousSkillWrapper

    from genpolicy.tasks.point2d import make_env

    base = make_env()
    env = ContinuousSkillWrapper(base, dim=3)
    assert env.observation_space.shape == (base.observation_space.shape[0] + 3,)
    assert np.all(env.observation_space.low[-3:] == -1) and np.all(env.observation_space.high[-3:] == 1)
    obs, info = env.reset(seed=4)
    z = obs[-3:]
    assert np.linalg.norm(z) == pytest.approx(1.0, abs=1e-6) and np.array_equal(info["skill"], z)
    step_obs = env.step(env.action_space.sample())[0]
    assert np.array_equal(step_obs[-3:], z)  # fixed for the episode
    second = env.reset()[0][-3:]
    assert not np.allclose(second, z)  # a new episode draws a new direction
    assert np.array_equal(env.reset(seed=4)[0][-3:], z)  # seeded: the same stream again
    pinned = ContinuousSkillWrapper(base, dim=3, skill=[0.0, 2.0, 0.0])
    assert np.allclose(pinned.reset(seed=1)[0][-3:], [0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="nonzero vector of 3"):
        ContinuousSkillWrapper(base, dim=3, skill=[0.0, 0.0, 0.0])


def test_continuous_metra_reward_is_the_phi_step_along_z_itself():
    source = TemporalDistanceReward(linear_phi(torch.tensor([[1.0, 0.0], [0.0, 1.0]])), state_dim=2,
                                    slack=1e-3, initial_dual=30.0, continuous=True)
    s = 0.5 ** 0.5
    obs = torch.tensor([[0.0, 0.0, s, s], [0.2, 0.0, -1.0, 0.0]])  # [x, y, z]
    next_obs = torch.tensor([[0.1, 0.3, s, s], [0.3, 0.0, -1.0, 0.0]])
    reward = source(obs, torch.zeros(2, 2), next_obs, torch.zeros(2))
    # (0.1, 0.3) . (s, s) = 0.4 s;  (0.1, 0) . (-1, 0) = -0.1 (no centring of a continuous z)
    assert torch.allclose(reward, torch.tensor([0.4 * s, -0.1]), atol=1e-6)


def test_export_directions_are_evenly_spread_unit_vectors():
    import numpy as np

    from genpolicy.trainers.metra import export_directions

    circle = export_directions(4, 2)
    assert np.allclose(circle, [[1, 0], [0, 1], [-1, 0], [0, -1]], atol=1e-6)
    assert np.allclose(export_directions(3, 1), [[1], [-1], [1]])
    sphere = export_directions(5, 4)
    assert sphere.shape == (5, 4) and np.allclose(np.linalg.norm(sphere, axis=-1), 1.0, atol=1e-6)
    assert np.array_equal(sphere, export_directions(5, 4))  # the same codebook every export


def test_continuous_metra_exports_a_codebook_policy_that_moves_each_way_and_reloads(tmp_path):
    import numpy as np

    from genpolicy.models.base import load_policy

    torch.manual_seed(0)
    run = genpolicy.train("metra", env="point2d", out=tmp_path / "run", eval_episodes=0, verbose=False,
                          progress_bar=False,
                          overrides={"skills": 4, "skill_dim": 2, "steps": 1500, "updates_per_epoch": 500,
                                     "warmup_steps": 300, "batch_size": 128, "updates_per_step": 10, "log_every": 100,
                                     "actor.hidden_dims": [64, 64], "critic.hidden_dims": [64, 64],
                                     "representation.hidden_dims": [64, 64], "representation.dims": [0, 1],
                                     "actor_optim.lr": 1e-3, "critic_optim.lr": 1e-3, "representation_optim.lr": 1e-3})
    policy = run.policy
    assert policy.config.num_skills == 4 and np.allclose(policy.config.codebook, [[1, 0], [0, 1], [-1, 0], [0, -1]],
                                                          atol=1e-6)
    assert "env_wrappers" not in policy.config.metadata  # the policy appends z itself: evaluation runs the plain env
    report = skill_report(policy, episodes=1, seed=5)
    assert report.final_distance.min() > 0.25, report.table()  # every exported direction travels
    # opposite directions end on opposite sides (the skills follow z, not one shared corner)
    finals = report.final_xy
    assert np.linalg.norm(finals[0] - finals[2]) > 0.5 and np.linalg.norm(finals[1] - finals[3]) > 0.5, finals
    obs = np.zeros((3, 2), np.float32)
    policy.eval()
    actions = policy.act(obs, skill=1)
    policy.save(tmp_path / "saved")
    again = load_policy(tmp_path / "saved")
    again.eval()
    assert np.array_equal(again.act(obs, skill=1), actions)
