"""The training core's seams: data sources, env collectors with wrappers, `genpolicy.train`.

The centrepiece is `ToyImitation`: a new algorithm written the way the README says one is
added (this file + one registry line). It draws from two sources at once (a demonstration
dataset and an env collector), acts in a wrapped env (absorbing states), trains through
`genpolicy.train`, resumes exactly after an interruption, and evaluates through the wrappers
its run recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
import torch

from genpolicy.datasets import OfflineDataset
from genpolicy.datasets.collector import EnvCollector
from genpolicy.datasets.samplers import TransitionSampler
from genpolicy.datasets.sources import DatasetSource, Sources
from genpolicy.evaluation import evaluate
from genpolicy.models import load_policy
from genpolicy.models.policies import MLPPolicyConfig
from genpolicy.tasks.wrappers import AbsorbingState, apply_wrappers
from genpolicy.trainers import ALGORITHMS, SAC, register_algorithm
from genpolicy.trainers.base import Algorithm, OptimizerConfig
from genpolicy.trainers.collection import CollectionConfig
from genpolicy.trainers.policy_algorithm import make_env_policy
from genpolicy.trainers.rewards import REWARD_SOURCES, register_reward_source
from genpolicy.trainers.runner import TrainingStopped
from genpolicy.training import build_sources, train
from tests.conftest import StopAt, make_dataset


# ------------------------------------------------------------------ a terminating env
class Goal1D(gym.Env):
    """x' = clip(x + 0.5 a, -2, 2); reward -|x'|; terminates when |x'| < 0.25 (time limit 15)."""

    observation_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = float(self.np_random.choice([-1.5, 1.5]))
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x = float(np.clip(self.x + 0.5 * float(np.asarray(action).reshape(-1)[0]), -2.0, 2.0))
        return np.array([self.x], np.float32), -abs(self.x), abs(self.x) < 0.25, False, {}


GOAL = "GenpolicyTest/Goal1D-v0"
if GOAL not in gym.registry:
    gym.register(GOAL, entry_point=Goal1D, max_episode_steps=15)


def expert_demos(episodes: int = 8) -> OfflineDataset:
    """Demonstrations in the *wrapped* env's observation space ([x, absorbing flag])."""
    env = apply_wrappers(gym.make(GOAL), ["absorbing"])
    rows = {k: [] for k in ("obs", "act", "rew", "term", "trunc", "next")}
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        done = False
        while not done:
            action = np.clip(-2.0 * obs[:1], -1, 1).astype(np.float32)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            for key, value in zip(rows, (obs, action, reward, terminated, truncated, next_obs)):
                rows[key].append(value)
            obs, done = next_obs, terminated or truncated
    t = {k: torch.as_tensor(np.array(v)) for k, v in rows.items()}
    return OfflineDataset(t["obs"].float(), t["act"].float(), t["rew"].float(), t["term"].bool(), t["trunc"].bool(),
                          t["next"].float(), metadata={"source": "toy-demos"})


# ------------------------------------------------------------- the toy algorithm
@dataclass
class ToyConfig(CollectionConfig):
    steps: int = 60
    updates_per_step: int = 10
    updates_per_epoch: int = 20
    batch_size: int = 32
    warmup_steps: int = 20
    log_every: int = 20
    snapshot_every: int = 0


class ToyImitation(Algorithm):
    """Clones the demonstrations (source ``"demos"``) while its own actions fill the replay
    buffer of the env collector (source ``"env"``); the env is wrapped with absorbing states."""

    data_source = "demos"
    needs_env = True

    @staticmethod
    def env_wrappers(config: ToyConfig) -> list[dict]:
        return [{"name": "absorbing"}]

    def __init__(self, config: ToyConfig, sources: Sources) -> None:
        super().__init__(config, sources)
        policy = make_env_policy("bc-mse", MLPPolicyConfig(hidden_dims=[16]), self.spec, obs_horizon=1,
                                 pred_horizon=1, action_horizon=1, tanh_squash=True)
        self.add_network("policy", policy, OptimizerConfig(lr=1e-2))

    def make_sampler(self):
        demos = TransitionSampler(self.sources.dataset("demos"), self.config.batch_size)
        replay = self.collector.transitions(self.config.batch_size)
        return _Both(demos, replay)

    def update(self, batch):
        demos, policy = batch["demos"], self.policy
        obs = policy.obs_normalizer.normalize(demos["observations"])
        target = policy.action_normalizer.normalize(demos["actions"]).clamp(-1, 1)
        loss = (policy.mean_action(obs) - target).square().mean()
        self.step("policy", loss)
        absorbing = batch["replay"]["observations"][:, -1].mean()
        return {"loss": loss.detach(), "replay/absorbing_fraction": absorbing}

    @torch.no_grad()
    def explore(self, obs):
        return self.policy.act(obs)

    def export_policy(self):
        return self.policy


class _Both:
    def __init__(self, demos, replay):
        self.demos, self.replay = demos, replay

    def sample(self, generator):
        return {"demos": self.demos.sample(generator), "replay": self.replay.sample(generator)}


@pytest.fixture
def toy():
    register_algorithm("toy", ToyImitation, ToyConfig)  # the one registry line
    yield "toy"
    ALGORITHMS.pop("toy")


def _weights(algo):
    return {k: v.detach().clone() for k, v in algo.state_dict().items()}


def test_a_new_algorithm_with_two_sources_and_a_wrapped_env_trains_resumes_and_evaluates(toy, tmp_path):
    demos = expert_demos()
    run = train(toy, data=demos, env=GOAL, out=tmp_path / "whole", eval_episodes=4, eval_every=1, progress_bar=False)
    algo = run.algo
    assert set(algo.sources) == {"demos", "env"} and algo.collector.wrappers == [{"name": "absorbing"}]
    assert algo.spec.obs_dim == 2  # sized from the wrapped env, not the raw one
    assert int(algo.num_updates) == 60 and algo.env_steps == 20 + 60
    buffer = algo.buffer
    assert bool((buffer.observations[: len(buffer), -1] == 1).any())  # absorbing states were collected
    assert len(run.eval_history) == 3 and "eval/return" in run.eval_history[-1]
    saved = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert saved["env_wrappers"] == [{"name": "absorbing"}]

    # the exported policy records the wrappers; evaluation rebuilds the wrapped env from them
    policy = load_policy(tmp_path / "whole")
    assert policy.config.metadata["env_wrappers"] == [{"name": "absorbing"}] and policy.config.obs_dim == 2
    result = evaluate(policy, episodes=4, seed=0)
    assert result.mean_return > -12.0  # the cloned expert reaches the goal (a random policy: about -20)

    # interrupted at update 30, then the same call resumes to an exact finish
    with pytest.raises(TrainingStopped):
        train(toy, data=expert_demos(), env=GOAL, out=tmp_path / "cut", eval_episodes=0, callbacks=[StopAt(30)],
              progress_bar=False)
    resumed = train(toy, data=expert_demos(), env=GOAL, out=tmp_path / "cut", eval_episodes=0, progress_bar=False)
    assert int(resumed.algo.num_updates) == 60 and resumed.algo.env_steps == 80
    want, got = _weights(algo), _weights(resumed.algo)
    for key in want:  # demo batches come from the checkpointed generator: same weights
        assert torch.equal(want[key], got[key]), key


def test_sources_coerce_and_refuse_clearly():
    data = make_dataset()
    assert isinstance(Sources.coerce(data)["data"], DatasetSource)
    sources = Sources(data=data)
    assert sources.spec.obs_dim == 3 and sources.collector is None
    with pytest.raises(ValueError, match="needs a dataset source 'expert'"):
        sources.dataset("expert", needed_by="GAIL")
    with pytest.raises(TypeError, match="source 'x'"):
        Sources(x=42)
    with pytest.raises(ValueError, match="learns from its own env interaction"):
        SAC(ALGORITHMS["sac"][1](), data)


def test_absorbing_wrapper_at_a_termination_and_not_at_a_truncation():
    env = AbsorbingState(gym.make(GOAL))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2,) and obs[-1] == 0
    sign = -np.sign(obs[0])
    obs, reward, terminated, truncated, _ = env.step(np.array([sign], np.float32))  # 1.5 -> 1.0
    obs, reward, terminated, truncated, _ = env.step(np.array([sign], np.float32))  # -> 0.5
    obs, reward, terminated, truncated, info = env.step(np.array([sign], np.float32))  # -> 0.0: terminal
    assert obs.tolist() == [0.0, 1.0] and reward == pytest.approx(0.0) and not terminated and not truncated
    obs, reward, terminated, truncated, _ = env.step(np.array([0.0], np.float32))  # the absorbing step
    assert obs.tolist() == [0.0, 1.0] and reward == 0.0 and not terminated and truncated

    timed = AbsorbingState(gym.make(GOAL, max_episode_steps=1))
    obs, _ = timed.reset(seed=0)
    obs, _, terminated, truncated, _ = timed.step(np.array([0.0], np.float32))  # a time limit, not a termination
    assert obs[-1] == 0 and truncated and not terminated


def test_collector_labels_replace_stored_actions_and_its_state_round_trips():
    labels = lambda obs, actions: np.full_like(actions, 0.25)  # noqa: E731 - another actor's labels
    collector = EnvCollector(lambda: gym.make(GOAL), env_info={"env_id": GOAL}, num_envs=2, buffer_size=100,
                             label=labels)
    collector.start()
    collector.collect(30, lambda obs: np.zeros((len(obs), 1), np.float32), random_until=10)
    assert collector.env_steps == 30 and len(collector.buffer) == 30
    assert torch.allclose(collector.buffer.actions[:30], torch.full((30, 1), 0.25))
    state = collector.state_dict()
    other = EnvCollector(lambda: gym.make(GOAL), env_info={"env_id": GOAL}, num_envs=2, buffer_size=100)
    other.load_state_dict(state)
    assert other.env_steps == 30 and torch.equal(other.buffer.observations[:30], collector.buffer.observations[:30])
    assert collector.spec.metadata["source"] == f"online:{GOAL}"
    collector.close()


def test_a_learned_reward_source_is_a_registered_network_and_its_metrics_are_logged(tmp_path, monkeypatch):
    class LinearReward(torch.nn.Module):
        """r = w * env_reward (learned, trivially): what GAIL's discriminator plugs into."""

        optim = OptimizerConfig(lr=1e-3)

        def __init__(self, scale: float) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(()))

        def forward(self, obs, actions, next_obs, env_rewards):
            return self.weight.detach() * env_rewards

        def metrics(self):
            return {"weight": self.weight.detach()}

    monkeypatch.setitem(REWARD_SOURCES, "linear", lambda scale, algo: LinearReward(scale))
    register_reward_source("linear", lambda scale, algo: LinearReward(scale))
    run = train("sac", env="Pendulum-v1", out=tmp_path, overrides={
        "reward.name": "linear", "steps": 40, "updates_per_epoch": 20, "warmup_steps": 50, "log_every": 20,
        "batch_size": 32, "actor.hidden_dims": [16], "critic.hidden_dims": [16], "snapshot_every": 0},
        eval_episodes=0, progress_bar=False)
    assert "reward" in run.algo.network_names and "reward.weight" in run.algo.state_dict()
    rows = (tmp_path / "logs" / "version_0" / "metrics.csv").read_text()
    assert "reward/weight" in rows.splitlines()[0]


def test_train_five_line_example(tmp_path, monkeypatch):
    """The README's Python example, at a tiny budget."""
    import genpolicy

    monkeypatch.setenv("GENPOLICY_DATA", str(tmp_path / "data"))
    run = genpolicy.train("bc", data="pendulum", out=tmp_path / "pend-bc", steps=200, eval_every=1, eval_episodes=2)
    assert run.eval_history[-1]["updates"] == 200
    result = genpolicy.evaluate(run.policy, episodes=2)
    assert result.normalized_score is not None and (tmp_path / "pend-bc" / "policy" / "model.safetensors").is_file()


def test_build_sources_names_what_each_algorithm_draws_from():
    from genpolicy.trainers import IQL, IQLConfig, SACConfig

    data = make_dataset()
    assert list(build_sources(IQL, IQLConfig(), data=data)) == ["data"]
    with pytest.raises(ValueError, match="learns online: pass env="):
        build_sources(SAC, SACConfig(), data=data)
    sources = build_sources(SAC, SACConfig(buffer_size=10), env="Pendulum-v1", wrappers=["absorbing"])
    assert sources.collector.wrappers == [{"name": "absorbing"}] and sources.spec.obs_dim == 4
    sources.collector.close()


def test_user_wrappers_go_inside_the_algorithms_own():
    # the algorithm's wrappers make the interface it reads (DIAYN's skill in the last entries), so
    # they are outermost; the user's change the env itself
    from genpolicy.trainers import DIAYN, DIAYNConfig

    sources = build_sources(DIAYN, DIAYNConfig(skills=3, buffer_size=10), env="Pendulum-v1", wrappers=["absorbing"])
    assert sources.collector.wrappers == [{"name": "absorbing"}, {"name": "skill", "skills": 3}]
    assert sources.spec.obs_dim == 3 + 1 + 3  # [cos, sin, velocity, absorbing flag, one_hot(z)]
    sources.collector.close()
