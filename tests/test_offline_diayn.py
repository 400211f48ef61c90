"""Offline DIAYN on IQL: soft labels, the skill batch, the reward, export / reload, fit and resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import genpolicy
from genpolicy.models.base import load_policy
from genpolicy.models.skills import SkillPolicy, intrinsic_reward
from genpolicy.trainers.offline_diayn import OfflineDIAYN, OfflineDIAYNConfig, skill_posterior
from genpolicy.trainers.runner import LAST_CHECKPOINT, TrainingStopped
from tests.conftest import StopAt, make_dataset

TINY = {"actor.hidden_dims": [16], "critic.hidden_dims": [16], "value.hidden_dims": [16],
        "discriminator.hidden_dims": [16], "batch_size": 32, "skill_eval_every": 0}


def tiny_algo(skills: int = 3, **settings) -> OfflineDIAYN:
    from genpolicy.config import build_config, nest

    config = build_config(OfflineDIAYNConfig, nest({**TINY, "skills": skills, **settings}))
    torch.manual_seed(0)
    return OfflineDIAYN(config, make_dataset(num_episodes=4, length=10, obs_dim=3, act_dim=2))


# ------------------------------------------------------------------ soft labels
def test_posterior_is_the_normalized_likelihood_by_hand():
    log_probs = torch.tensor([[math.log(0.2), math.log(0.6), math.log(0.2)],
                              [math.log(2.0), math.log(1.0), math.log(1.0)]])  # unnormalized is fine
    assert torch.allclose(skill_posterior(log_probs), torch.tensor([[0.2, 0.6, 0.2], [0.5, 0.25, 0.25]]))
    # T = 0.5 squares the likelihoods: [0.04, 0.36, 0.04] / 0.44
    assert torch.allclose(skill_posterior(log_probs, temperature=0.5)[0], torch.tensor([1 / 11, 9 / 11, 1 / 11]))
    floored = skill_posterior(log_probs, floor=0.3)[0]
    assert torch.allclose(floored, 0.7 * torch.tensor([0.2, 0.6, 0.2]) + 0.1)
    # balance: two transitions both favouring skill 0 get split evenly (each skill 1/K of the batch)
    skewed = torch.log(torch.tensor([[0.9, 0.1], [0.9, 0.1]]))
    assert torch.allclose(skill_posterior(skewed, balance=1), torch.full((2, 2), 0.5))
    ordered = torch.log(torch.tensor([[0.9, 0.1], [0.6, 0.4]]))
    balanced = skill_posterior(ordered, balance=50)
    assert torch.allclose(balanced.sum(1), torch.ones(2)) and torch.allclose(balanced.sum(0), torch.ones(2), atol=1e-4)
    assert balanced[0, 0] > balanced[1, 0]  # the order of preferences survives the balancing


def test_skill_log_probs_are_the_actor_per_skill():
    algo = tiny_algo(skills=3)
    batch = algo.sample_batch()
    log_probs = algo.skill_log_probs(batch)
    actor = algo.actor
    for k in range(3):
        obs = batch["observations"].clone()
        obs[:, 3:] = torch.nn.functional.one_hot(torch.full((len(obs),), k), 3).float()
        expected = actor.log_prob(actor.obs_normalizer.normalize(obs),
                                  actor.action_normalizer.normalize(batch["actions"]).clamp(-1, 1))
        assert torch.allclose(log_probs[:, k], expected, atol=1e-5)
    labels = skill_posterior(log_probs)
    assert torch.allclose(labels, torch.softmax(log_probs, -1)) and torch.allclose(labels.sum(1), torch.ones(32))


# ------------------------------------------------------------------ batch and reward
def test_batch_appends_a_one_hot_skill_and_rewards_log_q_of_the_next_state():
    algo = tiny_algo(skills=3)
    data = algo.sources.dataset("transitions")
    assert algo.spec.obs_dim == 3 + 3 and algo.actor.config.obs_dim == 6
    # the one-hot passes the actor's normalizer unchanged; the state dims are standardized
    assert torch.equal(algo.actor.obs_normalizer.shift[3:], torch.zeros(3))
    assert torch.equal(algo.actor.obs_normalizer.scale[3:], torch.ones(3))
    batch = algo.sample_batch()
    obs, next_obs = batch["observations"], batch["next_observations"]
    assert obs.shape == (32, 6) and next_obs.shape == (32, 6)
    code = obs[:, 3:]
    assert set(code.sum(1).tolist()) == {1.0} and set(code.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(next_obs[:, 3:], code)  # the same skill on both sides of the transition
    # the states are dataset rows: (episode, step) in the first two entries pins the row
    rows = (obs[:, 0] * 10 + obs[:, 1]).long()
    assert torch.equal(obs[:, :3], data.observations[rows]) and torch.equal(next_obs[:, :3], data.next_observations[rows])
    assert torch.equal(batch["actions"], data.actions[rows])
    skills = code.argmax(1)
    with torch.no_grad():
        expected = intrinsic_reward(algo.reward.discriminator(next_obs[:, :3]), skills)
    assert torch.allclose(batch["rewards"], expected * algo.reward_scale, atol=1e-6)
    assert algo.reward_scale == 1.0  # reward.normalize=none: the intrinsic reward as it is
    # the draws cover the skills (uniform z per transition)
    draws = torch.cat([algo.sample_batch()["observations"][:, 3:].argmax(1) for _ in range(10)])
    assert set(draws.tolist()) == {0, 1, 2}


def test_discriminator_loss_is_the_soft_label_cross_entropy_on_next_states():
    algo = tiny_algo(skills=3, label_temperature=0.5, label_balance=2)
    batch = algo.sample_batch()  # the reward's forward pass on this batch is reused by the loss
    labels = skill_posterior(algo.skill_log_probs(batch), 0.5, 0.0, 2)
    loss = algo.reward.soft_loss(batch["next_observations"], labels)
    log_q = torch.log_softmax(algo.reward.discriminator(batch["next_observations"][:, :3]), -1)
    assert torch.allclose(loss, -(labels * log_q).sum(1).mean(), atol=1e-6) and loss.requires_grad
    loss.backward()  # reaches q's weights
    assert all(p.grad is not None for p in algo.reward.discriminator.parameters())
    metrics = algo.reward.label_metrics
    assert 0.0 <= float(metrics["label_marginal_entropy"]) <= math.log(3) + 1e-5
    assert 1 / 3 <= float(metrics["discriminator_max_share"]) <= 1.0


# ------------------------------------------------------------------ export, fit, resume
@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """Interrupted after 30 of 60 updates, then resumed to the end; and the same run uninterrupted."""
    overrides = {**TINY, "skills": 3, "steps": 60, "updates_per_epoch": 20, "seed": 1}
    data = make_dataset(num_episodes=4, length=10, obs_dim=3, act_dim=2)
    out = tmp_path_factory.mktemp("odiayn")
    with pytest.raises(TrainingStopped) as stopped:
        genpolicy.train("offline-diayn", data=data, out=out / "resumed", eval_episodes=0, verbose=False,
                        progress_bar=False, overrides=overrides, callbacks=[StopAt(30)])
    assert 30 <= stopped.value.updates < 60 and (out / "resumed" / LAST_CHECKPOINT).exists()  # stopped mid-run
    state = torch.load(out / "resumed" / LAST_CHECKPOINT, weights_only=False)
    assert any(key.startswith("reward.discriminator") for key in state["state_dict"])  # q is checkpointed
    resumed = genpolicy.train("offline-diayn", data=data, out=out / "resumed", eval_episodes=0, verbose=False,
                              progress_bar=False, overrides=overrides)
    straight = genpolicy.train("offline-diayn", data=data, out=out / "straight", eval_episodes=0, verbose=False,
                               progress_bar=False, overrides=overrides)
    return resumed, straight


def test_fit_resumes_and_continues_exactly(resumed_run):
    resumed, straight = resumed_run
    assert int(resumed.algo.num_updates) == 60 == int(straight.algo.num_updates)
    for name in ("actor", "critic", "value", "reward"):
        a, b = getattr(resumed.algo, name).state_dict(), getattr(straight.algo, name).state_dict()
        assert all(torch.allclose(a[key], b[key], atol=1e-6) for key in a), name


def test_exported_skill_policy_reloads_with_identical_actions(resumed_run):
    run = resumed_run[0]
    policy, loaded = run.policy, load_policy(run.dir)
    assert isinstance(policy, SkillPolicy) and isinstance(loaded, SkillPolicy)
    assert loaded.config.obs_dim == 3 and loaded.config.num_skills == 3 and loaded.discriminator is not None
    obs = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    for k in range(3):
        expected = run.algo.actor.act(np.concatenate([obs, np.eye(3, dtype=np.float32)[[k] * 8]], 1))
        assert np.allclose(policy.act(obs, skill=k), expected, atol=1e-6)
        assert np.array_equal(loaded.act(obs, skill=k), policy.act(obs, skill=k))
    assert np.array_equal(loaded.discriminator.classify(obs), policy.discriminator.classify(obs))
