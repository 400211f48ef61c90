"""`genpolicy skills RUN`: roll out every skill of a skill-conditioned policy, one figure and the numbers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_skills_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``skills`` subcommand (its ``func`` is `cmd_skills`) on ``genpolicy``'s subparsers."""
    p = subparsers.add_parser(
        "skills", help="every skill of a skill policy (fit diayn): trajectories figure, coverage, accuracy",
        description="Roll out each skill of a skill-conditioned policy afresh with deterministic actions and report "
        "the fresh-rollout accuracy of its own discriminator (chance 1/K), the coverage of a GRID x GRID grid "
        "over the x-y box, and each skill's final position and distance from the start (box widths). Writes "
        "RUN/skills.png and RUN/skills.json.")
    p.add_argument("run", help="a run directory (or a saved policy directory) of a skill learner, e.g. runs/diayn-point2d")
    p.add_argument("--env", help="env to roll out in (default: the policy's own)")
    p.add_argument("--episodes", type=int, default=3, help="episodes per skill")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", type=int, default=10, help="coverage grid cells per side")
    p.add_argument("--holdout", action="store_true",
                   help="also the held-out check: a fresh classifier trained on sampled-action rollouts of 20 env "
                   "seeds per skill names the commanded skill of rollouts from 10 other seeds")
    p.add_argument("--video", metavar="PATH",
                   help="MuJoCo bodies: write an mp4 of every skill side by side (genpolicy.evaluation.skill_motion)")
    p.add_argument("--video-steps", type=int, default=300, help="env steps of each skill shown in the --video mp4")
    p.set_defaults(func=cmd_skills)
    return p


def cmd_skills(args: argparse.Namespace) -> None:
    from genpolicy.evaluation.skills import plot_skills, skill_report
    from genpolicy.models import load_policy

    policy = load_policy(args.run)
    if not hasattr(policy, "use_skill"):
        raise ValueError(f"{args.run}: a {policy.name!r} policy has no skills (train one with `genpolicy fit diayn`)")
    report = skill_report(policy, args.env, episodes=args.episodes, seed=args.seed, grid=args.grid)
    print(report.table())
    directory = Path(args.run) if (Path(args.run) / "policy").is_dir() else Path(args.run).parent
    metadata = policy.config.metadata or {}
    env = args.env or metadata.get("task") or metadata.get("env_id")
    title = f"{report.num_skills} skills: {directory.name}"
    from genpolicy.evaluation import skill_motion as sm

    mujoco = sm.policy_env_is_mujoco_body(policy, args.env)
    if args.video and not mujoco:
        raise ValueError(f"--video needs a MuJoCo body env, not {env!r}")
    if mujoco:  # the body's x is not in the observation: x-velocity / final x instead of an x-y plane
        motion = sm.skill_motion(policy, args.env, episodes=args.episodes, seed=args.seed)
        print(motion.table(report.per_skill_accuracy))
        figure = sm.plot_motion(motion, str(directory / "skills.png"), title=title)
    else:
        figure = plot_skills(report, env, str(directory / "skills.png"), title=title)
    payload = {"num_skills": report.num_skills, "accuracy": report.accuracy, "coverage": report.coverage,
               "grid": args.grid, "episodes_per_skill": args.episodes, "seed": args.seed,
               "final_distance": report.final_distance.tolist(), "final_xy": report.final_xy.tolist(),
               "per_skill_accuracy": None if report.per_skill_accuracy is None else report.per_skill_accuracy.tolist()}
    if mujoco:
        payload["motion"] = motion.as_dict()
    if args.video:
        print(f"wrote {sm.skill_grid_video(policy, args.env, args.video, steps=args.video_steps, seed=args.seed)}")
    if args.holdout:
        from genpolicy.evaluation.skill_holdout import holdout_check

        holdout = holdout_check(policy, args.env)
        print(f"held-out classifier: state accuracy {holdout.state_accuracy:.3f}, episode accuracy "
              f"{holdout.episode_accuracy:.3f} (chance {1 / report.num_skills:.3f})")
        payload["holdout"] = holdout.as_dict()
    (directory / "skills.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {figure} and {directory / 'skills.json'}")


__all__ = ["add_skills_parser", "cmd_skills"]
