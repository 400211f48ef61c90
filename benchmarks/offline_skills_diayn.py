"""Offline DIAYN on a point2d dataset: do 16 skills learned from data alone separate and stay near the data?

Trains `genpolicy fit offline-diayn` (IQL on the dataset's transitions, a skill drawn per
transition, reward log q(z | s') - log p(z), q trained on dataset states with the actor's skill
posterior as soft labels; `genpolicy.trainers.offline_diayn`) through `genpolicy.train` for
each seed, on a fixed dataset (no env interaction while learning), then measures the exported
`SkillPolicy` in simulation with the online measures (`genpolicy.evaluation.skills`:
fresh-rollout accuracy of the policy's own q, coverage of a 10 x 10 grid, final distances,
static skills < 0.2 box widths; `genpolicy.evaluation.skill_holdout`: a fresh classifier on
sampled-action rollouts) and how close the skills stay to the data
(`near_data_fraction`: the fraction of rollout states within two typical data steps of some
dataset state; for the deterministic rollouts of the skill report and the sampled ones of the
held-out check). The dataset's own coverage is reported beside it.

    genpolicy collect point2d --episodes 400 --recipe mix --mix expert:0.6,noisy:0.2,random:0.2 --noise 0.5 --seed 0 --out runs/data/point2d-mix
    GENPOLICY_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/offline_skills_diayn.py --seeds 0 1 2

A seed whose run directory holds a finished checkpoint is resumed (nothing left to train) and
measured again; an interrupted one continues. Writes ``OUT/summary.json``,
``OUT/skills-seed<S>.png`` and, with ``--docs``, docs/skills_offline_diayn.json / .png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

import genpolicy
from genpolicy.datasets.resolve import resolve_data
from genpolicy.evaluation.skill_holdout import HoldoutConfig, holdout_check, sampled_skill_rollouts
from genpolicy.evaluation.skills import coverage, near_data_fraction, plane_of, plot_skills, skill_report
from genpolicy.evaluation.envs import resolve_env

SETTINGS = {  # CPU-sized networks (as the online DIAYN benchmark); the rest is IQL's default
    "actor.hidden_dims": [128, 128], "critic.hidden_dims": [128, 128], "value.hidden_dims": [128, 128],
    "discriminator.hidden_dims": [128, 128], "discriminator.dims": [0, 1], "batch_size": 256,
    "updates_per_epoch": 5_000, "label_temperature": 0.02, "label_balance": 3, "skill_eval_every": 1,
}
STATIC = 0.2  # box widths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="runs/data/point2d-mix")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--skills", type=int, default=16)
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--episodes", type=int, default=3, help="fresh deterministic rollouts per skill")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra settings (JSON values)")
    parser.add_argument("--out", default="runs/offline-diayn-point")
    parser.add_argument("--docs", action="store_true", help="also write docs/skills_offline_diayn.json / .png")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    extra = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    settings = {**SETTINGS, **extra}

    dataset = resolve_data(args.data)
    data_states = dataset.observations.numpy()[:, :2]
    data_next = dataset.next_observations.numpy()[:, :2]
    _, low, high = plane_of(resolve_env("point2d"))
    data_coverage = coverage(np.concatenate([data_states, data_next]), low, high)
    # the same measure for points drawn uniformly in the box: how much of the box is "near the data" at all
    uniform = np.random.default_rng(0).uniform(low, high, (20_000, 2))
    near_uniform = near_data_fraction(uniform, data_states, data_next_states=data_next)
    print(f"data: coverage {data_coverage:.2f}; near-data fraction of uniform points in the box {near_uniform:.3f}")
    previous = {}
    if (out / "summary.json").exists():
        previous = {r["seed"]: r for r in json.loads((out / "summary.json").read_text()).get("runs", [])}

    results = []
    for seed in args.seeds:
        row: dict = {"seed": seed}
        start = time.perf_counter()
        run = genpolicy.train("offline-diayn", data=args.data, out=out / f"seed{seed}", eval_episodes=0, progress_bar=False,
                              overrides={**settings, "skills": args.skills, "seed": seed, "steps": args.updates})
        seconds = time.perf_counter() - start
        # a resumed, finished run trains for ~0 s: keep the time of the run that trained it
        row["train_seconds"] = seconds if seconds > 30 or seed not in previous else previous[seed].get("train_seconds")
        row["updates"] = int(run.algo.num_updates)
        policy = run.policy
        report = skill_report(policy, "point2d", episodes=args.episodes, seed=1_000)
        print(report.table())
        holdout_config = HoldoutConfig()
        holdout = holdout_check(policy, "point2d", holdout_config)
        rollout_states = np.concatenate([traj[1:, :2] for episodes in report.trajectories for traj in episodes])
        sampled = sampled_skill_rollouts(policy, "point2d", holdout_config.test_episodes, holdout_config.test_seed)[0]
        near = near_data_fraction(rollout_states, data_states, data_next_states=data_next)
        near_sampled = near_data_fraction(sampled[:, :, 1:].reshape(-1, 2), data_states, data_next_states=data_next)
        print(f"held-out classifier: state accuracy {holdout.state_accuracy:.3f}, episode accuracy "
              f"{holdout.episode_accuracy:.3f}; near-data fraction {near:.3f} (deterministic), {near_sampled:.3f} (sampled)")
        figure = plot_skills(report, "point2d", str(out / f"skills-seed{seed}.png"),
                             title=f"offline DIAYN (IQL), {args.skills} skills, {row['updates'] // 1000}k updates, seed {seed}")
        row.update({"accuracy": report.accuracy, "coverage": report.coverage,
                    "final_distance": report.final_distance.tolist(), "final_xy": report.final_xy.tolist(),
                    "per_skill_accuracy": None if report.per_skill_accuracy is None else report.per_skill_accuracy.tolist(),
                    "min_final_distance": float(report.final_distance.min()),
                    "mean_final_distance": float(report.final_distance.mean()),
                    "static_skills": int((report.final_distance < STATIC).sum()),
                    "holdout": holdout.as_dict(), "holdout_state_accuracy": holdout.state_accuracy,
                    "holdout_episode_accuracy": holdout.episode_accuracy,
                    "near_data_fraction": near, "near_data_fraction_sampled": near_sampled, "figure": figure})
        results.append(row)
        previous[seed] = row
        print(json.dumps({k: v for k, v in row.items() if not isinstance(v, (list, dict))}))
    runs = [previous[s] for s in sorted(previous)]
    summary = {"algo": "offline-diayn", "data": args.data, "data_transitions": len(dataset), "data_coverage": data_coverage,
               "near_data_fraction_uniform_box": near_uniform,
               "skills": args.skills, "updates": args.updates, "settings": settings,
               "command": "GENPOLICY_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/offline_skills_diayn.py --seeds "
                          + " ".join(str(r["seed"]) for r in runs), "runs": runs}
    for key in ("accuracy", "coverage", "min_final_distance", "mean_final_distance", "static_skills",
                "holdout_state_accuracy", "holdout_episode_accuracy", "near_data_fraction", "near_data_fraction_sampled"):
        values = np.array([r[key] for r in runs], dtype=np.float64)
        summary[key] = {"mean": float(values.mean()), "std": float(values.std()), "seeds": len(values)}
        print(f"{key}: {values.mean():.3f} ± {values.std():.3f} over {len(values)} seed(s)")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if args.docs:
        docs = Path(__file__).resolve().parents[1] / "docs"
        (docs / "skills_offline_diayn.json").write_text(json.dumps(summary, indent=2))
        shutil.copyfile(runs[0]["figure"], docs / "skills_offline_diayn.png")


if __name__ == "__main__":
    main()
