"""DAgger: beta schedules, aggregation with expert labels, per-round export, drift vs BC, exact resume."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import genpolicy
from genpolicy.config import build_config
from genpolicy.datasets import load_dataset
from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.tasks import lane
from genpolicy.trainers import ALGORITHMS, DAggerConfig
from genpolicy.trainers.dagger import beta_at
from genpolicy.trainers.labelers import register_expert, resolve_expert
from genpolicy.trainers.runner import LAST_CHECKPOINT, TrainingStopped
from tests.conftest import Reach1D, StopAt


# ------------------------------------------------------------------ tiny envs
REACH = "GenpolicyTest/DaggerReach1D-v0"
DRIFT = lane.ENV_ID  # BC loses this lane, DAgger keeps it (genpolicy.tasks.lane)
if REACH not in gym.registry:
    gym.register(REACH, entry_point=Reach1D, max_episode_steps=20)


def reach_expert(obs: np.ndarray) -> np.ndarray:
    return np.clip(-2.0 * np.asarray(obs)[:, :1], -1.0, 1.0).astype(np.float32)


drift_expert = lane.expert


register_expert("test-reach", reach_expert)
register_expert("test-drift", drift_expert)


def dagger_overrides(**extra) -> dict:
    values = {"expert": "test-reach", "rounds": 3, "round_env_steps": 40, "updates_per_round": 40, "batch_size": 32,
              "policy.hidden_dims": [16, 16], "updates_per_step": 10, "log_every": 20}
    values.update(extra)
    return values


def train(out, env=REACH, **kwargs):
    return genpolicy.train("dagger", env=env, out=out, eval_episodes=0, verbose=False, progress_bar=False, **kwargs)


# ------------------------------------------------------------------ schedules, config
def test_beta_schedules_by_hand():
    assert [beta_at("constant", i, 0.3, 0) for i in range(3)] == [0.3, 0.3, 0.3]
    assert [beta_at("linear", i, 0.0, 4) for i in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert [beta_at("exponential", i, 0.5, 0) for i in range(4)] == [1.0, 0.5, 0.25, 0.125]
    assert [beta_at("exponential", i, 0.0, 0) for i in range(3)] == [1.0, 0.0, 0.0]  # the default: Ross's best
    with pytest.raises(ValueError, match="schedule"):
        build_config(DAggerConfig, {"beta_schedule": "cosine"})


def test_config_rounds_are_epochs_and_every_round_must_fit():
    assert "dagger" in ALGORITHMS
    config = build_config(DAggerConfig, {"rounds": 4, "updates_per_round": 300, "round_env_steps": 50})
    assert (config.steps, config.updates_per_epoch, config.epochs) == (1200, 300, 4)
    assert [config.env_steps_for(u) for u in (1, 300, 301, 1200)] == [50, 50, 100, 200]  # labels before updates
    assert config.updates_at_env_step(100) == 600
    assert build_config(DAggerConfig, {"steps": 900, "updates_per_round": 300}).rounds == 3  # --steps N: N / U rounds
    with pytest.raises(ValueError, match="buffer_size"):
        build_config(DAggerConfig, {"rounds": 10, "round_env_steps": 1000, "buffer_size": 5000})


def test_expert_specs_resolve(tmp_path):
    labeler = resolve_expert("task", {"task": "pendulum"}, None)
    upright = labeler(np.array([[1.0, 0.0, 0.0], [np.cos(3.0), np.sin(3.0), 0.0]]))
    assert upright.shape == (2, 1) and upright[0, 0] == pytest.approx(0.0)  # balanced: no torque
    imported = resolve_expert("genpolicy.tasks.lane:expert", {}, None)  # module:function
    obs = np.array([[0.0, 0.1], [0.5, -0.3]], np.float32)
    assert imported is lane.expert and np.allclose(imported(obs), [[1.0, -0.3], [1.0, 0.9]])
    with pytest.raises(ValueError, match="built-in task"):
        resolve_expert("task", {"env_id": "Pendulum-v1"}, None)
    with pytest.raises(ValueError, match="not 'task'"):
        resolve_expert("nonsense", {}, None)


# ------------------------------------------------------------------ aggregation
def test_aggregation_keeps_every_round_labelled_by_the_expert(tmp_path):
    run = train(tmp_path, overrides=dagger_overrides(beta_schedule="constant", beta=0.0))
    buffer = run.algo.buffer
    n = len(buffer)
    assert n == 3 * 40 and buffer.added == 120  # every round kept, nothing overwritten
    obs, stored, next_obs = buffer.observations[:n].numpy(), buffer.actions[:n].numpy(), buffer.next_observations[:n].numpy()
    assert np.allclose(stored, reach_expert(obs))  # every visited state carries the expert's label
    executed_by_label = np.isclose(next_obs, np.clip(obs + 0.5 * stored, -2, 2), atol=1e-5).all(axis=1)
    assert not executed_by_label.all()  # beta = 0: the learner acted; what it did is not what is stored
    files = sorted((tmp_path / "dagger").glob("round_*.hdf5"))
    assert [f.name for f in files] == ["round_00.hdf5", "round_01.hdf5", "round_02.hdf5"]
    rounds = [load_dataset(f) for f in files]
    assert [len(d) for d in rounds] == [40, 40, 40]
    assert torch.allclose(torch.cat([d.observations for d in rounds]), buffer.observations[:n])
    assert np.allclose(rounds[1].actions.numpy(), reach_expert(rounds[1].observations.numpy()))
    assert rounds[2].truncations.sum() >= 2  # fresh episodes each round: 40 steps = 2 episodes of 20


def test_beta_one_rolls_out_the_expert_and_demonstrations_join_the_aggregate(tmp_path):
    demos = OfflineDataset(np.zeros((10, 1), np.float32), np.zeros((10, 1), np.float32), np.zeros(10), np.zeros(10, bool),
                           np.arange(10) == 9, np.zeros((10, 1), np.float32), metadata={"source": "demo"})
    run = genpolicy.train("dagger", data=demos, env=REACH, out=tmp_path, eval_episodes=0, verbose=False, progress_bar=False,
                          overrides=dagger_overrides(rounds=1, beta_schedule="constant", beta=1.0, export=False))
    buffer = run.algo.buffer
    obs, stored, next_obs = buffer.observations[:40].numpy(), buffer.actions[:40].numpy(), buffer.next_observations[:40].numpy()
    assert np.allclose(next_obs, np.clip(obs + 0.5 * stored, -2, 2), atol=1e-5)  # the expert itself acted
    assert run.algo.labels == 50 and not (tmp_path / "dagger").exists()
    batch = run.algo.make_sampler().sample(torch.Generator().manual_seed(0))
    assert batch["observations"].shape == (32, 1) and (batch["observations"] == 0).any()  # demonstrations drawn too


# ------------------------------------------------------------------ learning: drift
def test_dagger_drifts_less_than_bc_with_the_same_labels(tmp_path):
    """BC on 8 expert episodes (480 labels) vs DAgger, 4 rounds of 120 labels, same updates."""
    settings = {"policy.hidden_dims": [32, 32], "batch_size": 64, "optim.lr": 3e-3}
    run = train(tmp_path / "dagger", env=DRIFT, overrides={
        **settings, "expert": "test-drift", "rounds": 4, "round_env_steps": 120, "updates_per_round": 150,
        "updates_per_step": 10, "export": False})
    dagger_return = run.evaluate(episodes=4).mean_return

    expert = lane.expert_dataset(episodes=8)  # records the env's action bounds (see its doc)
    bc = genpolicy.train("bc", data=expert, out=tmp_path / "bc", steps=600, eval_episodes=0, verbose=False,
                         progress_bar=False, overrides=settings)
    bc_return = bc.evaluate(episodes=4).mean_return
    # the expert scores 0 (it never leaves y = 0); losing the lane costs up to 1 per step
    assert dagger_return > -2.0, dagger_return  # measured (seeds 0-2): -0.3 to -0.5
    assert bc_return < dagger_return - 10.0, (bc_return, dagger_return)  # measured: about -34


# ------------------------------------------------------------------ resume
def test_interrupt_mid_round_then_resume_is_exact(tmp_path):
    overrides = dagger_overrides(beta_schedule="exponential", beta=0.5, export=False)  # mixing draws RNG
    torch.manual_seed(0)
    whole = train(tmp_path / "whole", overrides=overrides)
    torch.manual_seed(0)
    with pytest.raises(TrainingStopped) as stopped:
        train(tmp_path / "cut", overrides=overrides, callbacks=[StopAt(60)])  # halfway through round 1's refit
    assert stopped.value.updates == 60
    saved = torch.load(tmp_path / "cut" / LAST_CHECKPOINT, weights_only=False)
    assert saved["sources"]["env"]["env_steps"] == 80 and "mixing" in saved["dagger"]
    resumed = train(tmp_path / "cut", overrides=overrides)
    assert int(resumed.algo.num_updates) == 120 and resumed.algo.env_steps == 120
    n = len(whole.algo.buffer)
    for name in ("observations", "actions", "next_observations", "truncations"):
        assert torch.equal(getattr(whole.algo.buffer, name)[:n], getattr(resumed.algo.buffer, name)[:n]), name
    for key, value in whole.algo.policy.state_dict().items():
        assert torch.equal(value, resumed.algo.policy.state_dict()[key]), key
