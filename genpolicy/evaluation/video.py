"""Record one policy episode as an mp4 (imageio + ffmpeg).

Kept apart from the vectorized evaluation on purpose: rendering is slow and needs
``render_mode="rgb_array"``, so the video is its own one-env rollout of the first evaluation
episode. It runs through the same episode loop as evaluation (`genpolicy.tasks.rollout`), reset
with the same seed and with the policy's sampling seeded the same way, so it shows episode 0 as
``evaluate(..., num_envs=1)`` runs it (any ``num_envs`` for a deterministic policy). Frames are
taken by a wrapper around the env, at the reset and after every step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from genpolicy.evaluation.envs import resolve_env
from genpolicy.evaluation.seeding import seeded_torch_rng
from genpolicy.models.base import Policy
from genpolicy.tasks.rollout import run_episodes

DEFAULT_FPS = 30


def ffmpeg_available() -> bool:
    """True when imageio can find an ffmpeg binary (the imageio-ffmpeg wheel ships one)."""
    try:
        import imageio_ffmpeg

        return bool(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:  # noqa: BLE001 - any failure means "no ffmpeg"
        return False


class FrameWriter(gym.Wrapper):
    """Hands ``env.render()`` to ``write`` after every reset and step."""

    def __init__(self, env: gym.Env, write: Callable[[np.ndarray], None]) -> None:
        super().__init__(env)
        self.write = write

    def reset(self, **kwargs: Any):
        out = self.env.reset(**kwargs)
        self.write(even_frame(self.env.render()))
        return out

    def step(self, action: Any):
        out = self.env.step(action)
        self.write(even_frame(self.env.render()))
        return out


def record_video(
    policy: Policy,
    env: Any,
    path: str | Path,
    seed: int = 0,
    max_steps: int | None = None,
    fps: int | None = None,
) -> Path:
    """Roll ``policy`` for one episode (``env.reset(seed=seed)``) and write ``path`` (.mp4).

    ``env``: a task name, a gymnasium env id, a ``Task`` or a callable
    ``make_env(render_mode=...) -> gym.Env``. The file is written to a temporary name and
    renamed, so a crash never leaves a truncated video behind. Returns the path.
    """
    import imageio.v2 as imageio

    if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "egl"  # headless MuJoCo rendering; read at renderer creation
    if hasattr(env, "make_env"):
        make_env: Callable[..., Any] = env.make_env
    elif callable(env):
        make_env = env
    else:
        make_env = resolve_env(env, policy).make_env
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix or '.mp4'}")

    rendered = make_env(render_mode="rgb_array")
    fps = fps or int(round(rendered.metadata.get("render_fps") or DEFAULT_FPS))
    writer = imageio.get_writer(tmp, fps=fps, codec="libx264", macro_block_size=1, format="FFMPEG")
    envs = gym.vector.SyncVectorEnv(
        [lambda: FrameWriter(rendered, writer.append_data)], autoreset_mode=gym.vector.AutoresetMode.DISABLED
    )
    try:
        with seeded_torch_rng(seed, policy.device):
            run_episodes(envs, policy, 1, seed, max_episode_steps=max_steps)
        writer.close()
        os.replace(tmp, path)
    finally:
        writer.close()
        envs.close()
        if tmp.exists():
            tmp.unlink()
    return path


def even_frame(frame: np.ndarray) -> np.ndarray:
    """H.264 in yuv420p needs even height and width: pad odd sizes by one edge pixel."""
    frame = np.asarray(frame, dtype=np.uint8)
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame
