"""Pendulum-v1 with an energy-pumping swing-up + LQR balance expert.

The torque limit (2) is too small to lift the pendulum straight up, so the expert first pumps
energy into the swing until it matches the energy of the upright rest state, then an LQR
controller (gain from the env's own linearized, discretized dynamics) catches and holds it.
This is the classic Åström–Furuta recipe; it is deterministic and needs no learning.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from genpolicy.tasks.base import ScriptedExpert, Task

# The env's constants (gymnasium PendulumEnv): g=10, m=1, l=1, dt=0.05, max torque 2.
G, M, L, DT, MAX_TORQUE = 10.0, 1.0, 1.0, 0.05, 2.0
# theta'' = a sin(theta) + b u for the env's rod (inertia m l^2 / 3, centre of mass l / 2).
A_GRAV, B_TORQUE = 3 * G / (2 * L), 3.0 / (M * L**2)


def lqr_gain(q=(1.0, 0.1), r=0.001, iterations=2000) -> np.ndarray:
    """Infinite-horizon discrete LQR gain K (u = -K x, x = [theta, theta_dot]) by Riccati iteration.

    Linearization of the env's semi-implicit Euler step around upright (sin theta ~ theta):
    thd' = thd + (a th + b u) dt,  th' = th + thd' dt. Costs are the env's own reward weights.
    """
    A = np.array([[1 + A_GRAV * DT**2, DT], [A_GRAV * DT, 1.0]])
    B = np.array([[B_TORQUE * DT**2], [B_TORQUE * DT]])
    Q, R = np.diag(q), np.array([[r]])
    P = Q.copy()
    for _ in range(iterations):
        K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        P_next = Q + A.T @ P @ (A - B @ K)
        if np.allclose(P_next, P, rtol=0, atol=1e-10):
            break
        P = P_next
    return np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)[0]


class PendulumExpert(ScriptedExpert):
    """Swing up by energy pumping, balance with LQR once close to upright."""

    name = "energy-pumping+lqr"

    def __init__(self, seed: int = 0, noise: float = 0.0, pump_gain: float = 1.0, catch_angle: float = 0.6):
        super().__init__(seed, noise, low=[-MAX_TORQUE], high=[MAX_TORQUE])
        self.K = lqr_gain()
        self.pump_gain = pump_gain
        self.catch_angle = catch_angle

    def plan(self, obs: np.ndarray) -> np.ndarray:
        cos_th, sin_th, thd = (float(v) for v in obs)
        th = np.arctan2(sin_th, cos_th)  # 0 = upright, in (-pi, pi]
        if abs(th) < self.catch_angle:
            u = -self.K @ np.array([th, thd])
        else:
            # E = thd^2 / 2 + a cos(th); upright at rest has E = a; dE/dt = b u thd.
            energy_gap = A_GRAV - (0.5 * thd**2 + A_GRAV * cos_th)
            direction = np.sign(thd) if thd != 0 else 1.0
            u = self.pump_gain * energy_gap * direction
        return np.array([np.clip(u, -MAX_TORQUE, MAX_TORQUE)])


def make_env(**kwargs) -> gym.Env:
    kwargs.setdefault("max_episode_steps", 200)
    return gym.make("Pendulum-v1", **kwargs)


def xy_of(observations: np.ndarray) -> np.ndarray:
    """Tip of the pendulum in the plane, upright = (0, 1): (sin theta, cos theta)."""
    observations = np.asarray(observations)
    return np.stack([observations[..., 1], observations[..., 0]], axis=-1)


def plot_background(ax) -> None:
    """The circle the tip moves on, and the pivot."""
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(t), np.sin(t), color="0.8", lw=1)
    ax.plot([0], [0], "k.", ms=4)
    ax.set_aspect("equal")


PENDULUM = Task(
    name="pendulum",
    env_id="Pendulum-v1",
    make_env=make_env,
    make_expert=lambda seed, noise: PendulumExpert(seed, noise),
    # Measured by benchmarks/reference_scores.py: mean return over 1000 episodes, reset seeds
    # 0..999; uniform random torques -1230.7 ± 286.6, noise-free expert -146.8 ± 90.0.
    ref_min_score=-1230.65,
    ref_max_score=-146.82,
    max_episode_steps=200,
    expert_name=PendulumExpert.name,
    xy_of=xy_of,
    plot_background=plot_background,
    description="Swing up and balance a pendulum with limited torque (dense reward).",
)
