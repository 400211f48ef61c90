"""TwoPaths: the smallest task on which averaging two good behaviours is a bad behaviour.

A point starts below a round obstacle and must reach a goal above it. The expert goes around
the left or the right side with probability 1/2 per episode, so the data is bimodal; a policy
that regresses to the mean action goes straight up and hits the obstacle. This is the textbook
case for generative (GMM / CVAE / diffusion) policies over plain MSE behaviour cloning.

Env ``genpolicy/TwoPaths-v0`` (registered on import of ``genpolicy.tasks``):

* observation: ``[x, y]`` (float32). The goal is fixed, so it is not part of the observation.
* action: velocity in ``[-1, 1]^2``; the point moves by ``0.1 * action`` per step.
* start: ``(0, -1)`` plus uniform jitter in ``[-0.05, 0.05]^2``; goal ``(0, 1)``; obstacle: disc
  of radius 0.4 at the origin.
* reward: ``+1`` on the step that reaches the goal (within 0.1), else 0 — so an episode's return
  IS its success (0 or 1). ``terminated`` on success or on entering the obstacle (collision);
  truncated after 60 steps. ``info`` has ``success`` and ``collision``.

``genpolicy/TwoPathsValue-v0`` (task ``two-paths-value``) is the same world where the two ways
pay differently: the right way runs through mud beside the obstacle (``x > 0.2``,
``|y| < 0.5``), which costs ``0.05`` per step spent in it (the expert's right way spends about
ten steps there, return ~0.5; its left way returns 1). The expert still takes both ways 50/50,
so imitation splits while a value-aware learner should prefer the left way. The penalty is a
function of the position alone, so the reward stays Markov.
"""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np

from genpolicy.tasks.base import ScriptedExpert, Task

ENV_ID = "genpolicy/TwoPaths-v0"
START, GOAL = np.array([0.0, -1.0]), np.array([0.0, 1.0])
OBSTACLE_RADIUS, GOAL_RADIUS, STEP, JITTER, MAX_STEPS = 0.4, 0.1, 0.1, 0.05, 60
BOUND = 1.5  # the world is [-1.5, 1.5]^2; positions are clipped to it (and the image shows it)
VALUE_ENV_ID = "genpolicy/TwoPathsValue-v0"
MUD_X, MUD_HALF_HEIGHT, MUD_PENALTY = 0.2, 0.5, 0.05  # two-paths-value: mud beside the obstacle, right side


def in_mud(xy: np.ndarray) -> np.ndarray:
    """True where a position ``[..., 2]`` lies in the right-side mud of two-paths-value."""
    xy = np.asarray(xy)
    return (xy[..., 0] > MUD_X) & (np.abs(xy[..., 1]) < MUD_HALF_HEIGHT)


class TwoPathsEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None, image_size: int = 128, mud_penalty: float = 0.0) -> None:
        self.observation_space = gym.spaces.Box(-BOUND, BOUND, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.image_size = image_size
        self.mud_penalty = float(mud_penalty)
        self.pos = START.copy()
        self.trail: list[np.ndarray] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.pos = START + self.np_random.uniform(-JITTER, JITTER, size=2)
        self.trail = [self.pos.copy()]
        return self._obs(), {"success": False, "collision": False}

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self.pos = np.clip(self.pos + STEP * action, -BOUND, BOUND)
        self.trail.append(self.pos.copy())
        success = bool(np.linalg.norm(self.pos - GOAL) < GOAL_RADIUS)
        collision = bool(np.linalg.norm(self.pos) < OBSTACLE_RADIUS)
        reward = (1.0 if success else 0.0) - (self.mud_penalty if self.mud_penalty and in_mud(self.pos) else 0.0)
        # truncation after MAX_STEPS is the TimeLimit wrapper's job (set at registration)
        return self._obs(), reward, success or collision, False, {"success": success, "collision": collision}

    def _obs(self) -> np.ndarray:
        return self.pos.astype(np.float32)

    def render(self) -> np.ndarray | None:
        """A ``[S, S, 3]`` uint8 picture drawn with numpy: obstacle, goal, trail, point."""
        if self.render_mode != "rgb_array":
            return None
        s = self.image_size
        # pixel centres -> world coordinates (row 0 is the top, y grows upward)
        coords = (np.arange(s) + 0.5) / s * 2 * BOUND - BOUND
        x, y = np.meshgrid(coords, coords[::-1])
        image = np.full((s, s, 3), 255, dtype=np.uint8)
        if self.mud_penalty:
            image[in_mud(np.stack([x, y], axis=-1))] = (222, 200, 160)
        image[x**2 + y**2 < OBSTACLE_RADIUS**2] = (90, 90, 90)
        image[(x - GOAL[0]) ** 2 + (y - GOAL[1]) ** 2 < GOAL_RADIUS**2] = (60, 180, 75)
        pixel = 2 * BOUND / s
        for p in self.trail[:-1]:
            image[(x - p[0]) ** 2 + (y - p[1]) ** 2 < (1.2 * pixel) ** 2] = (120, 160, 230)
        image[(x - self.pos[0]) ** 2 + (y - self.pos[1]) ** 2 < (3 * pixel) ** 2] = (220, 40, 40)
        return image


class TwoPathsExpert(ScriptedExpert):
    """Pick a side (fair coin per episode, seeded), then fly through waypoints around the disc.

    Waypoints keep >= 0.2 clearance from the obstacle; the point heads at full speed to the
    current waypoint and switches to the next one when within 0.15, which gives a smooth,
    slightly rounded path of ~25 steps. The first waypoint is level with the obstacle
    (y = -0.3), so averaging the two experts' actions steers straight up into it.
    """

    name = "two-paths-waypoints"
    WAYPOINTS = np.array([[0.6, -0.3], [0.6, 0.3], GOAL])  # right side; x -> -x for left

    def __init__(self, seed: int = 0, noise: float = 0.0) -> None:
        super().__init__(seed, noise, low=[-1.0, -1.0], high=[1.0, 1.0])
        self.side = 1
        self.index = 0

    def reset(self, obs: np.ndarray) -> None:
        self.side = 1 if self.rng.random() < 0.5 else -1  # +1 right (mode 1), -1 left (mode 0)
        self.index = 0

    @property
    def mode(self) -> int:
        return 1 if self.side > 0 else 0

    def plan(self, obs: np.ndarray) -> np.ndarray:
        pos = np.asarray(obs, dtype=np.float64)[:2]
        waypoints = self.WAYPOINTS * np.array([self.side, 1.0])
        while self.index < len(waypoints) - 1 and np.linalg.norm(waypoints[self.index] - pos) < 0.15:
            self.index += 1
        delta = waypoints[self.index] - pos
        distance = np.linalg.norm(delta)
        # full speed (0.1 per step) until the last step, which lands on the waypoint
        return delta / max(distance, 1e-8) * min(1.0, distance / STEP)


def mode_of(observations: np.ndarray) -> int:
    """0 if the episode passed the obstacle on the left (x < 0 beside it), 1 on the right, -1 if
    it never came beside the obstacle (|y| < 0.4) or stayed on the centre line."""
    observations = np.asarray(observations).reshape(-1, np.shape(observations)[-1])
    beside = np.abs(observations[:, 1]) < OBSTACLE_RADIUS
    if not beside.any():
        return -1
    mean_x = float(observations[beside, 0].mean())
    if abs(mean_x) < 0.05:
        return -1
    return 0 if mean_x < 0 else 1


def xy_of(observations: np.ndarray) -> np.ndarray:
    return np.asarray(observations)[..., :2]


def plot_background(ax) -> None:
    _plot_world(ax, mud=False)


def plot_background_value(ax) -> None:
    _plot_world(ax, mud=True)


def _plot_world(ax, mud: bool) -> None:
    import matplotlib.patches as patches

    if mud:
        ax.add_patch(patches.Rectangle((MUD_X, -MUD_HALF_HEIGHT), BOUND - MUD_X, 2 * MUD_HALF_HEIGHT, color="tan", alpha=0.5, lw=0))
    ax.add_patch(patches.Circle((0, 0), OBSTACLE_RADIUS, color="0.5"))
    ax.add_patch(patches.Circle(tuple(GOAL), GOAL_RADIUS, color="tab:green", alpha=0.6))
    ax.plot(*START, "k^", ms=5)
    ax.set_xlim(-BOUND, BOUND)
    ax.set_ylim(-BOUND, BOUND)
    ax.set_aspect("equal")


def register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point="genpolicy.tasks.two_paths:TwoPathsEnv", max_episode_steps=MAX_STEPS)
    if VALUE_ENV_ID not in gym.registry:
        gym.register(VALUE_ENV_ID, entry_point="genpolicy.tasks.two_paths:TwoPathsEnv", max_episode_steps=MAX_STEPS,
                     kwargs={"mud_penalty": MUD_PENALTY})


def make_env(**kwargs) -> gym.Env:
    register()
    return gym.make(ENV_ID, **kwargs)


def make_value_env(**kwargs) -> gym.Env:
    register()
    return gym.make(VALUE_ENV_ID, **kwargs)


TWO_PATHS = Task(
    name="two-paths",
    env_id=ENV_ID,
    make_env=make_env,
    make_expert=lambda seed, noise: TwoPathsExpert(seed, noise),
    # Return == success here (reward 1 on reaching the goal), so the normalized score is the
    # success rate in %. Measured by benchmarks/reference_scores.py over 1000 episodes (reset
    # seeds 0..999): uniform random 0/1000 successes, noise-free expert 1000/1000.
    ref_min_score=0.0,
    ref_max_score=1.0,
    max_episode_steps=MAX_STEPS,
    expert_name=TwoPathsExpert.name,
    has_success=True,
    num_modes=2,
    mode_of=mode_of,
    xy_of=xy_of,
    plot_background=plot_background,
    description="Go around a disc to the goal, left or right (bimodal expert, sparse reward).",
)


TWO_PATHS_VALUE = replace(
    TWO_PATHS,
    name="two-paths-value",
    env_id=VALUE_ENV_ID,
    make_env=make_value_env,
    # Measured by benchmarks/reference_scores.py over 1000 episodes (reset seeds 0..999):
    # uniform random -0.030 ± 0.132 (it sometimes sits in the mud), noise-free expert (both ways,
    # 50/50) 0.738 ± 0.277. The expert's left way returns 1.0 and its right way about 0.45, so
    # the demonstrations score 100, always-left ~134 and always-right ~63.
    ref_min_score=-0.030,
    ref_max_score=0.738,
    plot_background=plot_background_value,
    description="two-paths whose right way crosses mud (-0.05 per step): demonstrations split 50/50, the left way pays more.",
)
