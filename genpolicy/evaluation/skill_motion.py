"""How skills move a MuJoCo body: per-skill x-velocity, final x, env return, and an mp4 grid.

The x-y measures of `genpolicy.evaluation.skills` read the position from the observation, but
the MuJoCo locomotion bodies (HalfCheetah, Hopper, Walker2d, Ant with their default
``exclude_current_positions_from_observation=True``) leave the x position *out* of the
observation, so a skill's displacement is invisible there. It is read from the simulator
instead: ``env.unwrapped.data.qpos[0]`` is the root's x in every one of these bodies, read at
the reset and after every step; the per-step x-velocity is its difference over the env's
``dt`` (the very quantity v5's ``info["x_velocity"]`` reports, but also available for bodies
whose info lacks it). Each skill runs with deterministic actions, all K skills stepped together
(one batched policy call per step), episode ``e`` of every skill reset with ``seed + e`` (the
seeds `skill_report` uses), so the same start separates skills only by what they do.

`skill_grid_video` renders every skill's episode side by side into one mp4 (row-major, skill
index stamped in the corner of its tile); `tile_frames` is the numpy tiler it uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from genpolicy.evaluation.envs import resolve_env
from genpolicy.evaluation.seeding import seeded_torch_rng


def body_x(env: Any) -> float:
    """The root x position of a MuJoCo body env (``unwrapped.data.qpos[0]``)."""
    data = getattr(env.unwrapped, "data", None)
    if data is None or not hasattr(data, "qpos"):
        raise TypeError(f"{env.unwrapped!r} is not a MuJoCo env (no data.qpos): no body x position to read")
    return float(data.qpos[0])


def is_mujoco_body(env: Any) -> bool:
    """True when ``env`` is a gymnasium MuJoCo locomotion body whose observation leaves out the
    root position (``exclude_current_positions_from_observation``), so x must come from qpos.
    Other MuJoCo envs (point mazes: x-y in the observation) keep the x-y measures."""
    try:
        body_x(env)
    except TypeError:
        return False
    return bool(getattr(env.unwrapped, "_exclude_current_positions_from_observation", False))


def policy_env_is_mujoco_body(policy: Any, env: Any = None) -> bool:
    """True when the env ``policy`` runs in (``env`` or its recorded one) is a MuJoCo body; the
    `genpolicy skills` command then reports x-velocity instead of an x-y plane."""
    made = resolve_env(env, policy).make_env()
    try:
        return is_mujoco_body(made)
    finally:
        made.close()


def spread(values: np.ndarray) -> dict[str, float]:
    """How different K per-skill numbers are: population std and max - min."""
    values = np.asarray(values, dtype=np.float64)
    return {"std": float(values.std()), "range": float(values.max() - values.min())}


@dataclass
class SkillMotion:
    """Per-skill motion of K skills over ``episodes`` fresh episodes each (see the module doc)."""

    num_skills: int
    dt: float
    x: list[list[np.ndarray]] = field(repr=False)  # [K][episodes] -> [T + 1] root x, reset first
    returns: np.ndarray = field(repr=False)  # [K, episodes] the env's own return

    @property
    def episodes(self) -> int:
        return len(self.x[0]) if self.x else 0

    def x_velocity(self, k: int, episode: int = 0) -> np.ndarray:
        """``[T]`` per-step x-velocity of skill ``k``'s episode."""
        return np.diff(self.x[k][episode]) / self.dt

    @property
    def mean_x_velocity(self) -> np.ndarray:
        """``[K]`` (final x - start x) / duration, averaged over episodes."""
        return np.array([np.mean([(xs[-1] - xs[0]) / (self.dt * max(len(xs) - 1, 1)) for xs in ep]) for ep in self.x])

    @property
    def final_x(self) -> np.ndarray:
        """``[K]`` mean final x (relative to the start x of the episode)."""
        return np.array([np.mean([xs[-1] - xs[0] for xs in ep]) for ep in self.x])

    @property
    def mean_return(self) -> np.ndarray:
        return self.returns.mean(1)

    def as_dict(self) -> dict[str, Any]:
        """The JSON summary: per-skill lists and the spread across skills."""
        v, fx = self.mean_x_velocity, self.final_x
        return {"num_skills": self.num_skills, "episodes_per_skill": self.episodes, "dt": self.dt,
                "episode_length": [int(np.mean([len(xs) - 1 for xs in ep])) for ep in self.x],
                "mean_x_velocity": v.tolist(), "final_x": fx.tolist(), "return": self.mean_return.tolist(),
                "x_velocity_std": spread(v)["std"], "x_velocity_range": spread(v)["range"],
                "final_x_std": spread(fx)["std"], "max_return": float(self.mean_return.max()),
                "max_abs_x_velocity": float(np.abs(v).max())}

    def table(self, per_skill_accuracy: np.ndarray | None = None) -> str:
        lines = [f"{'skill':>5s} {'x-vel':>7s} {'final x':>8s} {'return':>8s} {'accuracy':>8s}"]
        for k in range(self.num_skills):
            acc = f"{per_skill_accuracy[k]:8.2f}" if per_skill_accuracy is not None else f"{'-':>8s}"
            lines.append(f"{k:5d} {self.mean_x_velocity[k]:7.2f} {self.final_x[k]:8.1f} {self.mean_return[k]:8.1f} {acc}")
        s = spread(self.mean_x_velocity)
        lines.append(f"spread of mean x-velocity across skills: std {s['std']:.2f}, max - min {s['range']:.2f}")
        return "\n".join(lines)


def _skill_envs(policy: Any, env: Any, count: int, **make_kwargs: Any) -> tuple[list[Any], Any]:
    target = resolve_env(env, policy)
    return [target.make_env(**make_kwargs) for _ in range(count)], target


def _run_skills(policy: Any, envs: list[Any], seed: int, max_steps: int | None,
                on_step: Callable[[list[Any], np.ndarray], None] | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """One episode of skill k in ``envs[k]`` for every k, stepped together. Returns the root x
    ``[K][T_k + 1]`` and the returns ``[K]``; ``on_step(envs, active)`` after the reset and each step."""
    k_count = len(envs)
    skills = np.arange(k_count)
    obs = np.stack([e.reset(seed=seed)[0] for e in envs])
    xs = [[body_x(e)] for e in envs]
    returns, active = np.zeros(k_count), np.ones(k_count, dtype=bool)
    policy.reset()
    if on_step is not None:
        on_step(envs, active)
    step = 0
    while active.any() and (max_steps is None or step < max_steps):
        actions = policy.act(obs.astype(np.float32), skill=skills)
        for k in np.flatnonzero(active):
            o, r, terminated, truncated, _ = envs[k].step(actions[k])
            obs[k], returns[k] = o, returns[k] + float(r)
            xs[k].append(body_x(envs[k]))
            if terminated or truncated:
                active[k] = False
        step += 1
        if on_step is not None:
            on_step(envs, active)
    policy.reset()
    return [np.asarray(x) for x in xs], returns


def skill_motion(policy: Any, env: Any = None, episodes: int = 3, seed: int = 0,
                 max_episode_steps: int | None = None) -> SkillMotion:
    """Roll every skill of a skill policy out ``episodes`` times on a MuJoCo body (module doc)."""
    pinned = getattr(policy, "skill", None)
    num_skills = int(policy.config.num_skills)
    envs, _ = _skill_envs(policy, env, num_skills)
    try:
        policy.use_skill(None)  # the skill comes with every act call
        dt = float(envs[0].unwrapped.dt)
        x: list[list[np.ndarray]] = [[] for _ in range(num_skills)]
        returns = np.zeros((num_skills, episodes))
        for e in range(episodes):
            with seeded_torch_rng(seed + e, policy.device):
                xs, rets = _run_skills(policy, envs, seed + e, max_episode_steps)
            for k in range(num_skills):
                x[k].append(xs[k])
            returns[:, e] = rets
        return SkillMotion(num_skills, dt, x, returns)
    finally:
        policy.use_skill(pinned)
        for e in envs:
            e.close()


# ------------------------------------------------------------------------------- the mp4 grid
_DIGITS = {  # 3 x 5 bitmap digits for the skill label of each tile
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001010010010",
    "8": "111101111101111", "9": "111101111001111",
}


def stamp_number(frame: np.ndarray, number: int, scale: int = 3, colour: tuple[int, int, int] = (255, 255, 0)) -> np.ndarray:
    """Draw ``number`` in the top-left corner of an ``[H, W, 3]`` uint8 frame (a copy), on a dark box."""
    frame = np.array(frame, dtype=np.uint8, copy=True)
    text = str(int(number))
    x0 = y0 = scale
    frame[: y0 + 6 * scale, : x0 + 4 * scale * len(text)] //= 4
    for i, ch in enumerate(text):
        glyph = np.array([int(c) for c in _DIGITS[ch]], dtype=bool).reshape(5, 3)
        block = np.kron(glyph, np.ones((scale, scale), dtype=bool))
        xs = x0 + 4 * scale * i
        region = frame[y0:y0 + block.shape[0], xs:xs + block.shape[1]]
        region[block[: region.shape[0], : region.shape[1]]] = colour
    return frame


def tile_frames(frames: np.ndarray | list[np.ndarray], cols: int | None = None, gap: int = 0) -> np.ndarray:
    """``N`` frames ``[H, W, 3]`` -> one ``[rows*H + (rows-1)*gap, cols*W + (cols-1)*gap, 3]`` image.

    Frame ``i`` goes to row ``i // cols``, column ``i % cols`` (row-major); empty cells and gaps
    are black. ``cols`` defaults to ``ceil(sqrt(N))``."""
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be [N, H, W, C], got shape {frames.shape}")
    n, h, w, c = frames.shape
    cols = int(cols or int(np.ceil(np.sqrt(n))))
    rows = int(np.ceil(n / cols))
    grid = np.zeros((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, c), dtype=frames.dtype)
    for i in range(n):
        r, q = divmod(i, cols)
        grid[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = frames[i]
    return grid


def skill_grid_video(policy: Any, env: Any, path: str | Path, steps: int = 300, every: int = 2,
                     width: int = 160, height: int = 120, cols: int | None = None, seed: int = 0,
                     fps: int | None = None, camera: str | None = "track") -> Path:
    """One mp4 of every skill side by side: skill k's episode (deterministic, reset with ``seed``)
    in tile k (row-major, labelled), the first ``steps`` env steps, a frame every ``every`` steps.

    ``camera``: a named camera of the model, used when it has one. The locomotion bodies' ``track``
    camera follows the body (the floor's checkers scroll past a running skill); the default free
    camera stays put, and a fast skill leaves its tile within seconds.

    Small tiles and frame skipping on purpose: software/EGL rendering runs ~30 frames/s on a
    CPU, so K full-size 1000-step episodes would take minutes. The default fps plays it in real
    time (the env's ``render_fps / every``). Written to a temporary name and renamed."""
    import imageio.v2 as imageio

    from genpolicy.evaluation.video import even_frame

    if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "egl"  # headless MuJoCo rendering; read at renderer creation
    num_skills = int(policy.config.num_skills)
    pinned = getattr(policy, "skill", None)
    probe, _ = _skill_envs(policy, env, 1)
    model = probe[0].unwrapped.model
    names = {model.camera(i).name for i in range(model.ncam)}
    probe[0].close()
    view = {"camera_name": camera} if camera is not None and camera in names else {}
    envs, _ = _skill_envs(policy, env, num_skills, render_mode="rgb_array", width=width, height=height, **view)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix or '.mp4'}")
    fps = fps or max(1, int(round((envs[0].metadata.get("render_fps") or 30) / every)))
    writer = imageio.get_writer(tmp, fps=fps, codec="libx264", macro_block_size=1, format="FFMPEG")
    count = [0]
    last: list[np.ndarray | None] = [None] * num_skills

    def write(envs_: list[Any], active: np.ndarray) -> None:
        if count[0] % every == 0:
            for k, e in enumerate(envs_):
                if active[k] or last[k] is None:
                    last[k] = stamp_number(e.render(), k)  # a finished episode keeps its last frame
            writer.append_data(even_frame(tile_frames(np.stack(last), cols=cols or min(num_skills, 5), gap=2)))
        count[0] += 1

    try:
        policy.use_skill(None)
        with seeded_torch_rng(seed, policy.device):
            _run_skills(policy, envs, seed, steps, on_step=write)
        writer.close()
        os.replace(tmp, path)
    finally:
        writer.close()
        policy.use_skill(pinned)
        for e in envs:
            e.close()
        if tmp.exists():
            tmp.unlink()
    return path


def plot_motion(motion: SkillMotion, path: str, title: str = "", baseline: SkillMotion | None = None,
                smooth: int = 25) -> str:
    """Left: each skill's x-velocity over its first episode (moving average of ``smooth`` steps).
    Right: per-skill mean x-velocity (bars; the untrained ``baseline``'s in grey beside them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = plt.get_cmap("tab20" if motion.num_skills > 10 else "tab10")
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
    kernel = np.ones(smooth) / smooth
    for k in range(motion.num_skills):
        v = motion.x_velocity(k, 0)
        v = np.convolve(v, kernel, mode="valid") if len(v) >= smooth else v
        ax.plot(np.arange(len(v)) * motion.dt, v, color=colours(k % colours.N), lw=1.1, label=str(k))
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"x-velocity (m/s, {smooth}-step mean)")
    ax.legend(fontsize=6, ncol=2, title="skill", title_fontsize=6, loc="best")
    index = np.arange(motion.num_skills)
    width = 0.4 if baseline is not None else 0.8
    bx.bar(index - (width / 2 if baseline is not None else 0), motion.mean_x_velocity, width,
           color=[colours(k % colours.N) for k in index], label="trained")
    if baseline is not None:
        bx.bar(index + width / 2, baseline.mean_x_velocity, width, color="0.6", label="untrained")
        bx.legend(fontsize=7)
    bx.axhline(0, color="k", lw=0.5)
    bx.set_xticks(index)
    bx.set_xlabel("skill")
    bx.set_ylabel("mean x-velocity (m/s)")
    s = spread(motion.mean_x_velocity)
    summary = f"x-velocity spread across skills: std {s['std']:.2f}, max-min {s['range']:.2f}"
    if baseline is not None:
        b = spread(baseline.mean_x_velocity)
        summary += f" (untrained: {b['std']:.2f}, {b['range']:.2f})"
    fig.suptitle(f"{title}\n{summary}" if title else summary, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["SkillMotion", "body_x", "is_mujoco_body", "plot_motion", "policy_env_is_mujoco_body", "skill_grid_video", "skill_motion", "spread",
           "stamp_number", "tile_frames"]
