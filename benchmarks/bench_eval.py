"""Throughput of ``evaluate`` against raw stepping of the same vector env.

    MUJOCO_GL=egl .venv/bin/python benchmarks/bench_eval.py [--num-envs 8] [--async]

For each task it prints env-steps/s of

* ``raw``: a plain loop ``envs.step(envs.action_space.sample())`` on the same kind of vector
  env (gymnasium's default NEXT_STEP autoreset), env creation included;
* ``evaluate`` with trivial policies: ``harness`` (a duck-typed policy returning a
  preallocated array: the cost of the evaluation loop alone), ``random`` (a ``Policy``
  subclass drawing uniform actions with torch: the loop + ``Policy.act`` bookkeeping) and
  ``mlp`` (a 2x64 MLP ``Policy``); ``kept`` is ``harness`` through an ``Evaluator`` whose
  vector env stays open between runs (env creation paid once, as in periodic evaluation);

and the ratio to ``raw`` (target >= 0.8). Raw and evaluate runs are interleaved and the best
of ``--repeats`` is kept for each, so background load on a shared machine affects both alike;
rates are printed by wall clock and, in brackets, by this process's CPU time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genpolicy.evaluation import Evaluator, evaluate, resolve_env  # noqa: E402
from genpolicy.models.base import Policy, PolicyConfig  # noqa: E402


class UniformPolicy(Policy):
    """Uniform actions in [low, high], through the full Policy.act path."""

    def predict_chunk(self, h: torch.Tensor) -> torch.Tensor:
        low = torch.tensor(self.config.action_low)
        high = torch.tensor(self.config.action_high)
        u = torch.rand(h.shape[0], self.config.pred_horizon, self.config.act_dim)
        return low + (high - low) * u


class TinyMLPPolicy(Policy):
    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.net = nn.Sequential(nn.Linear(config.obs_dim, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                                 nn.Linear(64, config.act_dim), nn.Tanh())

    def predict_chunk(self, h: torch.Tensor) -> torch.Tensor:
        high = torch.tensor(self.config.action_high)
        return (self.net(self.obs_normalizer.normalize(h[:, -1])) * high)[:, None]


class HarnessPolicy:
    """Not a Policy: returns the same preallocated actions; measures evaluate's own loop."""

    def __init__(self, config: PolicyConfig, num_envs: int) -> None:
        self.config = config
        rng = np.random.default_rng(0)
        self.actions = rng.uniform(config.action_low, config.action_high, (num_envs, config.act_dim)).astype(np.float32)

    def act(self, obs):
        return self.actions

    device = torch.device("cpu")

    def reset(self, mask=None) -> None:
        pass

    def observe_reward(self, rewards) -> None:
        pass


class Clock:
    """Wall time and this process's CPU time (the CPU clock is robust to other processes'
    load on a shared machine, but misses async workers: use wall time for --async)."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def raw_run(make_env, num_envs: int, steps: int, vectorization: str) -> int:
    """Env steps taken by a plain random-action loop (creation and close included)."""
    fns = [make_env] * num_envs
    cls = gym.vector.SyncVectorEnv if vectorization == "sync" else gym.vector.AsyncVectorEnv
    envs = cls(fns)
    envs.reset(seed=0)
    envs.action_space.seed(0)
    for _ in range(steps // num_envs):
        envs.step(envs.action_space.sample())
    envs.close()
    return (steps // num_envs) * num_envs


def policy_config(target) -> PolicyConfig:
    probe = target.make_env()
    space, obs_space = probe.action_space, probe.observation_space
    probe.close()
    layout = None
    if isinstance(obs_space, gym.spaces.Dict):
        start, layout = 0, {}
        for key in sorted(obs_space.spaces):
            size = int(np.prod(obs_space.spaces[key].shape))
            layout[key], start = [start, start + size], start + size
        obs_dim = start
    else:
        obs_dim = int(np.prod(obs_space.shape))
    return PolicyConfig(obs_dim=obs_dim, act_dim=int(space.shape[0]), action_low=space.low.tolist(),
                        action_high=space.high.tolist(), obs_layout=layout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["pendulum", "two-paths"])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[8])
    parser.add_argument("--steps", type=int, default=8000, help="about this many env steps per measurement")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--policies", nargs="+", default=["harness", "random", "mlp", "kept"])
    parser.add_argument("--async", dest="vectorization", action="store_const", const="async", default="sync")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch threads {torch.get_num_threads()}, vectorization {args.vectorization}, best of {args.repeats}; "
          "steps/s by wall clock [by process CPU time]")

    for name in args.tasks:
        target = resolve_env(name)
        config = policy_config(target)
        for num_envs in args.num_envs:
            episode_len = target.task.max_episode_steps if target.task else 200
            # a multiple of num_envs, so fixed-length tasks end with no idle sub-envs
            episodes = num_envs * max(1, round(args.steps / (episode_len * num_envs)))
            policies = {"harness": HarnessPolicy(config, num_envs), "random": UniformPolicy(config),
                        "mlp": TinyMLPPolicy(config), "kept": HarnessPolicy(config, num_envs)}
            kept = Evaluator(name, num_envs, vectorization=args.vectorization)
            kept(policies["kept"], episodes=1)  # create the envs outside the timed runs
            labels = ["raw", *args.policies]
            wall, cpu = dict.fromkeys(labels, 0.0), dict.fromkeys(labels, 0.0)
            lengths = {}
            for _ in range(args.repeats):  # interleaved, best of repeats
                for label in labels:
                    with Clock() as clock:
                        if label == "raw":
                            steps = raw_run(target.make_env, num_envs, args.steps, args.vectorization)
                        elif label == "kept":
                            result = kept(policies[label], episodes=episodes, seed=0)
                            steps, lengths[label] = int(result.lengths.sum()), result.mean_length
                        else:
                            result = evaluate(policies[label], name, episodes=episodes, seed=0,
                                              num_envs=num_envs, vectorization=args.vectorization)
                            steps, lengths[label] = int(result.lengths.sum()), result.mean_length
                    wall[label] = max(wall[label], steps / clock.wall)
                    cpu[label] = max(cpu[label], steps / max(clock.cpu, 1e-9))
            print(f"\n{name}, num_envs={num_envs}: raw vector env + random actions "
                  f"{wall['raw']:8.0f} [{cpu['raw']:8.0f}] steps/s")
            for label in args.policies:
                print(f"  evaluate[{label:7s}] {wall[label]:8.0f} [{cpu[label]:8.0f}] steps/s  "
                      f"ratio {wall[label] / wall['raw']:.2f} [{cpu[label] / cpu['raw']:.2f}]  "
                      f"({episodes} episodes, mean length {lengths[label]:.0f})")
            kept.close()


if __name__ == "__main__":
    main()
