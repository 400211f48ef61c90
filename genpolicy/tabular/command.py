"""`genpolicy irl gridworld|frozenlake`: MaxEnt IRL on a known MDP, one figure and a JSON of numbers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_irl_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``irl`` subcommand (its ``func`` is `cmd_irl`) on ``genpolicy``'s subparsers."""
    p = subparsers.add_parser(
        "irl", help="exact MaxEnt IRL on a gridworld or FrozenLake: recovered reward as a picture, plus numbers",
        description="Expert demonstrations from the soft-optimal policy of a known reward, state-only MaxEnt IRL "
        "(exact backward/forward passes, L-BFGS), and a figure of true reward, recovered reward, expert and "
        "recovered visitation, with the visitation gap, reward correlation and optimal-policy agreement. "
        "--demos 0 gives IRL the expert's exact visitation instead of samples.")
    p.add_argument("env", choices=["gridworld", "frozenlake"])
    p.add_argument("--out", default="runs/irl", help="directory for irl-ENV.png and irl-ENV.json")
    p.add_argument("--demos", type=int, help="expert trajectories (default 1000; 0: exact expert visitation)")
    p.add_argument("--length", type=int, help="steps per trajectory (default: gridworld 60, frozenlake 100)")
    p.add_argument("--gamma", type=float, help="discount (default: gridworld 0.9, frozenlake 0.95)")
    p.add_argument("--l2", type=float, help="L2 weight on the reward weights (default: gridworld 0.01, frozenlake 0.1)")
    p.add_argument("--size", type=int, default=6, help="gridworld: rows and columns")
    p.add_argument("--slip", type=float, default=0.1, help="gridworld: probability of a random other move")
    p.add_argument("--map", default="4x4", choices=["4x4", "8x8"], help="frozenlake: map")
    p.add_argument("--reward-scale", type=float, default=20.0,
                   help="frozenlake: the expert is soft-optimal for reward x this (temperature 1/this)")
    p.add_argument("--max-iter", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_irl)
    return p


def cmd_irl(args: argparse.Namespace) -> None:
    from genpolicy.tabular.experiments import frozenlake_irl, goal_state_reward, gridworld_irl
    from genpolicy.tabular.figures import irl_figure

    if args.demos is not None and args.demos < 0:
        raise ValueError(f"--demos must be >= 0, got {args.demos}")
    common = {k: v for k, v in {"demos": args.demos, "length": args.length, "gamma": args.gamma, "l2": args.l2}.items()
              if v is not None}
    if args.env == "gridworld":
        if args.size < 3:
            raise ValueError(f"--size must be at least 3, got {args.size}")
        report, result, exact, mdp = gridworld_irl(args.size, args.size, slip=args.slip, seed=args.seed,
                                                   max_iter=args.max_iter, **common)
        true_reward, marks = mdp.R, []
    else:
        report, result, exact, mdp = frozenlake_irl(args.map, reward_scale=args.reward_scale, seed=args.seed,
                                                    max_iter=args.max_iter, **common)
        true_reward = goal_state_reward(mdp, report.gamma)
        desc = _frozenlake_desc(args.map)
        marks = [(s, ch) for s, ch in enumerate(desc) if ch in "SHG"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = f"{report.demos} demos x {report.length} steps" if report.demos else "exact expert visitation"
    figure = irl_figure(out / f"irl-{args.env}.png", mdp.shape, true_reward, result.reward, result.expert_visitation,
                        result.visitation, title=f"MaxEnt IRL on {mdp.name} (gamma {report.gamma:g}, {source})",
                        subtitle=f"visitation gap {report.visitation_gap:.2e}, reward correlation "
                                 f"{report.reward_correlation:.3f}, optimal-policy agreement {report.policy_agreement:.0%} "
                                 f"of {report.unique_states} states, return ratio {report.return_ratio:.3f}", marks=marks)
    numbers = out / f"irl-{args.env}.json"
    numbers.write_text(json.dumps({**report.to_dict(), "loss": result.loss.tolist(), "gap": result.gap.tolist(),
                                   "true_reward": list(map(float, true_reward)),
                                   "recovered_reward": result.reward.tolist()}, indent=2))
    print(report.summary())
    print(f"wrote {figure} and {numbers}")


def _frozenlake_desc(map_name: str) -> str:
    """The map letters of FrozenLake (S start, F frozen, H hole, G goal), row by row."""
    import gymnasium as gym

    env = gym.make("FrozenLake-v1", map_name=map_name, is_slippery=True)
    return "".join(ch.decode() for row in env.unwrapped.desc for ch in row)
