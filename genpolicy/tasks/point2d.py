"""Point2D: a point in an empty box, the smallest world in which skills can be told apart by where they go.

Skill discovery (DIAYN and its successors) is measured on this task: without any reward, how
many distinct x-y regions do the learned skills reach, and can a classifier tell them apart?

Env ``genpolicy/Point2D-v0`` (registered on import of ``genpolicy.tasks``):

* observation: ``[x, y]`` (float32) in the box ``[-1, 1]^2``;
* action: a velocity in ``[-1, 1]^2``; the point moves by ``0.05 * action`` per step (small,
  bounded steps: crossing from the centre to a wall takes 20 steps) and is clipped to the box;
* start: the centre ``(0, 0)`` exactly (every skill starts from the same state, so what
  separates skills is only where they go);
* reward: 0 (skills need none); episodes are truncated after 50 steps, never terminated.

The scripted expert flies straight at full speed in a heading drawn uniformly per episode
(until the wall stops it): the hand-made "ideal skills" a discovered set can be compared
with, and a dataset of diverse, reward-free behaviour for offline skill discovery. The
reference scores are nominal (the reward is always 0, so a normalized score says nothing).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from genpolicy.tasks.base import ScriptedExpert, Task

ENV_ID = "genpolicy/Point2D-v0"
BOUND, STEP, MAX_STEPS = 1.0, 0.05, 50
START = np.zeros(2)


class Point2DEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None, image_size: int = 128) -> None:
        self.observation_space = gym.spaces.Box(-BOUND, BOUND, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode, self.image_size = render_mode, image_size
        self.pos = START.copy()
        self.trail: list[np.ndarray] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.pos = START.copy()
        self.trail = [self.pos.copy()]
        return self.pos.astype(np.float32), {}

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self.pos = np.clip(self.pos + STEP * action, -BOUND, BOUND)
        self.trail.append(self.pos.copy())
        # truncation after MAX_STEPS is the TimeLimit wrapper's job (set at registration)
        return self.pos.astype(np.float32), 0.0, False, False, {}

    def render(self) -> np.ndarray | None:
        """A ``[S, S, 3]`` uint8 picture: trail in blue, the point in red."""
        if self.render_mode != "rgb_array":
            return None
        s = self.image_size
        coords = (np.arange(s) + 0.5) / s * 2 * BOUND - BOUND
        x, y = np.meshgrid(coords, coords[::-1])
        image = np.full((s, s, 3), 255, dtype=np.uint8)
        pixel = 2 * BOUND / s
        for p in self.trail[:-1]:
            image[(x - p[0]) ** 2 + (y - p[1]) ** 2 < (1.2 * pixel) ** 2] = (120, 160, 230)
        image[(x - self.pos[0]) ** 2 + (y - self.pos[1]) ** 2 < (3 * pixel) ** 2] = (220, 40, 40)
        return image


class StraightLineExpert(ScriptedExpert):
    """Full speed in one heading, drawn uniformly at each episode start (seeded)."""

    name = "point2d-straight-lines"

    def __init__(self, seed: int = 0, noise: float = 0.0) -> None:
        super().__init__(seed, noise, low=[-1.0, -1.0], high=[1.0, 1.0])
        self.heading = np.array([1.0, 0.0])

    def reset(self, obs: np.ndarray) -> None:
        angle = self.rng.uniform(0.0, 2 * np.pi)
        self.heading = np.array([np.cos(angle), np.sin(angle)])

    def plan(self, obs: np.ndarray) -> np.ndarray:
        return self.heading


def xy_of(observations: np.ndarray) -> np.ndarray:
    return np.asarray(observations)[..., :2]


def plot_background(ax) -> None:
    import matplotlib.patches as patches

    ax.add_patch(patches.Rectangle((-BOUND, -BOUND), 2 * BOUND, 2 * BOUND, fill=False, color="0.3", lw=1))
    ax.plot(*START, "k^", ms=5)
    ax.set_xlim(-BOUND * 1.05, BOUND * 1.05)
    ax.set_ylim(-BOUND * 1.05, BOUND * 1.05)
    ax.set_aspect("equal")


def register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point="genpolicy.tasks.point2d:Point2DEnv", max_episode_steps=MAX_STEPS)
    if "genpolicy/Point2DGoals-v0" not in gym.registry:  # the sparse goal task for using skills (point2d_goals)
        gym.register("genpolicy/Point2DGoals-v0", entry_point="genpolicy.tasks.point2d_goals:Point2DGoalsEnv",
                     max_episode_steps=MAX_STEPS)


def make_env(**kwargs) -> gym.Env:
    register()
    return gym.make(ENV_ID, **kwargs)


POINT2D = Task(
    name="point2d",
    env_id=ENV_ID,
    make_env=make_env,
    make_expert=lambda seed, noise: StraightLineExpert(seed, noise),
    # Nominal: the reward is always 0 (a skill-discovery world), so returns are 0 for every policy.
    ref_min_score=0.0,
    ref_max_score=1.0,
    max_episode_steps=MAX_STEPS,
    expert_name=StraightLineExpert.name,
    xy_of=xy_of,
    plot_background=plot_background,
    description="A point in an empty box, starting at the centre; no reward (skill discovery).",
)
