"""genpolicy.evaluation.skill_motion: the mp4 grid tiler, the body-x reader on HalfCheetah-v5,
and `genpolicy skills RUN --video` on a saved (untrained, 2-skill) HalfCheetah skill policy.

No training here: a freshly built skill policy is a fixed deterministic policy, which is all the
readers need (training a DIAYN run long enough to matter would not fit the time budget)."""

from __future__ import annotations

import argparse
import json
import os

import gymnasium as gym
import numpy as np
import pytest

from genpolicy.evaluation.skill_motion import (
    body_x, is_mujoco_body, skill_motion, spread, stamp_number, tile_frames,
)
from genpolicy.models.base import build_policy, load_policy
from genpolicy.models.skills import DiscriminatorConfig, SkillDiscriminator, SkillPolicy

ENV = "HalfCheetah-v5"
OBS_DIM, ACT_DIM, SKILLS = 17, 6, 2


def fixed_skill_policy() -> SkillPolicy:
    """A tiny untrained skill policy for HalfCheetah (deterministic, seeded weights)."""
    import torch

    torch.manual_seed(0)
    metadata = {"env_id": ENV}
    actor = build_policy("bc-gaussian", {"obs_dim": OBS_DIM + SKILLS, "act_dim": ACT_DIM, "hidden_dims": [16],
                                         "obs_norm": "identity", "action_norm": "identity",
                                         "action_low": [-1.0] * ACT_DIM, "action_high": [1.0] * ACT_DIM,
                                         "metadata": metadata})
    discriminator = SkillDiscriminator(OBS_DIM, SKILLS, DiscriminatorConfig(hidden_dims=[16]))
    return SkillPolicy.wrap(actor, SKILLS, discriminator, metadata)


def test_tile_frames_places_frames_row_major_with_gaps():
    frames = np.stack([np.full((4, 6, 3), i + 1, dtype=np.uint8) for i in range(5)])
    grid = tile_frames(frames, cols=3, gap=1)
    assert grid.shape == (2 * 4 + 1, 3 * 6 + 2, 3)
    for i in range(5):
        r, c = divmod(i, 3)
        cell = grid[r * 5:r * 5 + 4, c * 7:c * 7 + 6]
        assert (cell == i + 1).all()
    assert (grid[4] == 0).all() and (grid[:, 6] == 0).all()  # the gaps are black
    assert (grid[5:, 14:] == 0).all()  # the sixth cell is empty
    assert tile_frames(frames).shape == (2 * 4, 3 * 6, 3)  # default: ceil(sqrt(5)) = 3 columns


def test_stamp_number_marks_only_the_corner():
    frame = np.full((40, 60, 3), 200, dtype=np.uint8)
    stamped = stamp_number(frame, 7)
    assert (frame == 200).all()  # a copy
    assert (stamped[20:, 30:] == 200).all() and (stamped[:18, :12] != 200).any()


def test_spread():
    assert spread(np.array([1.0, 3.0])) == {"std": 1.0, "range": 2.0}


def test_body_x_is_the_env_x_position_and_skill_motion_reads_it():
    env = gym.make(ENV)
    env.reset(seed=0)
    assert is_mujoco_body(env)
    x0 = body_x(env)
    rng = np.random.default_rng(0)
    for _ in range(5):
        _, _, _, _, info = env.step(rng.uniform(-1, 1, ACT_DIM))
        assert body_x(env) == pytest.approx(info["x_position"])
    assert body_x(env) != x0
    env.close()

    policy = fixed_skill_policy()
    motion = skill_motion(policy, ENV, episodes=2, seed=3, max_episode_steps=25)
    assert motion.num_skills == SKILLS and motion.episodes == 2 and motion.dt == pytest.approx(0.05)
    assert all(xs.shape == (26,) and np.isfinite(xs).all() for ep in motion.x for xs in ep)
    assert motion.x_velocity(1, 0).shape == (25,)
    assert motion.mean_x_velocity.shape == motion.final_x.shape == motion.mean_return.shape == (SKILLS,)
    # mean velocity is displacement over duration
    np.testing.assert_allclose(motion.mean_x_velocity, motion.final_x / (25 * motion.dt))
    summary = motion.as_dict()
    assert np.isfinite(summary["x_velocity_std"]) and summary["episode_length"] == [25, 25]
    again = skill_motion(policy, ENV, episodes=2, seed=3, max_episode_steps=25)  # deterministic, seeded
    np.testing.assert_array_equal(again.x[0][1], motion.x[0][1])


def rendering_works() -> bool:
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        env = gym.make(ENV, render_mode="rgb_array", width=32, height=24)
        env.reset(seed=0)
        ok = env.render().shape == (24, 32, 3)
        env.close()
        return ok
    except Exception:  # noqa: BLE001 - no GL backend here: the video test is skipped
        return False


@pytest.mark.skipif(not rendering_works(), reason="no MuJoCo rendering backend (MUJOCO_GL=egl) here")
def test_skills_command_writes_the_motion_table_and_the_video(tmp_path, capsys):
    import imageio.v3 as iio

    from genpolicy.skills_command import cmd_skills

    fixed_skill_policy().save(tmp_path / "policy")
    assert isinstance(load_policy(tmp_path / "policy"), SkillPolicy)
    video = tmp_path / "grid.mp4"
    cmd_skills(argparse.Namespace(run=str(tmp_path / "policy"), env=None, episodes=1, seed=0, grid=10, holdout=False,
                                  video=str(video), video_steps=4))
    out = capsys.readouterr().out
    assert "spread of mean x-velocity" in out
    payload = json.loads((tmp_path / "skills.json").read_text())
    assert len(payload["motion"]["mean_x_velocity"]) == SKILLS and (tmp_path / "skills.png").exists()
    frames = iio.imread(video)
    assert frames.shape[0] == 3 and frames.shape[2] == 2 * 160 + 2  # resets + steps 2, 4: frames; 2 tiles + a gap


def test_append_x_wrapper_appends_the_root_x_and_refuses_a_non_mujoco_env():
    from genpolicy.tasks.wrappers import apply_wrappers

    env = apply_wrappers(gym.make("HalfCheetah-v5"), ["append-x"])
    assert env.observation_space.shape == (18,)
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        obs = env.step(env.action_space.sample())[0]
    assert obs.dtype == np.float32 and obs[-1] == np.float32(env.unwrapped.data.qpos[0])
    assert obs[-1] == np.float32(body_x(env))
    env.close()
    with pytest.raises(ValueError, match="needs a MuJoCo env"):
        apply_wrappers(gym.make("Pendulum-v1"), ["append-x"])
    # a wrapped maker passes make-time options through (the mp4 grid renders a wrapped body)
    from genpolicy.tasks.wrappers import wrapped_maker

    rendered = wrapped_maker(lambda **kwargs: gym.make("HalfCheetah-v5", **kwargs), ["append-x"])(render_mode="rgb_array")
    assert rendered.render_mode == "rgb_array" and rendered.observation_space.shape == (18,)
    rendered.close()
