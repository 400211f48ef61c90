"""Shared fixtures: small synthetic datasets and torch thread limits for 2-core machines."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
# Test nets are tiny: one thread is fastest and immune to a busy CI box.
os.environ.setdefault("GENPOLICY_THREADS", "1")

import gymnasium as gym
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from genpolicy.datasets.episodes import OfflineDataset

torch.set_num_threads(1)


def make_dataset(num_episodes: int = 4, length: int = 10, obs_dim: int = 3, act_dim: int = 2, seed: int = 0) -> OfflineDataset:
    """Episodes whose observation encodes (episode, step) so windows are easy to check by hand."""
    g = torch.Generator().manual_seed(seed)
    n = num_episodes * length
    episode = torch.arange(n) // length
    step = torch.arange(n) % length
    obs = torch.stack([episode.float(), step.float(), *torch.randn(obs_dim - 2, n, generator=g)], dim=1)
    next_obs = obs.clone()
    next_obs[:, 1] += 1
    actions = torch.stack([100 * episode.float() + step.float(), *torch.randn(act_dim - 1, n, generator=g)], dim=1)
    rewards = torch.ones(n)
    terminations = torch.zeros(n, dtype=torch.bool)
    truncations = step == length - 1
    return OfflineDataset(obs, actions, rewards, terminations, truncations, next_obs, metadata={"source": "synthetic"})


@pytest.fixture
def small_dataset() -> OfflineDataset:
    return make_dataset()


class StopAt(Callback):
    """Ask the trainer to stop once ``updates`` updates are done (an interruption, for resume tests)."""

    def __init__(self, updates: int) -> None:
        self.updates = updates

    def on_train_batch_end(self, trainer, algo, *args) -> None:
        if int(algo.num_updates) >= self.updates:
            trainer.should_stop = True


class Reach1D(gym.Env):
    """Move a point to 0: x' = clip(x + 0.5 a, -2, 2), reward -|x'|; the expert a = clip(-2x).
    Registered with a 20-step time limit by each test module under its own id."""

    observation_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-2.0, 2.0)
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x = float(np.clip(self.x + 0.5 * float(np.asarray(action).reshape(-1)[0]), -2.0, 2.0))
        return np.array([self.x], np.float32), -abs(self.x), False, False, {}
