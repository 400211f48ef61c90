"""Lane: a toy where behaviour cloning's errors compound (DAgger's test bed).

    obs (x, y),  x' = x + a_x / 60,  y' = clip(1.3 y + 0.2 a_y, -1, 1),  reward -|y'|,
    60 steps from (0, 0) exactly (``genpolicy/Lane-v0``)

The lateral mode is unstable (x1.3 per step); the expert ``a = (1, clip(-3 y))`` makes it
contract (x0.7) from anywhere within |y| < 2/3. The expert's own rollouts never leave y = 0, so
its demonstrations hold no lateral correction at all: a cloned policy's tiny residual a_y at
y = 0 grows 1.3-fold per step until the lane is lost, in states the expert never showed (Ross et
al.'s compounding error, made exact). Its first DAgger round already visits the drifted states
and labels them. Expert return 0; losing the lane costs up to 1 per step (a uniform random policy
scores -54, measured over 100 episodes).

Not a built-in task (`genpolicy.tasks.TASKS`): a gymnasium id registered when this module is
imported, and the expert as a batched function for DAgger's ``expert=genpolicy.tasks.lane:expert``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

ENV_ID = "genpolicy/Lane-v0"
STEPS = 60


class LaneEnv(gym.Env):
    """See the module doc."""

    observation_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.y = 0.0, 0.0
        return np.array([self.x, self.y], np.float32), {}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), -1.0, 1.0)
        self.x += a[0] / STEPS
        self.y = float(np.clip(1.3 * self.y + 0.2 * a[1], -1.0, 1.0))
        return np.array([self.x, self.y], np.float32), -abs(self.y), False, False, {}


def expert(obs: np.ndarray) -> np.ndarray:
    """The lane-keeping expert on a batch ``[N, 2]`` -> ``[N, 2]``: full speed, ``a_y = clip(-3 y)``."""
    obs = np.asarray(obs, dtype=np.float64).reshape(-1, 2)
    return np.stack([np.ones(len(obs)), np.clip(-3.0 * obs[:, 1], -1.0, 1.0)], axis=1).astype(np.float32)


def expert_dataset(episodes: int):
    """Expert rollouts as an `OfflineDataset` that records the env's action bounds (a cloned
    policy then acts within them; clipped to the demonstrations' own range, a_y in [0, 0], it
    would keep the lane by construction rather than by learning)."""
    from genpolicy.datasets.episodes import OfflineDataset

    env = gym.make(ENV_ID)
    rows = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        done = False
        while not done:
            action = expert(obs[None])[0]
            next_obs, reward, terminated, truncated, _ = env.step(action)
            rows.append((obs, action, reward, terminated, truncated, next_obs))
            obs, done = next_obs, terminated or truncated
    columns = [np.array([r[i] for r in rows], dtype) for i, dtype in
               enumerate((np.float32, np.float32, np.float64, bool, bool, np.float32))]
    return OfflineDataset(*columns, metadata={"env_id": ENV_ID, "source": "lane-expert",
                                              "action_low": [-1.0, -1.0], "action_high": [1.0, 1.0]})


def register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=LaneEnv, max_episode_steps=STEPS)


register()

__all__ = ["ENV_ID", "LaneEnv", "expert", "expert_dataset", "register"]
