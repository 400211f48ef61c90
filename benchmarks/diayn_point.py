"""DIAYN on the 2-D point task: do 16 skills separate, cover the box and leave the start?

Trains `genpolicy fit diayn` on ``point2d`` through `genpolicy.train` for each seed, then rolls
out every skill afresh with deterministic actions (`genpolicy.evaluation.skills`) and reports
the issue's measures: fresh-rollout accuracy of the policy's own discriminator (chance 1/16),
coverage of a 10 x 10 grid over the box, and each skill's final distance from the start in box
widths. Writes ``OUT/summary.json`` and ``OUT/skills-seed<S>.png`` (docs/skills.md shows them).

    GENPOLICY_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/diayn_point.py --seeds 0 --env-steps 100000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import genpolicy
from genpolicy.evaluation.skills import plot_skills, skill_report

SETTINGS = {  # CPU-sized networks; everything else is DIAYN's default (alpha 0.1 fixed, SAC)
    "actor.hidden_dims": [128, 128], "critic.hidden_dims": [128, 128], "discriminator.hidden_dims": [128, 128],
    "discriminator.dims": [0, 1], "batch_size": 256, "warmup_steps": 2_000, "updates_per_epoch": 5_000,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--skills", type=int, default=16)
    parser.add_argument("--env-steps", type=int, default=100_000)
    parser.add_argument("--replay-ratio", type=float, default=0.5)
    parser.add_argument("--episodes", type=int, default=3, help="fresh rollouts per skill")
    parser.add_argument("--out", default="runs/diayn-point")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    updates = int((args.env_steps - SETTINGS["warmup_steps"]) * args.replay_ratio)
    results = []
    for seed in args.seeds:
        start = time.perf_counter()
        run = genpolicy.train("diayn", env="point2d", out=out / f"seed{seed}", eval_episodes=0, progress_bar=False,
                              overrides={**SETTINGS, "skills": args.skills, "seed": seed, "steps": updates,
                                         "replay_ratio": args.replay_ratio})
        seconds = time.perf_counter() - start
        report = skill_report(run.policy, episodes=args.episodes, seed=1_000)
        print(report.table())
        figure = plot_skills(report, "point2d", str(out / f"skills-seed{seed}.png"),
                             title=f"DIAYN, {args.skills} skills, {args.env_steps // 1000}k env steps, seed {seed}")
        results.append({"seed": seed, "accuracy": report.accuracy, "coverage": report.coverage,
                        "final_distance": report.final_distance.tolist(), "min_final_distance": float(report.final_distance.min()),
                        "env_steps": int(run.algo.env_steps), "updates": int(run.algo.num_updates),
                        "train_seconds": seconds, "figure": figure})
    summary = {"skills": args.skills, "env_steps": args.env_steps, "replay_ratio": args.replay_ratio,
               "settings": SETTINGS, "runs": results}
    for key in ("accuracy", "coverage", "min_final_distance"):
        values = np.array([r[key] for r in results])
        summary[key] = {"mean": float(values.mean()), "std": float(values.std())}
        print(f"{key}: {values.mean():.3f} ± {values.std():.3f} over {len(values)} seed(s)")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
