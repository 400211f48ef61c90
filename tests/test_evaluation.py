"""genpolicy.evaluation: episode counting, seeding, resets, scores, modes, video, plots."""

from __future__ import annotations

import json
import math

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
import torch

from genpolicy.evaluation import (
    Evaluator,
    ScoreTracker,
    evaluate,
    ffmpeg_available,
    mode_fractions,
    normalized_entropy,
    normalized_score,
    reference_scores,
    register_reference_scores,
    results_table,
)
from genpolicy.evaluation.references import unregister_reference_scores
from genpolicy.tasks import get_task
from genpolicy.tasks.rollout import success_flags as _success_flags
from genpolicy.models.base import Policy, PolicyConfig


class ProportionalPendulum(Policy):
    """Deterministic, observation-dependent: torque = -2 * theta_dot (clipped by the env)."""

    def predict_chunk(self, h: torch.Tensor) -> torch.Tensor:
        torque = (-2.0 * h[:, -1, 2:3]).clamp(-2, 2)
        return torque[:, None].expand(-1, self.config.pred_horizon, -1)


class AroundTheDisc(Policy):
    """Deterministic two-paths controller: pass the obstacle on the side of the start jitter."""

    def predict_chunk(self, h: torch.Tensor) -> torch.Tensor:
        xy = h[:, -1, :2]
        side = torch.where(xy[:, :1] < 0, -1.0, 1.0)
        beside = torch.cat([side * 0.65, xy[:, 1:2] + 0.3], dim=1)
        goal = torch.tensor([[0.0, 1.0]]).expand_as(xy)
        target = torch.where(xy[:, 1:2] > 0.45, goal, beside)
        step = (target - xy) / 0.1
        step = step / step.norm(dim=1, keepdim=True).clamp(min=1.0)
        step = step * (0.75 + 0.25 * torch.cos(40 * xy[:, :1]))  # uneven speed: lengths vary
        return step[:, None].expand(-1, self.config.pred_horizon, -1)


class Spy(AroundTheDisc):
    """Records reset calls and which observations come right after a masked reset."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.calls: list[np.ndarray | None] = []
        self.pending: np.ndarray | None = None
        self.first_obs_after_reset: list[np.ndarray] = []

    def reset(self, mask=None) -> None:
        self.calls.append(None if mask is None else np.asarray(mask).copy())
        if mask is not None:
            self.pending = np.asarray(mask).copy()
        super().reset(mask)

    def act(self, obs):
        if self.pending is not None:
            self.first_obs_after_reset.extend(np.asarray(obs)[self.pending])
            self.pending = None
        return super().act(obs)


class CountingEnv(gym.Env):
    """obs = [t]; reward 1 per step; the episode seeded s lasts 3 + s % 4 steps; success is
    reported only on step 2 (so "any step" and "last step" success disagree)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.length = 3 + (seed % 4 if seed is not None else int(self.np_random.integers(4)))
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        info = {"is_success": self.t == 2}
        return np.array([self.t], np.float32), 1.0, self.t >= self.length, False, info


@dataclass
class FakeTask:
    name: str = "counting"
    env_id: str = "counting-v0"
    ref_min_score: float = 0.0
    ref_max_score: float = 10.0
    max_episode_steps: int = 10
    has_success: bool = True
    num_modes: int = 2

    def make_env(self, **kwargs):
        return CountingEnv()

    def mode_of(self, observations):  # mode = parity of the episode length, -1 if length 6
        length = len(observations) - 1
        return -1 if length == 6 else length % 2


def pendulum_policy(**metadata) -> Policy:
    return ProportionalPendulum(PolicyConfig(obs_dim=3, act_dim=1, metadata=metadata))


def disc_policy(cls=AroundTheDisc, chunk: int = 1) -> Policy:
    return cls(PolicyConfig(obs_dim=2, act_dim=2, pred_horizon=chunk, action_horizon=chunk))


# ------------------------------------------------------------------ rollouts
def test_exact_episode_count_and_result_fields():
    result = evaluate(disc_policy(), "two-paths", episodes=5, seed=3, num_envs=3, record_observations=True)
    assert result.returns.shape == result.lengths.shape == (5,)
    assert result.successes is not None and result.successes.all()  # the controller solves it
    assert result.success_rate == 1.0 and result.normalized_score == pytest.approx(100.0)
    assert len(result.observations) == 5
    for traj, length in zip(result.observations, result.lengths):
        assert traj.shape == (length + 1, 2)
        assert traj[0, 1] == pytest.approx(-1.0, abs=0.051)  # starts at the start
    # both sides are used (start jitter decides) -> two modes, each episode labelled
    assert set(result.mode_ids.tolist()) <= {0, 1} and result.modes.counts.sum() == 5
    json.dumps(result.to_dict())
    assert "normalized score" in result.table() and "two-paths" in results_table({"a": result})


@pytest.mark.parametrize("num_envs", [1, 3, 8])
def test_fake_task_exact_episodes_seeds_success_and_modes(num_envs):
    class Zero(Policy):
        def predict_chunk(self, h):
            return h.new_zeros(h.shape[0], 1, 1)

    zero = Zero(PolicyConfig(obs_dim=1, act_dim=1))
    result = evaluate(zero, FakeTask(), episodes=7, seed=5, num_envs=num_envs, record_observations=True)
    expected = np.array([3 + (5 + k) % 4 for k in range(7)])
    np.testing.assert_array_equal(result.lengths, expected)
    np.testing.assert_array_equal(result.returns, expected)
    np.testing.assert_allclose(result.normalized_scores, 10 * expected)
    assert result.successes.all()  # success at step 2 of every episode ("any" step)
    np.testing.assert_array_equal(result.mode_ids, [-1 if n == 6 else n % 2 for n in expected])
    assert result.modes.undetermined_fraction == pytest.approx(np.mean(expected == 6))
    for traj, n in zip(result.observations, expected):
        np.testing.assert_array_equal(traj[:, 0], np.arange(n + 1))
    last = evaluate(zero, FakeTask(), episodes=7, seed=5, num_envs=num_envs, success_at="last")
    assert not last.successes.any()  # never successful on the final step


@pytest.mark.parametrize("task", ["two-paths", "pendulum"])
def test_same_seed_same_returns_for_any_num_envs(task):
    policy = disc_policy(chunk=4) if task == "two-paths" else pendulum_policy()
    kwargs = dict(episodes=6, seed=11, max_episode_steps=40, record_observations=True)
    one = evaluate(policy, task, num_envs=1, **kwargs)
    four = evaluate(policy, task, num_envs=4, **kwargs)
    np.testing.assert_array_equal(one.returns, four.returns)
    np.testing.assert_array_equal(one.lengths, four.lengths)
    for a, b in zip(one.observations, four.observations):
        np.testing.assert_array_equal(a, b)
    # episode k is seeded seed + k: shifting the seed by one shifts the episodes by one
    shifted = evaluate(policy, task, num_envs=3, **{**kwargs, "seed": 12})
    np.testing.assert_array_equal(one.returns[1:], shifted.returns[:-1])
    np.testing.assert_array_equal(one.lengths[1:], shifted.lengths[:-1])
    assert len(set(one.returns.tolist()) | set(one.lengths.tolist())) > 3  # episodes do differ


def test_evaluator_reuses_envs_without_changing_results():
    policy = disc_policy(chunk=2)
    reference = evaluate(policy, "two-paths", episodes=5, seed=2, num_envs=3, record_observations=True)
    with Evaluator("two-paths", num_envs=3) as evaluator:
        for episodes in (5, 2, 5):  # 2 < num_envs: one sub-env idles from the start
            result = evaluator(policy, episodes=episodes, seed=2, record_observations=True)
            np.testing.assert_array_equal(result.lengths, reference.lengths[:episodes])
            for a, b in zip(result.observations, reference.observations):
                np.testing.assert_array_equal(a, b)
        envs = evaluator._envs
        evaluator(policy, episodes=1)
        assert evaluator._envs is envs  # the same vector env, not a new one
    assert evaluator._envs is None


def test_async_matches_sync():
    kwargs = dict(episodes=4, seed=0, num_envs=2)
    sync = evaluate(disc_policy(), "two-paths", **kwargs)
    asyn = evaluate(disc_policy(), "two-paths", vectorization="async", **kwargs)
    np.testing.assert_array_equal(sync.lengths, asyn.lengths)


def test_stochastic_policy_evaluation_is_repeatable_and_leaves_global_rng_alone():
    class Jittery(AroundTheDisc):
        def predict_chunk(self, h):
            return super().predict_chunk(h) + 0.5 * torch.randn(h.shape[0], self.config.pred_horizon, 2)

    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = evaluate(disc_policy(Jittery), "two-paths", episodes=4, seed=7, num_envs=2)
    assert torch.equal(torch.rand(3), expected_next)  # caller's stream untouched
    second = evaluate(disc_policy(Jittery), "two-paths", episodes=4, seed=7, num_envs=2)
    assert np.array_equal(first.lengths, second.lengths) and np.array_equal(first.returns, second.returns)


def test_rewards_reach_the_policy_once_per_step():
    """Return-conditioned policies (Decision Transformer) lower their target from these."""

    class Listener(AroundTheDisc):
        def __init__(self, config):
            super().__init__(config)
            self.acts, self.rewards = 0, []

        def act(self, obs):
            self.acts += 1
            return super().act(obs)

        def observe_reward(self, rewards):
            self.rewards.append(np.asarray(rewards).copy())

    policy = disc_policy(Listener)
    result = evaluate(policy, "two-paths", episodes=3, seed=0, num_envs=1)
    assert len(policy.rewards) == policy.acts == result.lengths.sum()
    assert policy.rewards[0].shape == (1,)
    assert np.concatenate(policy.rewards).sum() == pytest.approx(result.returns.sum(), rel=1e-5)


def test_reset_called_for_finished_envs_before_their_next_observation():
    policy = disc_policy(Spy)
    result = evaluate(policy, "two-paths", episodes=4, num_envs=1)
    masked = [m for m in policy.calls if m is not None]
    assert policy.calls[0] is None and policy.calls[-1] is None  # full reset at start and end
    assert len(masked) == 3 and all(m.tolist() == [True] for m in masked)  # not after the last one

    policy = disc_policy(Spy)
    result = evaluate(policy, "two-paths", episodes=7, num_envs=3)
    masked = [m for m in policy.calls if m is not None]
    assert sum(int(m.sum()) for m in masked) >= 7 - 3
    # every observation fed right after a masked reset is a fresh start state
    starts = np.array(policy.first_obs_after_reset)
    assert len(starts) == sum(int(m.sum()) for m in masked)
    np.testing.assert_allclose(starts[:, 1], -1.0, atol=0.051)
    assert result.returns.shape == (7,)


class Zero(Policy):
    def predict_chunk(self, h):
        return h.new_zeros(h.shape[0], 1, self.config.act_dim)


def test_reference_scores_follow_the_env_id():
    kwargs = dict(episodes=2, num_envs=2, max_episode_steps=10)
    by_id = evaluate(pendulum_policy(), "Pendulum-v1", **kwargs)
    by_task = evaluate(pendulum_policy(), "pendulum", **kwargs)
    np.testing.assert_array_equal(by_id.returns, by_task.returns)
    assert by_id.normalized_score == by_task.normalized_score is not None
    assert (by_id.ref_min_score, by_id.ref_max_score) == (get_task("pendulum").ref_min_score, get_task("pendulum").ref_max_score)
    # the policy's own references (its data was collected on this env id) come before the lookup
    policy = pendulum_policy(env_id="Pendulum-v1", ref_min_score=-100.0, ref_max_score=0.0)
    scored = evaluate(policy, "Pendulum-v1", **kwargs)
    np.testing.assert_allclose(scored.normalized_scores, 100 * (scored.returns + 100) / 100)
    # ... but a task named explicitly, or ref_scores passed explicitly, fix them
    assert evaluate(policy, "pendulum", **kwargs).ref_min_score == get_task("pendulum").ref_min_score
    assert evaluate(policy, "Pendulum-v1", ref_scores=(-50, 50), **kwargs).ref_max_score == 50.0
    # an env nobody knows references for: returns only
    car = Zero(PolicyConfig(obs_dim=2, act_dim=1))
    plain = evaluate(car, "MountainCarContinuous-v0", **kwargs)
    assert plain.normalized_score is None and plain.successes is None and plain.modes is None
    # env=None: the policy's metadata names the task
    via_meta = evaluate(pendulum_policy(task="pendulum"), None, episodes=2, max_episode_steps=10)
    assert via_meta.name == "pendulum" and via_meta.normalized_score is not None


def test_no_env_anywhere_says_pass_env():
    with pytest.raises(ValueError, match="--env"):
        evaluate(pendulum_policy(), None, episodes=1)


@pytest.mark.parametrize("env_id", ["Hopper-v5", "Hopper-v4", "hopper-medium-v2", "HalfCheetah-v5", "Walker2d-v5", "Ant-v5"])
def test_d4rl_locomotion_references_by_env_id_any_version(env_id):
    body = {"H": "hopper", "h": "hopper", "Ha": "halfcheetah", "W": "walker2d", "A": "ant"}
    expected = {
        "hopper": (-20.272305, 3234.3), "halfcheetah": (-280.178953, 12135.0),
        "walker2d": (1.629008, 4592.3), "ant": (-325.6, 3879.7),
    }[body.get(env_id[:2], body.get(env_id[0]))]
    assert reference_scores(env_id) == expected


def test_hopper_v5_normalized_score_is_exact_and_overridable():
    hopper = Zero(PolicyConfig(obs_dim=11, act_dim=3))
    result = evaluate(hopper, "Hopper-v5", episodes=1, num_envs=1, max_episode_steps=5)
    (ret,) = result.returns
    assert result.normalized_score == pytest.approx(100 * (ret + 20.272305) / (3234.3 + 20.272305), rel=1e-12)
    assert "normalized score" in result.table()
    register_reference_scores("hopper", 0.0, 1000.0)  # every Hopper version from now on
    try:
        assert reference_scores("Hopper-v4") == (0.0, 1000.0)
        again = evaluate(hopper, "Hopper-v5", episodes=1, num_envs=1, max_episode_steps=5)
        assert again.normalized_score == pytest.approx(ret / 10)
    finally:
        unregister_reference_scores("hopper")
    assert reference_scores("Hopper-v5") == (-20.272305, 3234.3)
    assert reference_scores("MountainCarContinuous-v0") is None


def test_dict_observations_pointmaze():
    layout = {"achieved_goal": [0, 2], "desired_goal": [2, 4], "observation": [4, 8]}

    class TowardGoal(Policy):
        def predict_chunk(self, h):
            return (h[:, -1, 2:4] - h[:, -1, 0:2]).clamp(-1, 1)[:, None]

    policy = TowardGoal(PolicyConfig(obs_dim=8, act_dim=2, obs_layout=layout))
    result = evaluate(policy, "pointmaze-umaze", episodes=3, num_envs=2, max_episode_steps=25, record_observations=True)
    assert result.returns.shape == (3,) and result.successes is not None
    assert result.observations[0].shape[1] == 8 and (result.lengths <= 25).all()


def test_success_flags_respect_vector_info_masks():
    info = {"success": np.array([True, True, False]), "_success": np.array([True, False, True])}
    np.testing.assert_array_equal(_success_flags(info, 3), [True, False, False])
    info = {"is_success": np.array([0.0, 1.0])}
    np.testing.assert_array_equal(_success_flags(info, 2), [False, True])
    assert _success_flags({}, 2) is None


# ------------------------------------------------------------------ scores and modes
def test_normalized_score_hand_values():
    assert normalized_score(50.0, 0.0, 200.0) == pytest.approx(25.0)
    assert normalized_score(-146.82, -1230.65, -146.82) == pytest.approx(100.0)
    assert normalized_score(-1230.65, -1230.65, -146.82) == pytest.approx(0.0)
    np.testing.assert_allclose(normalized_score([0.0, 1.0, 2.0], 1.0, 3.0), [-50.0, 0.0, 50.0])
    with pytest.raises(ValueError):
        normalized_score(1.0, 2.0, 2.0)


def test_score_tracker_last_and_best():
    tracker = ScoreTracker()
    assert tracker.last is None and tracker.best is None
    for step, score in [(1, 10.0), (2, 30.0), (3, 20.0)]:
        tracker.update(score, step)
    assert (tracker.last, tracker.best, tracker.best_step) == (20.0, 30.0, 2)
    json.dumps(tracker.to_dict())


def test_entropy_and_fractions_hand_values():
    assert normalized_entropy([0.5, 0.5]) == pytest.approx(1.0)
    assert normalized_entropy([1.0, 0.0]) == 0.0
    assert normalized_entropy([1.0]) == 0.0
    hand = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)  # 0.811278...
    assert normalized_entropy([0.75, 0.25]) == pytest.approx(hand, abs=1e-12)
    assert hand == pytest.approx(0.8112781244591328)
    assert normalized_entropy([1 / 3] * 3) == pytest.approx(1.0)
    assert math.isnan(normalized_entropy([0.0, 0.0]))

    fractions, undetermined = mode_fractions([0, 0, 0, 1, -1, -1, -1, -1], num_modes=2)
    np.testing.assert_allclose(fractions, [0.75, 0.25])
    assert undetermined == pytest.approx(0.5)
    fractions, undetermined = mode_fractions([-1, -1], num_modes=2)
    np.testing.assert_array_equal(fractions, [0.0, 0.0])
    assert undetermined == 1.0
    with pytest.raises(ValueError):
        mode_fractions([2], num_modes=2)


# ------------------------------------------------------------------ video and plots
@pytest.mark.skipif(not ffmpeg_available(), reason="no ffmpeg binary for imageio")
def test_video_written(tmp_path):
    path = tmp_path / "videos" / "episode0.mp4"
    result = evaluate(disc_policy(), "two-paths", episodes=2, num_envs=2, video=path)
    assert result.video == str(path)
    assert path.is_file() and path.stat().st_size > 1000
    assert not list(path.parent.glob(".*tmp*"))
    import imageio.v2 as imageio

    with imageio.get_reader(path) as reader:
        frames = sum(1 for _ in reader)
    assert frames == result.lengths[0] + 1  # reset frame + one per step of episode 0


def test_plots_write_png(tmp_path):
    from genpolicy.evaluation.plots import plot_action_samples, plot_rollouts, plot_score_bars

    result = evaluate(disc_policy(), "two-paths", episodes=6, num_envs=3, record_observations=True)
    plot_rollouts("two-paths", result, path=tmp_path / "rollouts.png")
    plot_rollouts("two-paths", result.observations, path=tmp_path / "by_success.png", successes=result.successes,
                  color_by="success")
    samples = np.random.default_rng(0).uniform(-1, 1, size=(64, 16, 2)) + np.array([0.0, 0.6])
    plot_action_samples("two-paths", np.array([0.0, -1.0]), samples, path=tmp_path / "samples.png")
    plot_score_bars({"policy": result, "expert": 100.0, "random": (0.0, 0.0)}, path=tmp_path / "bars.png")
    for name in ("rollouts", "by_success", "samples", "bars"):
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


# ------------------------------------------------------------------ one loop, same numbers
class JitteryDisc(AroundTheDisc):
    def predict_chunk(self, h):
        return super().predict_chunk(h) + 0.5 * torch.randn(h.shape[0], self.config.pred_horizon, 2)


def test_split_evaluation_reproduces_numbers_recorded_before_it():
    """Recorded with the old 539-line evaluation/rollout.py (commit 2b421f6) for these calls."""
    pend = evaluate(pendulum_policy(), "pendulum", episodes=5, seed=3, num_envs=2)
    np.testing.assert_allclose(pend.returns, [-1951.0015902656528, -1956.5226931613402, -1913.9850003284303,
                                              -1700.7564149969296, -1835.2778952619406], rtol=1e-12)
    jit = evaluate(disc_policy(JitteryDisc, chunk=4), "two-paths", episodes=7, seed=1, num_envs=3, record_observations=True)
    assert jit.lengths.tolist() == [41, 42, 37, 42, 36, 42, 41] and jit.mode_ids.tolist() == [1, 0, 0, 1, 1, 1, 1]
    np.testing.assert_allclose(jit.observations[0][-1], [-0.0013912733411416411, 0.9695274233818054], rtol=1e-6)
    np.testing.assert_allclose(jit.observations[1][-1], [0.017152437940239906, 0.9253478646278381], rtol=1e-6)

    layout = {"achieved_goal": [0, 2], "desired_goal": [2, 4], "observation": [4, 8]}

    class TowardGoal(Policy):
        def predict_chunk(self, h):
            return (h[:, -1, 2:4] - h[:, -1, 0:2]).clamp(-1, 1)[:, None]

    maze = evaluate(TowardGoal(PolicyConfig(obs_dim=8, act_dim=2, obs_layout=layout)), "pointmaze-umaze",
                    episodes=4, seed=2, num_envs=2, max_episode_steps=60, record_observations=True)
    assert maze.lengths.tolist() == [60, 60, 20, 20] and maze.successes.tolist() == [False, False, True, True]
    np.testing.assert_allclose(maze.observations[2][-1, :2], [0.43475979566574097, -0.8627303242683411], rtol=1e-6)


@pytest.mark.skipif(not ffmpeg_available(), reason="no ffmpeg binary for imageio")
def test_video_is_seeded_like_evaluation(tmp_path):
    """A stochastic policy's video shows episode 0 exactly as a one-env evaluation runs it."""
    import imageio.v2 as imageio

    policy = disc_policy(JitteryDisc)
    one_env = evaluate(policy, "two-paths", episodes=3, seed=4, num_envs=1)
    for name in ("a", "b"):
        result = evaluate(policy, "two-paths", episodes=1, seed=4, num_envs=1, video=tmp_path / f"{name}.mp4")
        with imageio.get_reader(result.video) as reader:
            assert sum(1 for _ in reader) == one_env.lengths[0] + 1


def test_evaluation_modules_do_not_import_each_other_in_a_cycle():
    import ast
    from pathlib import Path

    import genpolicy.evaluation as package

    folder = Path(package.__file__).parent
    imports = {}
    for file in folder.glob("*.py"):
        tree = ast.parse(file.read_text())
        imports[file.stem] = {
            node.module.rsplit(".", 1)[-1] for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("genpolicy.evaluation.")
        }
    assert "rollout" not in imports  # the episode loop lives in genpolicy.tasks.rollout, once
    for module, deps in imports.items():
        for dep in deps:
            assert module not in imports.get(dep, set()), f"{module} <-> {dep}"
