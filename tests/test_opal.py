"""OPAL-style offline skills: the KL between Gaussians, segments, k-means, the codebook policy,
and a seconds-long check that skills learned from four kinds of straight flights fly four ways."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import genpolicy
from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.samplers import SegmentSampler
from genpolicy.evaluation.skills import near_data_fraction, skill_report
from genpolicy.models.base import load_policy
from genpolicy.models.latent_skills import LatentSkillPolicy, LatentSkillPolicyConfig, gaussian_kl_between, kmeans
from genpolicy.models.skills import SkillPolicy
from tests.conftest import make_dataset

HEADINGS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], np.float32)


def four_ways(episodes_per_heading: int = 8, length: int = 20) -> OfflineDataset:
    """point2d flights from the centre, each at full speed in one of four headings."""
    obs, actions, nxt = [], [], []
    for _ in range(episodes_per_heading):
        for heading in HEADINGS:
            x = np.zeros(2, np.float32)
            for _ in range(length):
                x_next = np.clip(x + 0.05 * heading, -1, 1)
                obs.append(x), actions.append(heading), nxt.append(x_next)
                x = x_next
    n = len(obs)
    step = torch.arange(n) % length
    return OfflineDataset(torch.tensor(np.array(obs)), torch.tensor(np.array(actions)), torch.zeros(n),
                          torch.zeros(n, dtype=torch.bool), step == length - 1, torch.tensor(np.array(nxt)),
                          metadata={"task": "point2d", "env_id": "genpolicy/Point2D-v0", "max_episode_steps": 50,
                                    "action_low": [-1.0, -1.0], "action_high": [1.0, 1.0]})


def test_kl_between_diagonal_gaussians_by_hand():
    # KL(N(1, 1) || N(0, 4)) = 0.5 * (log 4 - 0 + (1 + 1) / 4 - 1)
    kl = gaussian_kl_between(torch.tensor([[1.0]]), torch.tensor([[0.0]]), torch.tensor([[0.0]]),
                             torch.tensor([[math.log(4.0)]]))
    assert kl.item() == pytest.approx(0.5 * (math.log(4.0) + 0.5 - 1.0), abs=1e-6)
    same = gaussian_kl_between(torch.ones(3, 2), torch.zeros(3, 2), torch.ones(3, 2), torch.zeros(3, 2))
    assert torch.allclose(same, torch.zeros(3))


def test_segments_lie_inside_one_episode_and_short_episodes_give_none():
    data = make_dataset(num_episodes=3, length=10)  # obs[:, 0] = episode, obs[:, 1] = step
    sampler = SegmentSampler(data, batch_size=64, length=4)
    assert len(sampler.starts) == 3 * 7  # starts 0..6 of each 10-step episode
    batch = sampler.sample(torch.Generator().manual_seed(0))
    assert batch["observations"].shape == (64, 4, 3) and batch["actions"].shape == (64, 4, 2)
    episode, step = batch["observations"][..., 0], batch["observations"][..., 1]
    assert (episode == episode[:, :1]).all() and (step - step[:, :1] == torch.arange(4)).all()
    assert torch.equal(batch["actions"][..., 0], 100 * episode + step)  # the actions of the same steps
    with pytest.raises(ValueError, match="no episode of the dataset has 11 steps"):
        SegmentSampler(data, 8, 11)


def test_kmeans_finds_separated_clusters_and_is_seeded():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    points = (centres[:, None] + 0.1 * torch.randn(3, 50, 2, generator=g)).reshape(-1, 2)
    found = kmeans(points, 3, torch.Generator().manual_seed(1))
    assert torch.cdist(found, centres).min(0).values.max() < 0.1  # each true centre has a found one nearby
    assert torch.equal(found, kmeans(points, 3, torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="at least k=4"):
        kmeans(points[:3], 4, torch.Generator())


def test_the_codebook_policy_runs_the_latent_of_the_commanded_skill():
    config = LatentSkillPolicyConfig(obs_dim=2 + 3, act_dim=2, num_skills=3, latent_dim=4, hidden_dims=[16],
                                     obs_norm="identity", action_norm="identity")
    torch.manual_seed(0)
    policy = LatentSkillPolicy(config)
    policy.codebook.copy_(torch.randn(3, 4))
    states = torch.randn(5, 2)
    for k in range(3):
        one_hot = torch.nn.functional.one_hot(torch.full((5,), k), 3).float()
        action = policy.predict_chunk(torch.cat([states, one_hot], -1)[:, None])[:, 0]
        expected = policy.decoder.mean_action(torch.cat([states, policy.codebook[k].expand(5, -1)], -1))
        assert torch.allclose(action, expected)


def test_opal_skills_from_four_flight_directions_fly_four_ways_and_reload(tmp_path):
    data = four_ways()
    run = genpolicy.train("opal", data=data, out=tmp_path / "run", steps=600, eval_episodes=0, progress_bar=False,
                          overrides={"skills": 4, "batch_size": 64, "hidden_dims": [64, 64], "encoder_hidden": 32,
                                     "updates_per_step": 20, "updates_per_epoch": 600, "optim.lr": 3e-3})
    policy = run.policy
    assert isinstance(policy, SkillPolicy) and policy.config.num_skills == 4
    report = skill_report(policy, "point2d", episodes=1, max_episode_steps=20)
    # each skill flies off (about 1 box width in 20 steps at full speed), one per heading
    assert report.final_distance.min() > 0.3
    headings = {int(np.argmax(HEADINGS @ xy)) for xy in report.final_xy}
    assert headings == {0, 1, 2, 3}
    states = np.concatenate([traj[1:] for episodes in report.trajectories for traj in episodes])
    # mostly on the data's four lines (600 updates leave a skill drifting up to ~0.1 off its line)
    assert near_data_fraction(states, data.observations.numpy(), data_next_states=data.next_observations.numpy()) > 0.7
    # export is deterministic (the same codebook) and the saved policy acts the same
    assert torch.equal(run.algo.export_policy().actor.codebook, policy.actor.codebook)
    reloaded = load_policy(tmp_path / "run" / "policy")
    obs = np.array([[0.1, -0.2], [0.3, 0.0]], np.float32)
    for k in range(4):
        assert np.array_equal(reloaded.use_skill(k).act(obs), policy.use_skill(k).act(obs))
