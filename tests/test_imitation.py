"""Adversarial imitation (GAIL, DAC-style): discriminator math, expert data preparation, learning, resume."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback

import genpolicy
from genpolicy.config import build_config
from genpolicy.datasets.demonstrations import subsample_episodes, with_absorbing_states
from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.models.discriminators import Discriminator, DiscriminatorConfig, gradient_penalty, reward_from_logits
from genpolicy.tasks.wrappers import apply_wrappers
from genpolicy.trainers import ALGORITHMS, GAIL, GAILConfig
from genpolicy.trainers.runner import LAST_CHECKPOINT, TrainingStopped
from genpolicy.training import build_sources
from tests.conftest import Reach1D, StopAt


# ------------------------------------------------------------------ tiny envs
class Countdown(gym.Env):
    """obs = [t, 10 + t], reward 1; even episodes (0, 2, ...) of an env terminate at t = 3, odd ones are
    truncated at t = 4."""

    observation_space = gym.spaces.Box(0.0, 100.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self):
        self.k = -1

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.k = 0, self.k + 1
        return np.array([0.0, 10.0], np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.array([self.t, 10 + self.t], np.float32)
        terminates = self.k % 2 == 0
        return obs, 1.0, terminates and self.t == 3, (not terminates) and self.t == 4, {}


REACH = "GenpolicyTest/ImitationReach1D-v0"
COUNTDOWN = "GenpolicyTest/Countdown-v0"
if REACH not in gym.registry:
    gym.register(REACH, entry_point=Reach1D, max_episode_steps=20)
if COUNTDOWN not in gym.registry:
    gym.register(COUNTDOWN, entry_point=Countdown)


def rollouts(env: gym.Env, act, episodes: int, seed: int = 0) -> list[list[tuple]]:
    """Episodes of ``(obs, action, reward, next_obs, terminated, truncated)`` with ``act(obs)``."""
    out = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        steps, done = [], False
        while not done:
            action = np.asarray(act(obs), np.float32)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            steps.append((obs, action, reward, next_obs, terminated, truncated))
            obs, done = next_obs, terminated or truncated
        out.append(steps)
    return out


def as_dataset(episodes: list[list[tuple]], **metadata) -> OfflineDataset:
    rows = [step for episode in episodes for step in episode]
    column = lambda i, dtype=np.float32: np.array([row[i] for row in rows], dtype)  # noqa: E731
    return OfflineDataset(column(0), column(1), column(2), column(4, bool), column(5, bool), column(3), metadata=metadata)


def reach_expert(obs):
    return np.clip(-2.0 * obs, -1.0, 1.0)


def gail_overrides(**extra):
    values = {
        "steps": 600, "updates_per_step": 10, "updates_per_epoch": 200, "batch_size": 64, "warmup_steps": 100,
        "gamma": 0.9, "log_every": 100, "env_log_every": 100, "snapshot_every": 0,
        "actor.hidden_dims": [32, 32], "critic.hidden_dims": [32, 32], "discriminator.hidden_dims": [32],
        "actor_optim.lr": 1e-3, "critic_optim.lr": 1e-3, "temperature_optim.lr": 1e-3, "discriminator_optim.lr": 1e-3,
    }
    values.update(extra)
    return values


# ------------------------------------------------------------------ discriminator math
def test_gradient_penalty_of_a_linear_discriminator_by_hand():
    # l(s, a) = 3 s + 4 a + 1 with identity input units: grad l = (3, 4) at every interpolate,
    # so the penalty is (||(3, 4)|| - 1)^2 = (5 - 1)^2 = 16, and d/dw = 2 (5 - 1) w / 5
    disc = Discriminator(1, 1, DiscriminatorConfig(hidden_dims=[]))
    with torch.no_grad():
        disc.net[0].weight.copy_(torch.tensor([[3.0, 4.0]]))
        disc.net[0].bias.fill_(1.0)
    expert = disc.inputs(torch.tensor([[0.5], [1.0]]), torch.tensor([[0.2], [-0.3]]))
    policy = disc.inputs(torch.tensor([[-1.0], [2.0]]), torch.tensor([[0.9], [0.0]]))
    assert torch.allclose(expert, torch.tensor([[0.5, 0.2], [1.0, -0.3]]))  # obs 0/1 and actions in [-1, 1]: identity
    penalty = gradient_penalty(disc.logits_of_inputs, expert, policy, torch.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx(16.0)
    penalty.backward()
    assert disc.net[0].weight.grad[0].tolist() == pytest.approx([2 * 4 * 3 / 5, 2 * 4 * 4 / 5])
    # a curved l(x) = x_0^2 / 2 has grad (x_0, 0): at x_hat = eps * 1 + (1 - eps) * 0 the penalty is (eps - 1)^2
    generator = torch.Generator().manual_seed(3)
    eps = torch.rand((4, 1), generator=torch.Generator().manual_seed(3))
    curved = gradient_penalty(lambda x: x[:, 0].square() / 2, torch.tensor([[1.0, 0.0]] * 4), torch.zeros(4, 2), generator)
    assert curved.item() == pytest.approx(float((eps[:, 0] - 1).square().mean()))


def test_reward_forms_from_hand_made_logits():
    logits = torch.tensor([-2.0, 0.0, 3.0, 40.0])
    d = [1 / (1 + math.exp(-v)) for v in (-2.0, 0.0, 3.0)]
    positive, logit, negative = (reward_from_logits(logits, form) for form in ("positive", "logit", "negative"))
    assert positive[:3].tolist() == pytest.approx([-math.log(1 - p) for p in d])
    assert logit[:3].tolist() == pytest.approx([math.log(p) - math.log(1 - p) for p in d])
    assert negative[:3].tolist() == pytest.approx([math.log(p) for p in d])
    assert positive[3].item() == pytest.approx(40.0) and abs(negative[3].item()) < 1e-12  # stable where D -> 1
    assert (positive > 0).all() and (negative < 0).all()  # the signs behind the survival bias
    with pytest.raises(ValueError, match="reward form"):
        reward_from_logits(logits, "log")


# ------------------------------------------------------------------ expert data
def test_subsampling_keeps_every_nth_and_the_terminal_transition():
    n = 13  # episode A: rows 0..7, terminal; episode B: rows 8..12, truncated
    obs = torch.arange(n, dtype=torch.float32)[:, None]
    terminations = torch.zeros(n, dtype=torch.bool)
    truncations = torch.zeros(n, dtype=torch.bool)
    terminations[7], truncations[12] = True, True
    data = OfflineDataset(obs, obs, torch.ones(n), terminations, truncations, obs + 0.5)
    sub = subsample_episodes(data, 3)
    assert sub.observations[:, 0].tolist() == [0, 3, 6, 7, 8, 11]  # 7: A's terminal, kept off the grid
    assert sub.terminations.tolist() == [False, False, False, True, False, False]
    assert sub.truncations.tolist() == [False, False, False, False, False, True]  # B's last kept row ends B
    assert sub.num_episodes == 2 and torch.equal(sub.next_observations, sub.observations + 0.5)
    offsets = subsample_episodes(data, 3, seed=1)
    assert bool(offsets.terminations[offsets.episode_bounds()[0, 1] - 1]) and offsets.num_episodes == 2
    assert subsample_episodes(data, 1) is data


def test_expert_data_in_the_absorbing_space_is_what_the_wrapper_records():
    raw = rollouts(gym.make(COUNTDOWN), lambda obs: [0.0], episodes=2)  # the first terminates, the second truncates
    wrapped = rollouts(apply_wrappers(gym.make(COUNTDOWN), ["absorbing"]), lambda obs: [0.0], episodes=2)
    converted = with_absorbing_states(as_dataset(raw))
    expected = as_dataset(wrapped)
    assert len(converted) == len(expected) == 3 + 1 + 4  # the terminated episode gains one absorbing step, the truncated none
    for name in ("observations", "next_observations", "actions", "rewards", "terminations", "truncations"):
        assert torch.equal(getattr(converted, name), getattr(expected, name)), name
    assert converted.observations[3].tolist() == [0.0, 0.0, 1.0]  # the absorbing state: flag last, rest 0
    assert not converted.terminations.any() and converted.num_episodes == 2


def test_expert_terminations_cut_leave_no_absorbing_row():
    """A demonstrator that ends by failing: with ``expert_terminations=cut`` its falls are
    episode cuts (truncations), so the expert data holds no absorbing state; by default they
    lead to one, as DAC's protocol does for goal-reaching terminations."""
    from genpolicy.trainers.gail import prepare_expert

    n = 13  # episode A: rows 0..7, terminal (a fall); episode B: rows 8..12, truncated
    obs = torch.arange(n, dtype=torch.float32)[:, None]
    terminations, truncations = torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)
    terminations[7], truncations[12] = True, True
    data = OfflineDataset(obs, obs, torch.ones(n), terminations, truncations, obs + 0.5)
    absorbed = prepare_expert(data, GAILConfig(expert_subsample=3))
    cut = prepare_expert(data, GAILConfig(expert_subsample=3, expert_terminations="cut"))
    assert int(absorbed.observations[:, -1].sum()) >= 1  # the absorbing flag column is set somewhere
    assert cut.observations[:, -1].sum() == 0 and not cut.terminations.any()
    assert cut.observations[:, 0].tolist() == [0, 3, 6, 8, 11] and cut.num_episodes == 2  # A's fall is not kept off the grid
    assert cut.truncations.tolist() == [False, False, True, False, True]
    with pytest.raises(ValueError, match="expert_terminations"):
        GAILConfig(expert_terminations="drop")


def test_gail_sizes_from_the_wrapped_env_and_masks_absorbing_actions():
    expert = as_dataset(rollouts(gym.make(COUNTDOWN), lambda obs: [0.5], episodes=4))
    config = build_config(GAILConfig, gail_overrides(expert_subsample=2, expert_episodes=3))
    sources = build_sources(GAIL, config, data=expert, env=COUNTDOWN)
    algo = GAIL(config, sources)
    assert algo.spec.obs_dim == 3 and algo.spec.metadata["env_wrappers"] == [{"name": "absorbing"}]
    assert "reward" in algo.network_names and isinstance(algo.reward.optim, type(config.discriminator_optim))
    # 3 episodes (terminate, truncate, terminate), every 2nd step (+ terminal), + 2 absorbing rows
    assert len(algo.expert_data) == (2 + 2 + 2) + 2 and int(algo.expert_data.observations[:, -1].sum()) == 2
    absorbing = torch.tensor([[0.0, 0.0, 1.0]] * 2)
    actions = torch.tensor([[-1.0], [1.0]])
    logits = algo.reward.logits(absorbing, actions)
    assert torch.isclose(logits[0], logits[1], atol=1e-6)  # the absorbing state is scored by the state alone
    states = torch.tensor([[1.0, 11.0, 0.0]] * 2)
    other = algo.reward.logits(states, actions)
    assert abs(float(other[0] - other[1])) > 1e-4  # elsewhere the action counts
    with pytest.raises(ValueError, match="obs_dim"):
        GAIL(config, build_sources(GAIL, config, data=expert, env=REACH))
    no_absorbing = build_config(GAILConfig, gail_overrides(absorbing=False))
    assert GAIL.env_wrappers(no_absorbing) == [] and GAIL.env_wrappers(config) == [{"name": "absorbing"}]


def test_gail_bro_is_a_configuration_and_runs(tmp_path):
    gail_bro = build_config(GAILConfig, ALGORITHMS["gail-bro"][2])
    assert ALGORITHMS["gail-bro"][0] is GAIL and gail_bro.replay_ratio == 10 and gail_bro.critic.arch == "bronet"
    assert gail_bro.reward.name == "adversarial" and gail_bro.gradient_penalty == 10.0 and gail_bro.absorbing
    expert = as_dataset(rollouts(gym.make(COUNTDOWN), lambda obs: [0.5], episodes=4))
    small = {"critic.width": 32, "critic.blocks": 1, "critic.num_quantiles": 8, "actor.hidden_dims": [32],
             "discriminator.hidden_dims": [16], "steps": 60, "updates_per_step": 10, "updates_per_epoch": 30,
             "warmup_steps": 20, "resets_at": [23], "dormant_every": 30, "batch_size": 32, "snapshot_every": 0}
    run = genpolicy.train("gail-bro", data=expert, env=COUNTDOWN, out=tmp_path, overrides=small, eval_episodes=0,
                          verbose=False, progress_bar=False)
    assert int(run.algo.num_updates) == 60 and run.algo.env_steps == 20 + 6  # replay ratio 10
    assert run.algo.critic(torch.zeros(4, 3), torch.zeros(4, 1)).shape == (2, 4, 8)  # BroNet quantile ensemble


# ------------------------------------------------------------------ learning and resume
def reach_return(policy) -> float:
    from genpolicy.evaluation import evaluate

    return evaluate(policy, REACH, episodes=20, seed=123, num_envs=4).mean_return


def test_gail_learns_reach1d_from_demonstrations_alone(tmp_path):
    expert = as_dataset(rollouts(gym.make(REACH), reach_expert, episodes=10))  # env rewards unused by GAIL
    expert.rewards.zero_()
    run = genpolicy.train("gail", data=expert, env=REACH, out=tmp_path / "gail", eval_episodes=0, verbose=False,
                          overrides=gail_overrides(steps=1500, updates_per_epoch=500, warmup_steps=200), progress_bar=False)
    trained = reach_return(run.policy)
    torch.manual_seed(1)
    untrained = GAIL(run.config, build_sources(GAIL, run.config, data=expert, env=REACH)).export_policy().eval()
    random_return = reach_return(untrained)
    expert_return = float(as_dataset(rollouts(gym.make(REACH), reach_expert, episodes=20, seed=123)).episode_returns().mean())
    # random drifts around at about -20; the expert reaches 0 within 4 steps (about -2)
    assert trained > random_return + 8.0 and trained > 3 * expert_return, (trained, random_return, expert_return)
    assert run.policy.config.metadata["env_wrappers"] == [{"name": "absorbing"}]


class SeeStart(Callback):
    def on_train_start(self, trainer, algo):
        self.buffer, self.updates, self.env_steps = len(algo.buffer), int(algo.num_updates), algo.env_steps
        self.discriminator = {k: v.clone() for k, v in algo.reward.state_dict().items()}
        self.generator = algo.generator.get_state().clone()
        self.optimizer_steps = algo.optimizer("reward").state[next(iter(algo.reward.parameters()))]["step"].clone()


def test_gail_interrupt_then_resume_restores_buffer_discriminator_and_rng(tmp_path):
    expert = as_dataset(rollouts(gym.make(COUNTDOWN), lambda obs: [0.5], episodes=6))
    overrides = gail_overrides(steps=300, updates_per_epoch=100)
    torch.manual_seed(0)
    with pytest.raises(TrainingStopped) as stopped:
        genpolicy.train("gail", data=expert, env=COUNTDOWN, out=tmp_path, overrides=overrides, eval_episodes=0,
                        verbose=False, progress_bar=False, callbacks=[StopAt(120)])
    assert stopped.value.updates == 120
    saved = torch.load(tmp_path / LAST_CHECKPOINT, weights_only=False)
    assert saved["sources"]["env"]["env_steps"] == 100 + 120
    seen = SeeStart()
    run = genpolicy.train("gail", data=expert, env=COUNTDOWN, out=tmp_path, overrides=overrides, eval_episodes=0,
                          verbose=False, progress_bar=False, callbacks=[seen])
    assert (seen.buffer, seen.updates, seen.env_steps) == (220, 120, 220)
    for key, value in seen.discriminator.items():  # the discriminator continues from its saved weights
        assert torch.equal(value, saved["state_dict"][f"reward.{key}"].cpu()), key
    assert torch.equal(seen.generator, saved["genpolicy"]["generators"][0])  # the batch / interpolation RNG
    assert int(seen.optimizer_steps) == 120  # and its optimizer moments (one discriminator step per update)
    assert int(run.algo.num_updates) == 300 and run.algo.env_steps == 400
    assert run.algo.buffer.observations[: len(run.algo.buffer), -1].eq(1).any()  # absorbing states were visited


# ------------------------------------------------------------------ AIRL
def test_airl_shaping_form_by_hand():
    from genpolicy.models.discriminators import ShapedReward

    g = lambda obs: 2.0 * obs[:, 0]  # noqa: E731 - g(s) = 2 s
    h = lambda obs: obs[:, 0].square()  # noqa: E731 - h(s) = s^2
    shaped = ShapedReward(g, h, gamma=0.5)
    obs, next_obs = torch.tensor([[1.0], [3.0]]), torch.tensor([[2.0], [-1.0]])
    f = shaped(obs, torch.zeros(2, 1), next_obs)
    # g(s) + gamma h(s') - h(s): 2 + 0.5 * 4 - 1 = 3 ; 6 + 0.5 * 1 - 9 = -2.5
    assert f.tolist() == pytest.approx([3.0, -2.5])
    ended = shaped(obs, torch.zeros(2, 1), next_obs, terminal=torch.tensor([1.0, 0.0]))
    assert ended.tolist() == pytest.approx([2.0 - 1.0, -2.5])  # no potential after a termination


def test_airl_exports_g_alone_as_a_stand_alone_reward(tmp_path):
    from genpolicy.models.saved_rewards import load_reward

    expert = as_dataset(rollouts(gym.make(COUNTDOWN), lambda obs: [0.5], episodes=6))
    run = genpolicy.train("airl", data=expert, env=COUNTDOWN, out=tmp_path, eval_episodes=0, verbose=False,
                          progress_bar=False, overrides={**gail_overrides(steps=100, updates_per_epoch=50),
                                                         "reward_hidden_dims": [16]})
    reward = load_reward(tmp_path)
    assert reward.config.act_dim == 0 and reward.config.metadata["env_wrappers"] == [{"name": "absorbing"}]
    obs = run.algo.expert_data.observations[:8].cpu()
    next_obs = run.algo.expert_data.next_observations[:8].cpu()
    shaped = run.algo.reward.shaped.cpu()
    with torch.no_grad():
        assert torch.allclose(reward(obs), shaped.g(obs))  # the saved reward is g ...
        f = shaped(obs, torch.zeros(8, 1), next_obs)
        assert not torch.allclose(reward(obs), f)  # ... not f, whose shaping term it leaves out
        assert torch.allclose(f - reward(obs), shaped.gamma * shaped.h(next_obs) - shaped.h(obs), atol=1e-5)
    assert any(p.grad is None for p in reward.parameters())  # a plain module: no training state came with it
    with pytest.raises(ValueError, match="absorbing"):
        build_config(genpolicy.trainers.AIRLConfig, {"absorbing": False})
