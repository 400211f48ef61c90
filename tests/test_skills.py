"""Skill discovery: the skill wrapper, DIAYN's intrinsic reward, skill-conditioned policies, resume."""

from __future__ import annotations

import csv
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import genpolicy
from genpolicy.evaluation import evaluate
from genpolicy.evaluation.envs import resolve_env
from genpolicy.evaluation.skills import coverage, skill_report
from genpolicy.models.base import load_policy
from genpolicy.models.skills import SkillPolicy, intrinsic_reward
from genpolicy.tasks import get_task
from genpolicy.tasks.skills import SkillWrapper, one_hot
from genpolicy.tasks.wrappers import apply_wrappers
from genpolicy.trainers.runner import LAST_CHECKPOINT, TrainingStopped
from tests.conftest import StopAt

TINY = {"warmup_steps": 300, "batch_size": 128, "updates_per_step": 10, "log_every": 100, "env_log_every": 500,
        "actor.hidden_dims": [64, 64], "critic.hidden_dims": [64, 64], "discriminator.hidden_dims": [64, 64],
        "actor_optim.lr": 1e-3, "critic_optim.lr": 1e-3, "discriminator_optim.lr": 1e-3}


# ------------------------------------------------------------------ reward and coverage by hand
def test_intrinsic_reward_is_log_q_minus_log_uniform_p():
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 3.0, -1.0, 0.5]])
    skills = torch.tensor([0, 3, 2])
    q = torch.softmax(logits, -1)
    by_hand = torch.log(q[torch.arange(3), skills]) - math.log(1 / 4)
    assert torch.allclose(intrinsic_reward(logits, skills), by_hand)
    assert intrinsic_reward(logits, skills)[1].abs() < 1e-6  # a discriminator at chance pays 0
    e2 = math.exp(2.0)
    assert math.isclose(float(intrinsic_reward(logits, skills)[0]), math.log(e2 / (e2 + 3)) + math.log(4), rel_tol=1e-6)


def test_coverage_counts_grid_cells():
    low, high = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    points = np.array([[-0.95, -0.95], [-0.9, -0.9], [0.05, 0.05], [1.0, 1.0]])  # the edge falls in the last cell
    assert coverage(points, low, high, grid=10) == 3 / 100


# ------------------------------------------------------------------ the skill wrapper
def test_skill_wrapper_draws_a_skill_per_episode_and_per_sub_env():
    make = lambda: apply_wrappers(get_task("point2d").make_env(), [{"name": "skill", "skills": 8}])  # noqa: E731
    envs = gym.vector.SyncVectorEnv([make] * 6)
    obs, info = envs.reset(seed=3)
    assert obs.shape == (6, 2 + 8) and np.allclose(obs[:, :2], 0.0)
    assert np.allclose(obs[:, 2:].sum(1), 1.0) and np.array_equal(obs[:, 2:].argmax(1), info["skill"])
    assert len(set(info["skill"].tolist())) > 1  # sub-envs (seeds 3..8) draw different skills
    again, _ = envs.reset(seed=3)
    assert np.array_equal(again, obs)  # reproducible from the reset seed
    skills = obs[:, 2:].argmax(1)
    for _ in range(5):  # fixed within an episode
        obs, *_ = envs.step(np.ones((6, 2), np.float32))
        assert np.array_equal(obs[:, 2:].argmax(1), skills)
    envs.close()

    env = make()
    env.reset(seed=0)
    drawn = [env.reset()[1]["skill"] for _ in range(200)]  # unseeded resets continue the stream
    assert set(drawn) == set(range(8)) and np.bincount(drawn).min() > 10
    pinned = SkillWrapper(get_task("point2d").make_env(), skills=8, skill=5)
    assert all(pinned.reset(seed=s)[0][2:].argmax() == 5 for s in range(5))
    assert np.array_equal(one_hot([1, 0], 3), [[0, 1, 0], [1, 0, 0]])


# ------------------------------------------------------------------ one small DIAYN run, shared
@pytest.fixture(scope="module")
def diayn_run(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("diayn") / "run"
    run = genpolicy.train("diayn", env="point2d", out=out, eval_episodes=2, eval_every=100, verbose=False,
                          progress_bar=False, overrides={**TINY, "skills": 3, "steps": 1500, "updates_per_epoch": 500,
                                                         "discriminator.dims": [0, 1]})
    return run


def test_diayn_skills_separate_in_fresh_rollouts(diayn_run):
    report = skill_report(diayn_run.policy, episodes=2, seed=123)
    assert report.accuracy > 0.8, report.table()  # chance: 1/3
    assert report.final_distance.min() > 0.1, report.table()  # no skill stays at the start
    with open(diayn_run.dir / "logs" / "version_0" / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    last = {key: float(value) for row in rows for key, value in row.items() if value}
    assert last["reward/discriminator_accuracy"] > 0.8 and last["reward/intrinsic_reward"] > 0.5  # log 3 = 1.1 at best
    assert abs(last["reward/skill_entropy"] - math.log(3)) < 0.05  # skills drawn uniformly per episode
    assert last["skills/accuracy"] > 0.8 and "skills/coverage" in last
    assert diayn_run.algo.temperature().item() == pytest.approx(0.1)  # alpha fixed (the paper's 0.1)


def test_skill_wrapper_is_recorded_and_evaluation_rebuilds_it(diayn_run):
    algo, policy = diayn_run.algo, diayn_run.policy
    saved = json.loads((diayn_run.dir / "config.json").read_text())
    assert saved["env_wrappers"] == [{"name": "skill", "skills": 3}]
    # the actor acts in the wrapped env: its record rebuilds [x, y, one-hot] observations
    target = resolve_env(None, algo.actor)
    env = target.make_env()
    obs, info = env.reset(seed=7)
    assert obs.shape == (algo.actor.config.obs_dim,) == (5,) and obs[2 + info["skill"]] == 1.0
    env.close()
    # the exported policy takes the env's own observation and appends the skill itself
    assert policy.config.obs_dim == 2 and "env_wrappers" not in policy.config.metadata
    xy = np.array([[0.0, 0.0], [0.3, -0.2]], np.float32)
    for k in range(3):
        assert np.allclose(policy.act(xy, skill=k), algo.actor.act(np.concatenate([xy, one_hot([k, k], 3)], 1)))
    result = evaluate(policy, episodes=4, seed=0, record_observations=True)  # plain point2d, a skill per episode
    assert result.observations[0].shape[1] == 2 and len(result.returns) == 4


def test_saved_skill_policy_reloads_and_acts_identically(diayn_run):
    policy, loaded = diayn_run.policy, load_policy(diayn_run.dir)
    assert isinstance(loaded, SkillPolicy) and loaded.discriminator is not None
    xy = np.random.default_rng(0).uniform(-1, 1, (16, 2)).astype(np.float32)
    for k in range(3):
        assert np.array_equal(loaded.act(xy, skill=k), policy.act(xy, skill=k))
    assert np.array_equal(loaded.discriminator.classify(xy), policy.discriminator.classify(xy))
    futures = loaded.sample(xy[:2], 6)
    assert futures.shape == (2, 6, 1, 2)
    torch.manual_seed(0)
    deterministic = loaded.sample(xy[:1], 3)
    assert not torch.allclose(deterministic[0, 0], deterministic[0, 1])  # futures under different skills
    # without a skill: one draw per episode, kept until reset() redraws
    loaded.reset()
    torch.manual_seed(1)
    first = loaded.act(np.zeros((64, 2), np.float32))
    kept = loaded.skills_for(64).clone()
    assert len(set(kept.tolist())) == 3 and np.array_equal(loaded.act(np.zeros((64, 2), np.float32)), first)
    loaded.reset(np.arange(64) < 32)
    assert torch.equal(loaded.skills_for(64)[32:], kept[32:]) and not torch.equal(loaded.skills_for(64)[:32], kept[:32])


# ------------------------------------------------------------------ interrupt and resume
def test_diayn_interrupt_then_resume_continues_exactly(tmp_path):
    overrides = {**TINY, "skills": 2, "steps": 300, "updates_per_epoch": 100, "warmup_steps": 100,
                 "skill_eval_every": 0}
    torch.manual_seed(0)
    with pytest.raises(TrainingStopped) as stopped:
        genpolicy.train("diayn", env="point2d", out=tmp_path, eval_episodes=0, verbose=False, progress_bar=False,
                        overrides=overrides, callbacks=[StopAt(120)])
    assert stopped.value.updates == 120 and (tmp_path / LAST_CHECKPOINT).exists()
    state = torch.load(tmp_path / LAST_CHECKPOINT, weights_only=False)
    assert state["sources"]["env"]["env_steps"] == 220 and any(k.startswith("reward.discriminator") for k in state["state_dict"])
    run = genpolicy.train("diayn", env="point2d", out=tmp_path, eval_episodes=0, verbose=False, progress_bar=False,
                          overrides=overrides)
    algo = run.algo
    assert int(algo.num_updates) == 300 and algo.env_steps == 400 and len(algo.buffer) == 400
    skills = algo.buffer.observations[:400, 2:].argmax(1).cpu().numpy()
    assert set(skills.tolist()) == {0, 1}  # both skills were collected (and stored with their states)
    assert (tmp_path / "policy" / "model.safetensors").exists()


def test_cli_skills_and_evaluate_one_skill(diayn_run, capsys):
    from genpolicy.cli import main

    assert main(["skills", str(diayn_run.dir), "--episodes", "1", "--holdout"]) == 0
    out = capsys.readouterr().out
    assert "fresh-rollout accuracy" in out and "held-out classifier" in out and (diayn_run.dir / "skills.png").exists()
    report = json.loads((diayn_run.dir / "skills.json").read_text())
    assert report["num_skills"] == 3 and len(report["final_distance"]) == 3
    assert report["holdout"]["episode_accuracy"] > 0.8  # sampled rollouts of other seeds: still the asked skill
    assert main(["evaluate", str(diayn_run.dir), "--episodes", "2", "--skill", "1"]) == 0
    assert (diayn_run.dir / "eval-2ep-seed0-skill1.json").exists()
