"""DIAYN on the 2-D point task: do 16 skills separate, cover the box and leave the start?

Trains `genpolicy fit diayn` on ``point2d`` through `genpolicy.train` for each seed, then rolls
out every skill afresh with deterministic actions (`genpolicy.evaluation.skills`) and reports
the issue's measures: fresh-rollout accuracy of the policy's own discriminator (chance 1/16),
coverage of a 10 x 10 grid over the box, and each skill's final distance from the start in box
widths; then the held-out check (`genpolicy.evaluation.skill_holdout`): a fresh classifier
trained on sampled-action rollouts of 20 env seeds per skill names the commanded skill of
rollouts from 10 other seeds. Writes ``OUT/summary.json``, ``OUT/skills-seed<S>.png`` and
``OUT/skills-seeds.png`` (all seeds side by side; docs/skills.md shows it).

    GENPOLICY_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/diayn_point.py --seeds 0 1 2 --env-steps 100000
    ... --reuse      # measure the policies already saved in OUT/seed<S> again (no training)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import genpolicy
from genpolicy.evaluation.skill_holdout import holdout_check
from genpolicy.evaluation.skills import SkillReport, plot_skills, skill_report
from genpolicy.models.base import load_policy

SETTINGS = {  # CPU-sized networks; everything else is DIAYN's default (alpha 0.1 fixed, SAC)
    "actor.hidden_dims": [128, 128], "critic.hidden_dims": [128, 128], "discriminator.hidden_dims": [128, 128],
    "discriminator.dims": [0, 1], "batch_size": 256, "warmup_steps": 2_000, "updates_per_epoch": 5_000,
}
METRA_SETTINGS = {"representation.hidden_dims": [128, 128], "representation.dims": [0, 1]}
STATIC = 0.2  # box widths: a skill whose mean final position is closer to the start is "static"


def plot_seeds(reports: list[tuple[int, SkillReport]], path: Path, title: str) -> None:
    """One panel per seed: every skill's trajectories (`plot_skills`' drawing), side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genpolicy.tasks import get_task

    task = get_task("point2d")
    fig, axes = plt.subplots(1, len(reports), figsize=(3.6 * len(reports), 3.8), squeeze=False)
    colours = plt.get_cmap("tab20")
    for ax, (seed, report) in zip(axes[0], reports):
        task.plot_background(ax)
        for k, episodes in enumerate(report.trajectories):
            for traj in episodes:
                xy = np.asarray(traj)[:, :2]
                ax.plot(xy[:, 0], xy[:, 1], color=colours(k % 20), lw=1.1, alpha=0.8)
                ax.plot(xy[-1, 0], xy[-1, 1], "o", color=colours(k % 20), ms=3)
        static = int((report.final_distance < STATIC).sum())
        accuracy = f"accuracy {report.accuracy:.2f}, " if report.accuracy is not None else ""
        ax.set_title(f"seed {seed}: {accuracy}coverage {report.coverage:.2f}\n"
                     f"{static} static skill(s) (< {STATIC} box widths)", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--algo", default="diayn", choices=["diayn", "metra"],
                        help="metra: the same learner and settings, METRA's reward (phi on x-y, 128 x 128)")
    parser.add_argument("--skills", type=int, default=16)
    parser.add_argument("--env-steps", type=int, default=100_000)
    parser.add_argument("--replay-ratio", type=float, default=0.5)
    parser.add_argument("--episodes", type=int, default=3, help="fresh rollouts per skill")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra DIAYN settings (JSON values)")
    parser.add_argument("--reuse", action="store_true", help="measure the saved OUT/seed<S> policies, no training")
    parser.add_argument("--out", default="runs/diayn-point")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    extra = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    settings = {**SETTINGS, **(METRA_SETTINGS if args.algo == "metra" else {}), **extra}
    updates = int((args.env_steps - settings["warmup_steps"]) * args.replay_ratio)
    label = args.algo.upper() + (f" (continuous z in R^{settings['skill_dim']})" if settings.get("skill_dim") else "")
    previous = {}
    if args.reuse and (out / "summary.json").exists():
        previous = {r["seed"]: r for r in json.loads((out / "summary.json").read_text()).get("runs", [])}
    results, reports = [], []
    for seed in args.seeds:
        row: dict = {"seed": seed}
        if args.reuse:
            policy = load_policy(out / f"seed{seed}")
            row.update({k: previous.get(seed, {}).get(k) for k in ("env_steps", "updates", "train_seconds")})
        else:
            start = time.perf_counter()
            run = genpolicy.train(args.algo, env="point2d", out=out / f"seed{seed}", eval_episodes=0, progress_bar=False,
                                  overrides={**settings, "skills": args.skills, "seed": seed, "steps": updates,
                                             "replay_ratio": args.replay_ratio})
            policy = run.policy
            row.update({"env_steps": int(run.algo.env_steps), "updates": int(run.algo.num_updates),
                        "train_seconds": time.perf_counter() - start})
        report = skill_report(policy, episodes=args.episodes, seed=1_000)
        print(report.table())
        holdout = holdout_check(policy, "point2d")
        print(f"held-out classifier: state accuracy {holdout.state_accuracy:.3f}, episode accuracy "
              f"{holdout.episode_accuracy:.3f}, own discriminator on the same states {holdout.own_discriminator_accuracy}")
        figure = plot_skills(report, "point2d", str(out / f"skills-seed{seed}.png"),
                             title=f"{label}, {args.skills} skills, {args.env_steps // 1000}k env steps, seed {seed}")
        row.update({"accuracy": report.accuracy, "coverage": report.coverage,
                    "final_distance": report.final_distance.tolist(), "final_xy": report.final_xy.tolist(),
                    "per_skill_accuracy": None if report.per_skill_accuracy is None else report.per_skill_accuracy.tolist(),
                    "min_final_distance": float(report.final_distance.min()),
                    "static_skills": int((report.final_distance < STATIC).sum()),
                    "holdout": holdout.as_dict(), "holdout_state_accuracy": holdout.state_accuracy,
                    "holdout_episode_accuracy": holdout.episode_accuracy, "figure": figure})
        results.append(row)
        reports.append((seed, report))
    summary = {"algo": args.algo, "skills": args.skills, "env_steps": args.env_steps, "replay_ratio": args.replay_ratio,
               "settings": settings, "runs": results}
    for key in ("accuracy", "coverage", "min_final_distance", "static_skills", "holdout_state_accuracy",
                "holdout_episode_accuracy"):
        if any(r[key] is None for r in results):
            continue  # METRA has no discriminator: no own-discriminator accuracy
        values = np.array([r[key] for r in results], dtype=np.float64)
        summary[key] = {"mean": float(values.mean()), "std": float(values.std())}
        print(f"{key}: {values.mean():.3f} ± {values.std():.3f} over {len(values)} seed(s)")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_seeds(reports, out / "skills-seeds.png",
               f"{label}, {args.skills} skills on point2d, {args.env_steps // 1000}k env steps each")


if __name__ == "__main__":
    main()
