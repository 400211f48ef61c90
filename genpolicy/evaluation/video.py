"""Record one policy episode as an mp4 (imageio + ffmpeg).

Kept apart from the vectorized evaluation on purpose: rendering is slow and needs
``render_mode="rgb_array"``, so the video is a separate single-env rollout of the first
evaluation episode (same seed, hence the same start state as episode 0 of ``evaluate``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import numpy as np

from genpolicy.models.base import Policy

DEFAULT_FPS = 30


def ffmpeg_available() -> bool:
    """True when imageio can find an ffmpeg binary (the imageio-ffmpeg wheel ships one)."""
    try:
        import imageio_ffmpeg

        return bool(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:  # noqa: BLE001 - any failure means "no ffmpeg"
        return False


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
    ``make_env(render_mode=...) -> gym.Env``. The policy's history is reset before and
    after. The file is written to a temporary name and renamed, so a crash never leaves a
    truncated video behind. Returns the path.
    """
    import imageio.v2 as imageio

    from genpolicy.evaluation.rollout import resolve_env

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

    env_ = make_env(render_mode="rgb_array")
    try:
        fps = fps or int(round(env_.metadata.get("render_fps") or DEFAULT_FPS))
        policy.reset()
        obs, _ = env_.reset(seed=seed)
        writer = imageio.get_writer(tmp, fps=fps, codec="libx264", macro_block_size=1, format="FFMPEG")
        try:
            writer.append_data(_even(env_.render()))
            steps = 0
            while True:
                action = policy.act(_batch(obs))[0]
                obs, reward, terminated, truncated, _ = env_.step(action)
                policy.observe_reward(np.asarray([reward], dtype=np.float32))
                writer.append_data(_even(env_.render()))
                steps += 1
                if terminated or truncated or (max_steps is not None and steps >= max_steps):
                    break
        finally:
            writer.close()
        os.replace(tmp, path)
    finally:
        env_.close()
        policy.reset()
        if tmp.exists():
            tmp.unlink()
    return path


def _batch(obs: Any) -> Any:
    if isinstance(obs, Mapping):
        return {key: np.asarray(value)[None] for key, value in obs.items()}
    return np.asarray(obs)[None]


def _even(frame: np.ndarray) -> np.ndarray:
    """H.264 in yuv420p needs even height and width: pad odd sizes by one edge pixel."""
    frame = np.asarray(frame, dtype=np.uint8)
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame
