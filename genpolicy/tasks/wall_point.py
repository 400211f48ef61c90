"""WallPoint: a point mass that must get around a wall whose gap can move (AIRL's "shifting maze").

The transfer check of AIRL (Fu et al., 2018, §7.2) learns a reward in one maze, moves the wall,
and re-optimizes the *learned reward* in the changed maze: a reward that depends on the state
alone and not on the dynamics should still say "get to the goal", while an imitated policy
(GAIL's) keeps steering into the old gap. This is that experiment at CPU scale, in numpy.

Env ``genpolicy/WallPoint-v0`` (gap on the right) and ``genpolicy/WallPointShifted-v0`` (the same
wall mirrored: gap on the left), registered on import of ``genpolicy.tasks``:

* observation ``[x, y]`` in ``[-1, 1]^2``; action a velocity in ``[-1, 1]^2``; the point moves by
  ``0.1 * action`` per step, clipped to the box;
* a horizontal wall, the band ``|y| <= 0.05``, spans ``x in [-1, 0.2]`` (``gap="right"``) or
  ``x in [-0.2, 1]`` (``gap="left"``); a step whose segment would enter the wall keeps its x
  motion and drops its y motion (the point slides along the wall);
* start ``(0, -0.6)`` plus uniform noise ``+-0.1`` per coordinate (``start="fixed"``, the
  default); ``start="lower"``: uniform over the lower half (``x in [-0.9, 0.9]``,
  ``y in [-0.9, -0.15]``); ``start="box"``: uniform over the box clear of the wall's band
  (``|x|, |y| <= 0.9``, ``|y| >= 0.15``), for demonstrations that cover more than one path.
  Chosen per env (``gym.make(ENV_ID, start=...)``) or per episode
  (``reset(options={"start": ...})``); goal ``(0, 0.6)``;
* reward ``-||s' - goal||`` (dense, a function of the state only: the kind of reward a state-only
  ``g(s)`` can recover); 50 steps, truncated, never terminated.

The wall makes the reward deceptive: straight at the goal ends pressed under the wall (return
-36.1); the expert through the gap earns -11.9; the other env's expert, steering for the gap
that is now wall, -46.8 (uniform random: -61.8 / -59.6; 100 episodes each). The scripted expert goes through the gap of its own env
(it knows where it is): below the wall it heads for a point under the gap, then up through it,
then to the goal, at full speed, slowing within 0.1 of each target.
"""

from __future__ import annotations

from typing import Literal

import gymnasium as gym
import numpy as np

from genpolicy.tasks.base import ScriptedExpert, Task

ENV_ID, SHIFTED_ENV_ID = "genpolicy/WallPoint-v0", "genpolicy/WallPointShifted-v0"
BOUND, STEP, MAX_STEPS = 1.0, 0.1, 50
WALL_HALF_THICKNESS, WALL_END = 0.05, 0.2  # the band |y| <= 0.05; the wall's free end at x = +-0.2
START, START_NOISE, GOAL = np.array([0.0, -0.6]), 0.1, np.array([0.0, 0.6])
Gap = Literal["right", "left"]
Start = Literal["fixed", "lower", "box"]
STARTS = ("fixed", "lower", "box")


def wall_span(gap: Gap) -> tuple[float, float]:
    """``(x_min, x_max)`` of the wall."""
    return (-BOUND, WALL_END) if gap == "right" else (-WALL_END, BOUND)


def in_wall(xy: np.ndarray, gap: Gap) -> np.ndarray:
    low, high = wall_span(gap)
    xy = np.asarray(xy)
    return (np.abs(xy[..., 1]) <= WALL_HALF_THICKNESS) & (xy[..., 0] >= low) & (xy[..., 0] <= high)


def move(pos: np.ndarray, action: np.ndarray, gap: Gap) -> np.ndarray:
    """One step of the dynamics (see the module doc): the wall blocks y motion, never x motion."""
    target = np.clip(pos + STEP * np.clip(action, -1.0, 1.0), -BOUND, BOUND)
    # a step is at most 0.14 long and the wall 0.1 thick: 9 points along the segment see it
    along = pos + np.linspace(0.0, 1.0, 9)[:, None] * (target - pos)
    if in_wall(along, gap).any():
        target = np.array([target[0], pos[1]])
    return target


def check_start(start: str) -> str:
    if start not in STARTS:
        raise ValueError(f"start must be one of {STARTS}, got {start!r}")
    return start


def start_position(rng: np.random.Generator, start: Start = "fixed") -> np.ndarray:
    """A start state (see the module doc); "fixed" draws exactly what it always drew."""
    if start == "fixed":
        return START + rng.uniform(-START_NOISE, START_NOISE, size=2)
    if start == "lower":
        return np.array([rng.uniform(-0.9, 0.9), rng.uniform(-0.9, -0.15)])
    y = rng.uniform(0.15, 0.9) * rng.choice([-1.0, 1.0])
    return np.array([rng.uniform(-0.9, 0.9), y])


class WallPointEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, gap: Gap = "right", start: Start = "fixed") -> None:
        if gap not in ("right", "left"):
            raise ValueError(f"gap must be 'right' or 'left', got {gap!r}")
        check_start(start)
        self.gap: Gap = gap
        self.start: Start = start
        self.observation_space = gym.spaces.Box(-BOUND, BOUND, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.pos = START.copy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.pos = start_position(self.np_random, check_start((options or {}).get("start", self.start)))
        return self.pos.astype(np.float32), {}

    def step(self, action):
        self.pos = move(self.pos, np.asarray(action, dtype=np.float64).reshape(2), self.gap)
        reward = -float(np.linalg.norm(self.pos - GOAL))
        return self.pos.astype(np.float32), reward, False, False, {}


class GapExpert(ScriptedExpert):
    """Under the gap, up through it, then to the goal (the gap of the env it is made for)."""

    name = "wallpoint-gap"

    def __init__(self, gap: Gap = "right", seed: int = 0, noise: float = 0.0) -> None:
        super().__init__(seed, noise, low=[-1.0, -1.0], high=[1.0, 1.0])
        self.side = 1.0 if gap == "right" else -1.0

    def plan(self, obs: np.ndarray) -> np.ndarray:
        pos = np.asarray(obs, dtype=np.float64)[:2]
        gap_x = self.side * (WALL_END + BOUND) / 2  # the middle of the gap
        if pos[1] < 0.1:
            clear = self.side * pos[0] > self.side * gap_x - 0.15  # within the gap's middle part
            target = np.array([gap_x, 0.2]) if clear else np.array([gap_x, -0.15])
        else:
            target = GOAL
        delta = target - pos
        return np.clip(delta / max(np.linalg.norm(delta), 0.1), -1.0, 1.0)


def xy_of(observations: np.ndarray) -> np.ndarray:
    return np.asarray(observations)[..., :2]


def make_plot_background(gap: Gap):
    def plot_background(ax) -> None:
        import matplotlib.patches as patches

        low, high = wall_span(gap)
        ax.add_patch(patches.Rectangle((-BOUND, -BOUND), 2 * BOUND, 2 * BOUND, fill=False, color="0.3", lw=1))
        ax.add_patch(patches.Rectangle((low, -WALL_HALF_THICKNESS), high - low, 2 * WALL_HALF_THICKNESS, color="0.3"))
        ax.plot(*START, "k^", ms=5)
        ax.plot(*GOAL, "r*", ms=8)
        ax.set_xlim(-BOUND * 1.05, BOUND * 1.05)
        ax.set_ylim(-BOUND * 1.05, BOUND * 1.05)
        ax.set_aspect("equal")

    return plot_background


def register() -> None:
    for env_id, gap in ((ENV_ID, "right"), (SHIFTED_ENV_ID, "left")):
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="genpolicy.tasks.wall_point:WallPointEnv", max_episode_steps=MAX_STEPS,
                         kwargs={"gap": gap})


def _task(name: str, env_id: str, gap: Gap, ref_min: float, ref_max: float) -> Task:
    def make_env(**kwargs) -> gym.Env:
        register()
        return gym.make(env_id, **kwargs)

    return Task(
        name=name, env_id=env_id, make_env=make_env,
        make_expert=lambda seed, noise: GapExpert(gap, seed, noise),
        ref_min_score=ref_min, ref_max_score=ref_max,  # uniform random actions / the scripted expert, 100 episodes
        max_episode_steps=MAX_STEPS, expert_name=GapExpert.name, xy_of=xy_of,
        plot_background=make_plot_background(gap),
        description=f"A point mass gets around a wall (gap on the {gap}) to a goal; reward -distance to the goal.",
    )


WALLPOINT = _task("wallpoint", ENV_ID, "right", ref_min=-61.8, ref_max=-11.9)
WALLPOINT_SHIFTED = _task("wallpoint-shifted", SHIFTED_ENV_ID, "left", ref_min=-59.6, ref_max=-12.0)
