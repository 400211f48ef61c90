"""Online core: replay buffer, env loop under every autoreset mode, SAC / BRO, resets, resume."""

from __future__ import annotations

import copy

import csv
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from genpolicy.config import build_config
from genpolicy.datasets.env_loop import EnvLoop, make_online_envs
from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.replay import MixedSampler, ReplayBuffer, ReplaySampler, observation_layout, symmetric_sampler
from genpolicy.datasets.samplers import TransitionSampler
from genpolicy.models.critics import td_target
from genpolicy.trainers import ALGORITHMS, SAC, SACConfig
from genpolicy.trainers.rewards import EnvReward, RewardSource
from genpolicy.trainers.runner import LAST_CHECKPOINT, TrainingStopped, fit
from genpolicy.trainers.sac import temperature_objective
from genpolicy.training import build_sources
from tests.conftest import Reach1D, StopAt


# ------------------------------------------------------------------ tiny envs
class Counter(gym.Env):
    """obs = [episode k of this env, step t]. Even episodes terminate at t = 3, odd ones are
    truncated at t = 5 (by the env itself); reward = t."""

    observation_space = gym.spaces.Box(0.0, 1e6, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self):
        self.k, self.t = -1, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.k, self.t = self.k + 1, 0
        return np.array([self.k, 0], np.float32), {}

    def step(self, action):
        self.t += 1
        even = self.k % 2 == 0
        return np.array([self.k, self.t], np.float32), float(self.t), even and self.t == 3, (not even) and self.t == 5, {}


REACH = "GenpolicyTest/Reach1D-v0"
if REACH not in gym.registry:
    gym.register(REACH, entry_point=Reach1D, max_episode_steps=20)


def sac_config(**overrides) -> SACConfig:
    values = {
        "steps": 200, "updates_per_step": 10, "updates_per_epoch": 100, "batch_size": 64, "warmup_steps": 100,
        "gamma": 0.9, "log_every": 50, "env_log_every": 100,
        "actor": {"hidden_dims": [32, 32]}, "critic": {"hidden_dims": [32, 32]},
        "actor_optim": {"lr": 1e-3}, "critic_optim": {"lr": 1e-3}, "temperature_optim": {"lr": 1e-3},
    }
    values.update(overrides)
    return build_config(SACConfig, values)


def online_sac(config: SACConfig, env: str = REACH, data=None) -> SAC:
    """SAC collecting in ``env`` (and mixing ``data`` into every batch)."""
    return SAC(config, build_sources(SAC, config, env=env, data=data))


# ------------------------------------------------------------------ replay buffer
def test_replay_wraps_around_and_samples():
    buffer = ReplayBuffer(5, obs_dim=1, act_dim=1)
    for step in range(3):  # 2 sub-envs, 3 vector steps = 6 transitions into 5 rows
        obs = np.array([[10 * step], [10 * step + 1]], np.float32)
        buffer.add(obs, obs, np.array([step, step]), obs + 100, [False, False], [False, step == 2])
    assert len(buffer) == 5 and buffer.position == 1 and buffer.added == 6
    # the oldest transition (obs 0) was overwritten by the newest (obs 21) in row 0
    assert buffer.observations[:, 0].tolist() == [21, 1, 10, 11, 20]
    assert buffer.observations[buffer.chronological(), 0].tolist() == [1, 10, 11, 20, 21]
    batch = buffer.sample(torch.Generator().manual_seed(0), 256)
    offline = buffer.to_dataset()
    assert batch.keys() == TransitionSampler(offline, 4).sample(torch.Generator()).keys()  # the samplers' contract
    assert set(batch["observations"][:, 0].tolist()) == {1.0, 10.0, 11.0, 20.0, 21.0}  # filled rows only, all reached
    assert torch.equal(batch["next_observations"], batch["observations"] + 100)
    assert batch["terminations"].dtype == torch.float32
    # checkpoint round trip keeps rows, position and counters
    copy = ReplayBuffer(5, 1, 1)
    copy.load_state_dict(buffer.state_dict())
    assert copy.position == 1 and copy.size == 5 and copy.added == 6
    assert torch.equal(copy.observations, buffer.observations) and torch.equal(copy.truncations, buffer.truncations)


def test_replay_to_dataset_puts_interleaved_episodes_back_together():
    buffer = ReplayBuffer(100, 1, 1)
    # env 0: episode A (3 steps, truncated), then B (running); env 1: episode C (2 steps, terminated), D (running)
    steps = [  # (obs env0, obs env1, term, trunc)
        ((1, 101), (False, False), (False, False)),
        ((2, 102), (False, True), (False, False)),
        ((3, 201), (False, False), (True, False)),
        ((11, 202), (False, False), (False, False)),
    ]
    for obs, term, trunc in steps:
        o = np.array(obs, np.float32)[:, None]
        buffer.add(o, o, [0, 0], o, term, trunc)
    data = buffer.to_dataset({"env_id": "x"})
    assert data.observations[:, 0].tolist() == [1, 2, 3, 101, 102, 201, 202, 11]
    assert data.num_episodes == 4 and data.metadata["env_id"] == "x"
    assert data.terminations.tolist() == [0, 0, 0, 0, 1, 0, 0, 0]
    # A ends in its real truncation; the running episodes D and B end in one (unfinished)
    assert data.truncations.tolist() == [0, 0, 1, 0, 0, 0, 1, 1]
    # a resumed run cuts the running episodes the same way, in the buffer itself
    assert buffer.end_running_episodes() == 2 and buffer.end_running_episodes() == 0


def test_dict_observations_use_the_datasets_layout():
    space = gym.spaces.Dict({"desired_goal": gym.spaces.Box(-1, 1, (2,)), "observation": gym.spaces.Box(-1, 1, (3,)),
                             "achieved_goal": gym.spaces.Box(-1, 1, (2,))})
    layout = observation_layout(space)
    assert layout == {"observation": [0, 3], "achieved_goal": [3, 5], "desired_goal": [5, 7]}
    buffer = ReplayBuffer(4, 7, 1, obs_layout=layout)
    obs = {"observation": np.zeros((1, 3)), "achieved_goal": np.ones((1, 2)), "desired_goal": 2 * np.ones((1, 2))}
    buffer.add(obs, [[0.0]], [0.0], obs, [False], [False])
    assert buffer.observations[0].tolist() == [0, 0, 0, 1, 1, 2, 2]


def test_mixed_sampler_is_half_offline_half_replay():
    n = 10
    offline = OfflineDataset(torch.zeros(n, 1), torch.zeros(n, 1), torch.zeros(n), torch.zeros(n, dtype=torch.bool),
                             torch.zeros(n, dtype=torch.bool), torch.zeros(n, 1))
    buffer = ReplayBuffer(10, 1, 1)
    buffer.add(np.ones((3, 1)), np.ones((3, 1)), np.ones(3), np.ones((3, 1)), np.zeros(3, bool), np.zeros(3, bool))
    batch = symmetric_sampler(offline, buffer, 64).sample(torch.Generator().manual_seed(0))
    assert batch["observations"].shape == (64, 1)
    assert batch["observations"][:32].sum() == 0 and batch["observations"][32:].eq(1).all()
    assert isinstance(symmetric_sampler(offline, buffer, 8), MixedSampler)
    assert ReplaySampler(buffer, 5).sample(torch.Generator()).keys() == batch.keys()


# ------------------------------------------------------------------ env loop
@pytest.mark.parametrize("mode", ["same_step", "next_step", "disabled"])
def test_env_loop_stores_true_final_observations(mode):
    envs = make_online_envs(Counter, 2, mode)
    buffer = ReplayBuffer(1000, 2, 1)
    loop = EnvLoop(envs, buffer)
    loop.start(seed=0)
    stored = sum(loop.step(np.zeros((2, 1), np.float32)) for _ in range(30))
    finished = loop.drain()
    loop.close()
    assert stored == len(buffer)
    rows = buffer.chronological()
    obs, next_obs = buffer.observations[rows], buffer.next_observations[rows]
    # every stored transition stays inside its episode: the final observation of an ended
    # episode is its own last state, never the next episode's reset observation
    assert torch.equal(next_obs[:, 0], obs[:, 0]) and torch.equal(next_obs[:, 1], obs[:, 1] + 1)
    even = obs[:, 0] % 2 == 0
    assert torch.equal(buffer.terminations[rows], even & (next_obs[:, 1] == 3))
    assert torch.equal(buffer.truncations[rows], ~even & (next_obs[:, 1] == 5))
    assert torch.equal(buffer.rewards[rows], next_obs[:, 1])
    # NEXT_STEP spends one vector step per episode end on the reset alone (nothing stored)
    assert stored == (60 - len(finished) + sum(loop._resetting) if mode == "next_step" else 60)
    assert all(length == (3 if ret == 6 else 5) for ret, length in finished)  # returns 1+2+3 / 1+..+5


def test_td_targets_bootstrap_through_truncation_only_in_vector_envs():
    envs = make_online_envs(Counter, 3, "same_step")
    buffer = ReplayBuffer(1000, 2, 1)
    loop = EnvLoop(envs, buffer)
    loop.start(seed=0)
    for _ in range(20):
        loop.step(np.zeros((3, 1), np.float32))
    loop.close()
    batch = buffer.sample(torch.Generator().manual_seed(0), 512)
    value = lambda obs: 10.0 * obs[:, 1]  # noqa: E731 - V(s) = 10 t, to see which s' was used
    target = td_target(batch["rewards"], value(batch["next_observations"]), batch["terminations"], 0.5)
    t_next = batch["next_observations"][:, 1]
    terminal = batch["terminations"].bool()
    truncated = (batch["observations"][:, 0] % 2 == 1) & (t_next == 5)
    assert terminal.any() and truncated.any()
    assert torch.equal(target[terminal], batch["rewards"][terminal])  # no bootstrap at termination
    # truncated: bootstraps from the final observation (t = 5), not the reset one (t = 0)
    assert torch.allclose(target[truncated], batch["rewards"][truncated] + 0.5 * 50.0)
    assert torch.allclose(target[~terminal], batch["rewards"][~terminal] + 5.0 * t_next[~terminal])


# ------------------------------------------------------------------ SAC pieces
def test_temperature_loss_by_hand():
    log_alpha = torch.tensor(math.log(0.5), requires_grad=True)
    log_probs = torch.tensor([-1.0, 0.5], requires_grad=True)
    loss = temperature_objective(log_alpha, log_probs, target_entropy=-1.0)
    # -(log 0.5 * ((-1 - 1) + (0.5 - 1)) / 2)
    assert loss.item() == pytest.approx(-(math.log(0.5) * (-2.0 + -0.5) / 2))
    loss.backward()
    assert log_alpha.grad.item() == pytest.approx(1.25)  # entropy 0.25 > target -1: descent lowers alpha
    assert log_probs.grad is None or torch.all(log_probs.grad == 0)


def test_reward_source_seam():
    source = EnvReward(scale=2.0)
    assert isinstance(source, RewardSource)
    r = source(torch.zeros(3, 1), torch.zeros(3, 1), torch.zeros(3, 1), torch.tensor([1.0, 2.0, 3.0]))
    assert r.tolist() == [2.0, 4.0, 6.0]


def test_online_algorithms_are_registered_and_bro_is_a_configuration():
    for name in ("sac", "bro", "bro-fast"):
        cls, config_cls, overrides = ALGORITHMS[name]
        assert cls is SAC and config_cls is SACConfig
    bro = build_config(SACConfig, ALGORITHMS["bro"][2])
    assert bro.critic.arch == "bronet" and bro.replay_ratio == 10 and bro.critic.num_quantiles > 1
    assert build_config(SACConfig, ALGORITHMS["bro-fast"][2]).replay_ratio == 2
    assert sac_config(replay_ratio=0.25).env_steps_for(3) == 100 + 12
    assert sac_config(replay_ratio=10).env_steps_for(11) == 100 + 2


def evaluate_return(policy, episodes=20):
    from genpolicy.evaluation import evaluate

    return evaluate(policy, REACH, episodes=episodes, seed=123, num_envs=4).mean_return


def test_sac_learns_reach1d_clearly_better_than_random(tmp_path):
    torch.manual_seed(0)
    algo = fit(online_sac(sac_config(steps=1500, updates_per_epoch=500, warmup_steps=200)), tmp_path, progress_bar=False)
    torch.manual_seed(1)
    random_return = evaluate_return(online_sac(sac_config()).export_policy())
    trained = evaluate_return(algo.export_policy())
    # random actions (or an untrained actor) drift around: about -20; reaching 0 and staying: about -2
    assert trained > -5.0 and trained > random_return + 8.0, (trained, random_return)
    assert algo.env_steps == 200 + 1500 and len(algo.buffer) == algo.env_steps
    rows = list(csv.DictReader(open(next(tmp_path.glob("logs/version_0/metrics.csv")))))
    env_rows = [r for r in rows if r.get("env/episode_return")]
    assert env_rows and float(env_rows[-1]["env/steps"]) == float(env_rows[-1]["step"])
    assert float(env_rows[-1]["env/steps_per_s"]) > 0 and float(env_rows[-1]["train/updates_per_s"]) > 0


class ResetAndCheck(Callback):
    """At Lightning step ``at``: reset every network as `NetworkResets` does, check the semantics."""

    def __init__(self, at):
        self.at, self.checked = at, False

    def on_train_batch_end(self, trainer, algo, outputs, batch, batch_idx):
        if batch_idx != self.at:
            return
        size, steps = len(algo.buffer), algo.env_steps
        before = [p.clone() for p in algo.critic.parameters()]
        assert algo.optimizer("critic").state  # moments exist before
        for name in ("actor", "critic", "temperature"):
            algo.reset_network(name)
        assert len(algo.buffer) == size and algo.env_steps == steps  # data kept
        assert all(not torch.equal(a, b) for a, b in zip(before, algo.critic.parameters()))  # fresh weights
        for a, b in zip(algo.critic.parameters(), algo.critic_target.parameters()):
            assert torch.equal(a, b)  # target = the fresh critic
        assert not algo.optimizer("critic").state and not algo.optimizer("actor").state  # fresh moments
        assert algo.temperature().item() == pytest.approx(algo.config.initial_temperature)
        self.checked = True


def test_online_reset_keeps_buffer_and_renews_networks(tmp_path):
    check = ResetAndCheck(at=5)
    config = sac_config(steps=200, resets_at=[200], dormant_every=50)  # env step 200 = update 100
    algo = fit(online_sac(config), tmp_path, progress_bar=False, callbacks=[check])
    assert check.checked and int(algo.num_updates) == 200 and len(algo.buffer) == algo.env_steps
    rows = list(csv.DictReader(open(next(tmp_path.glob("logs/version_0/metrics.csv")))))
    resets = [r for r in rows if r.get("reset/critic")]
    assert [int(r["step"]) for r in resets] == [100] and resets[0]["reset/actor"] and resets[0]["reset/temperature"]
    assert any(r.get("dormant/critic") for r in rows)


class SeeStart(Callback):
    def on_train_start(self, trainer, algo):
        self.buffer, self.updates, self.env_steps = len(algo.buffer), int(algo.num_updates), algo.env_steps


def test_interrupt_then_resume_continues(tmp_path, capsys):
    torch.manual_seed(0)
    with pytest.raises(TrainingStopped) as stopped:
        fit(online_sac(sac_config(steps=300)), tmp_path, progress_bar=False, callbacks=[StopAt(120)])
    assert stopped.value.updates == 120 and (tmp_path / LAST_CHECKPOINT).exists()
    state = torch.load(tmp_path / LAST_CHECKPOINT, weights_only=False)
    assert state["sources"]["env"]["env_steps"] == 100 + 120 and state["sources"]["env"]["buffer"]["size"] == 220
    seen = SeeStart()
    capsys.readouterr()
    algo = fit(online_sac(sac_config(steps=300)), tmp_path, progress_bar=False, callbacks=[seen])
    out = capsys.readouterr().out
    assert "env state is not saved" in out and out.count("[online] resumed") == 1
    assert (seen.buffer, seen.updates, seen.env_steps) == (220, 120, 220)  # continued, not restarted
    assert int(algo.num_updates) == 300 and algo.env_steps == 400 and len(algo.buffer) == 400
    assert algo.buffer.truncations.any()  # the episode cut by the interruption ends in a truncation


def test_cli_fit_sac_needs_only_env(tmp_path, capsys):
    from genpolicy.cli import main

    out = tmp_path / "run"
    code = main(["fit", "sac", "--env", REACH, "--steps", "40", "--out", str(out), "--eval-episodes", "0",
                 "--set", "warmup_steps=50", "--set", "batch_size=32", "--set", "actor.hidden_dims=[16]",
                 "--set", "critic.hidden_dims=[16]"])
    assert code == 0 and (out / "policy" / "model.safetensors").exists()
    assert "env steps for 40 updates" in capsys.readouterr().out
    assert main(["fit", "sac", "--steps", "40", "--out", str(tmp_path / "x")]) == 2
    assert "--env" in capsys.readouterr().err


def test_bro_configuration_runs_quantile_bronet_update(tmp_path):
    overrides = {**ALGORITHMS["bro"][2], "critic.width": 32, "critic.blocks": 1, "critic.num_quantiles": 8,
                 "actor.hidden_dims": [32], "steps": 60, "updates_per_step": 10, "updates_per_epoch": 30,
                 "warmup_steps": 20, "resets_at": [23], "dormant_every": 30, "batch_size": 32, "log_every": 30}
    config = build_config(SACConfig, overrides)
    algo = fit(online_sac(config), tmp_path, progress_bar=False)
    assert int(algo.num_updates) == 60 and algo.env_steps == 20 + 6  # replay ratio 10: 10 updates per env step
    assert algo.critic(torch.zeros(4, 1), torch.zeros(4, 1)).shape == (2, 4, 8)  # ensemble x batch x quantiles
    rows = list(csv.DictReader(open(next(tmp_path.glob("logs/version_0/metrics.csv")))))
    resets = [r for r in rows if r.get("reset/critic")]
    assert [int(r["step"]) for r in resets] == [30]  # env step 23 = update 30
    assert resets[0]["reset/explorer"] and resets[0]["reset/kl_weight"]  # the optimistic actor is reset too
    assert any(r.get("train/explorer_kl") for r in rows) and algo.explorer is not algo.actor
    assert all(math.isfinite(float(r["train/critic_loss"])) for r in rows if r.get("train/critic_loss"))


def test_agent_and_replay_buffer_make_minari_datasets(tmp_path, capsys):
    from genpolicy.cli import main
    from genpolicy.datasets import load_dataset

    run = tmp_path / "run"
    assert main(["fit", "sac", "--env", REACH, "--steps", "30", "--out", str(run), "--eval-episodes", "0",
                 "--set", "warmup_steps=45", "--set", "batch_size=16", "--set", "actor.hidden_dims=[8]",
                 "--set", "critic.hidden_dims=[8]"]) == 0
    assert main(["collect", REACH, "--agent", str(run), "--episodes", "3", "--stochastic", "--out", str(tmp_path / "agent")]) == 0
    agent = load_dataset(tmp_path / "agent")
    assert agent.num_episodes == 3 and len(agent) == 60 and agent.metadata["recipe"]["stochastic"]
    assert agent.metadata["recipe"]["updates"] == 30 and agent.metadata["recipe"]["env_steps"] == 75
    assert main(["collect", REACH, "--agent", str(run), "--replay", "--out", str(tmp_path / "replay")]) == 0
    replay = load_dataset(tmp_path / "replay")
    # 75 env steps = 3 whole episodes of 20 + one running episode of 15 (ends truncated)
    assert len(replay) == 75 and replay.num_episodes == 4 and replay.metadata["recipe"]["name"] == "replay"
    assert torch.equal(replay.next_observations[:-1][~replay.episode_ends[:-1]], replay.observations[1:][~replay.episode_ends[:-1]])


def test_offline_data_is_half_of_every_online_batch(tmp_path):
    n = 50
    offline = OfflineDataset(torch.zeros(n, 1), torch.zeros(n, 1), torch.full((n,), 123.0), torch.zeros(n, dtype=torch.bool),
                             torch.zeros(n, dtype=torch.bool), torch.zeros(n, 1))
    algo = fit(online_sac(sac_config(steps=20, updates_per_epoch=20), data=offline), tmp_path, progress_bar=False)
    batch = algo.sample_batch()
    assert batch["env_rewards"][:32].eq(123).all() and batch["env_rewards"][32:].le(0).all()


# ------------------------------------------------------------------ offline-to-online
def test_sac_starts_from_an_offline_iql_run(tmp_path, capsys):
    from genpolicy.trainers import IQL, TD3BC, IQLConfig, TD3BCConfig

    collector = fit(online_sac(sac_config(steps=10, updates_per_epoch=10, warmup_steps=400)), tmp_path / "collect", progress_bar=False)
    data = collector.buffer.to_dataset()
    small = {"steps": 40, "updates_per_step": 10, "updates_per_epoch": 40, "batch_size": 64,
             "actor": {"hidden_dims": [32, 32]}, "critic": {"hidden_dims": [16, 16]}}
    offline = fit(IQL(build_config(IQLConfig, small), data), tmp_path / "iql", progress_bar=False)

    algo = online_sac(sac_config(init=str(tmp_path / "iql"), warmup_steps=50))
    assert "init: actor and critics of the IQL run" in capsys.readouterr().out
    assert algo.warm_started and algo.config.critic.hidden_dims == [16, 16]
    for mine, theirs in ((algo.actor, offline.actor), (algo.critic, offline.critic), (algo.critic_target, offline.critic_target)):
        for (key, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(a, b.cpu()), key  # weights and the offline normalizers
    assert algo.reward_source.scale == pytest.approx(offline.reward_scale)
    assert algo.temperature().item() == pytest.approx(algo.config.initial_temperature)  # IQL learns none
    fit(algo, tmp_path / "online", progress_bar=False)
    assert algo.env_steps == 50 + 200 and algo.update_index > 0

    td3bc = fit(TD3BC(build_config(TD3BCConfig, small), data), tmp_path / "td3bc", progress_bar=False)
    assert td3bc is not None
    with pytest.raises(ValueError, match="td3bc.*stochastic|stochastic"):
        online_sac(sac_config(init=str(tmp_path / "td3bc")))
    with pytest.raises(FileNotFoundError, match="no config.json"):
        online_sac(sac_config(init=str(tmp_path / "nowhere")))


def test_critic_warmup_updates_train_only_the_critic_first(tmp_path):
    torch.manual_seed(0)
    algo = online_sac(sac_config(steps=40, updates_per_epoch=20, critic_warmup_updates=40))
    actor, critic = copy.deepcopy(algo.actor.state_dict()), copy.deepcopy(algo.critic.state_dict())
    temperature = algo.temperature().item()
    fit(algo, tmp_path, progress_bar=False)
    assert all(torch.equal(v, algo.actor.state_dict()[k]) for k, v in actor.items())
    assert algo.temperature().item() == temperature
    assert not all(torch.equal(v, algo.critic.state_dict()[k]) for k, v in critic.items())
    # past the warm-up (here: the same run resumed for more updates) the actor learns too
    resumed = fit(online_sac(sac_config(steps=60, updates_per_epoch=20, critic_warmup_updates=40)), tmp_path, progress_bar=False)
    assert not all(torch.equal(v, resumed.actor.state_dict()[k]) for k, v in actor.items())


def test_snapshot_picking_for_medium_and_expert(tmp_path):
    from genpolicy.datasets.agent_recipes import Snapshot, pick_snapshot

    snaps = [Snapshot(tmp_path / str(i), 100 * i, 100 * i, 100 * i, r) for i, r in enumerate([-20.0, 10.0, 35.0, 90.0, 80.0])]
    assert pick_snapshot(snaps, "expert").updates == 300
    # a third of the way from the floor -20 to the best 90 is 16.7: the 10.0 snapshot is closest
    assert pick_snapshot(snaps, "medium").updates == 100
    # a random reference of 60 moves the target to 70: the 80.0 snapshot
    assert pick_snapshot(snaps, "medium", floor=60.0).updates == 400
    with pytest.raises(ValueError, match="no snapshot has an evaluation"):
        pick_snapshot([Snapshot(tmp_path, 1, 1, 1, None)], "medium")


def test_d4rl_recipes_from_an_online_run(tmp_path, capsys):
    from genpolicy.cli import main
    from genpolicy.datasets import load_dataset

    run = tmp_path / "run"
    assert main(["fit", "sac", "--env", REACH, "--steps", "60", "--out", str(run), "--eval-episodes", "2", "--eval-every", "1",
                 "--set", "warmup_steps=45", "--set", "batch_size=16", "--set", "actor.hidden_dims=[8]",
                 "--set", "critic.hidden_dims=[8]", "--set", "updates_per_epoch=20"]) == 0
    snapshots = sorted((run / "snapshots").glob("updates-*"))
    assert [p.name for p in snapshots] == ["updates-000000020", "updates-000000040", "updates-000000060"]
    for recipe in ("random", "medium", "expert", "medium-expert", "medium-replay"):
        out = tmp_path / recipe
        assert main(["collect", REACH, "--agent", str(run), "--recipe", recipe, "--episodes", "2", "--out", str(out)]) == 0
        data = load_dataset(out)
        meta = data.metadata["recipe"]
        assert meta["name"] == recipe
        if recipe in ("random", "medium", "expert"):
            assert data.num_episodes == 2 and len(data) == 40
        if recipe == "medium-expert":
            assert data.num_episodes == 4 and {"medium", "expert"} <= set(meta)
        if recipe == "medium-replay":  # the buffer up to the medium snapshot, nothing after it
            assert len(data) == meta["snapshot_env_steps"] and meta["snapshot_updates"] in (20, 40, 60)
    assert main(["collect", REACH, "--agent", str(run), "--recipe", "stitch", "--out", str(tmp_path / "bad")]) != 0
    assert "scripted expert, not with --agent" in capsys.readouterr().err


def test_bro_started_from_a_run_explores_in_the_actors_units(tmp_path):
    collector = fit(online_sac(sac_config(steps=10, updates_per_epoch=10, warmup_steps=200)), tmp_path / "collect", progress_bar=False)
    from genpolicy.trainers import IQL, IQLConfig

    small = {"steps": 20, "updates_per_step": 10, "updates_per_epoch": 20, "batch_size": 32,
             "actor": {"hidden_dims": [16]}, "critic": {"hidden_dims": [16]}}
    fit(IQL(build_config(IQLConfig, small), collector.buffer.to_dataset()), tmp_path / "iql", progress_bar=False)
    algo = online_sac(sac_config(init=str(tmp_path / "iql"), optimistic_actor=True))
    for key, value in algo.actor.state_dict().items():
        assert torch.equal(value, algo.explorer.state_dict()[key]), key  # normalizers included
