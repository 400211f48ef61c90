"""Skills from offline data (OPAL-style segment VAE) on the 2-D point task, measured like DIAYN's.

No env interaction while learning: `genpolicy fit opal` sees only a dataset collected once
(``--dataset mix``: ``collect point2d --recipe mix --mix expert:0.6,noisy:0.2,random:0.2 --noise
0.5``, 400 episodes of 50 steps: straight flights at a heading drawn per episode, the same under
action noise, and uniform random actions; ``--dataset lines``: the straight flights alone, noise
0.1, rays from the centre that leave most of the box unvisited). Then, in simulation, the measures of the online DIAYN benchmark
(`benchmarks/diayn_point.py`): coverage of a 10 x 10 grid, each skill's final distance from
the start (static < 0.2 box widths), the held-out classifier (a fresh MLP trained on
sampled-action rollouts of 20 env seeds per skill names the commanded skill of 10 other seeds'
rollouts), and how close the skills stay to the data: the fraction of rollout states within two
typical data steps of a dataset state (`near_data_fraction`). There is no own-discriminator
accuracy (OPAL has no discriminator): the held-out classifier is the accuracy measure. The
dataset's own coverage is printed as the ceiling a data-bound method can reach.

    GENPOLICY_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/offline_skills_opal.py --seeds 0 1 2 --out runs/opal-point
    GENPOLICY_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/offline_skills_opal.py --seeds 0 1 2 --dataset lines --out runs/opal-lines
    ... --reuse      # measure the policies already saved in OUT/seed<S> again (no training)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import genpolicy  # noqa: E402
from benchmarks.diayn_point import STATIC, plot_seeds  # noqa: E402
from genpolicy.datasets import load_dataset  # noqa: E402
from genpolicy.evaluation.skill_holdout import holdout_check  # noqa: E402
from genpolicy.evaluation.skills import coverage, near_data_fraction, skill_report  # noqa: E402
from genpolicy.models.base import load_policy  # noqa: E402

DATA_RECIPES = {  # genpolicy collect arguments; the dataset is collected once and reused
    # straight flights, the same under action noise, uniform random actions: covers the box
    "mix": ["point2d", "--episodes", "400", "--recipe", "mix", "--mix", "expert:0.6,noisy:0.2,random:0.2",
            "--noise", "0.5", "--seed", "0"],
    # straight flights only (small noise): rays from the centre, so "near the data" can fail
    "lines": ["point2d", "--episodes", "400", "--noise", "0.1", "--seed", "0"],
}
SETTINGS = {"batch_size": 256, "hidden_dims": [128, 128], "updates_per_epoch": 1_000}


def make_data(path: Path, recipe: list[str]) -> Path:
    """The benchmark's dataset (collected once by genpolicy's own collector; reused after)."""
    if not path.exists():
        subprocess.run([sys.executable, "-m", "genpolicy.cli", "collect", *recipe, "--out", str(path)], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--skills", type=int, default=16)
    parser.add_argument("--updates", type=int, default=5_000)
    parser.add_argument("--episodes", type=int, default=3, help="fresh rollouts per skill")
    parser.add_argument("--dataset", default="mix", choices=sorted(DATA_RECIPES))
    parser.add_argument("--data", default=None, help="where the dataset is (default runs/data/point2d-DATASET)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra OPAL settings (JSON values)")
    parser.add_argument("--reuse", action="store_true", help="measure the saved OUT/seed<S> policies, no training")
    parser.add_argument("--out", default="runs/opal-point")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recipe = DATA_RECIPES[args.dataset]
    data_path = make_data(Path(args.data or f"runs/data/point2d-{args.dataset}"), recipe)
    dataset = load_dataset(data_path)
    data_states = dataset.observations.numpy().astype(np.float64)
    data_next = dataset.next_observations.numpy().astype(np.float64)
    data_coverage = coverage(data_states[:, :2], np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    print(f"dataset: {len(dataset)} transitions, coverage of its own states {data_coverage:.2f}")
    settings = {**SETTINGS, **{k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}}
    results, reports = [], []
    for seed in args.seeds:
        row: dict = {"seed": seed}
        if args.reuse:
            policy = load_policy(out / f"seed{seed}" / "policy")
        else:
            start = time.perf_counter()
            run = genpolicy.train("opal", data=data_path, out=out / f"seed{seed}", eval_episodes=0, progress_bar=False,
                                  overrides={**settings, "skills": args.skills, "seed": seed, "steps": args.updates})
            policy = run.policy
            row.update({"updates": int(run.algo.num_updates), "train_seconds": time.perf_counter() - start})
        report = skill_report(policy, "point2d", episodes=args.episodes, seed=1_000)
        print(report.table())
        holdout = holdout_check(policy, "point2d")
        rollout_states = np.concatenate([traj[1:] for episodes in report.trajectories for traj in episodes])
        near = near_data_fraction(rollout_states, data_states, data_next_states=data_next)
        print(f"held-out classifier: state accuracy {holdout.state_accuracy:.3f}, episode accuracy "
              f"{holdout.episode_accuracy:.3f}; near the data {near:.3f}")
        row.update({"coverage": report.coverage, "final_distance": report.final_distance.tolist(),
                    "final_xy": report.final_xy.tolist(), "min_final_distance": float(report.final_distance.min()),
                    "static_skills": int((report.final_distance < STATIC).sum()),
                    "distinct_final_cells": int(len({tuple(np.floor((xy + 1) * 5).clip(0, 9).astype(int))
                                                     for xy in report.final_xy})),
                    "holdout": holdout.as_dict(), "holdout_state_accuracy": holdout.state_accuracy,
                    "holdout_episode_accuracy": holdout.episode_accuracy, "near_data_fraction": near})
        results.append(row)
        reports.append((seed, report))
    summary = {"algo": "opal", "skills": args.skills, "updates": args.updates, "settings": settings,
               "data": {"name": args.dataset, "recipe": recipe, "transitions": len(dataset), "coverage": data_coverage}, "runs": results}
    for key in ("coverage", "min_final_distance", "static_skills", "distinct_final_cells", "holdout_state_accuracy",
                "holdout_episode_accuracy", "near_data_fraction"):
        values = np.array([r[key] for r in results], dtype=np.float64)
        summary[key] = {"mean": float(values.mean()), "std": float(values.std())}
        print(f"{key}: {values.mean():.3f} ± {values.std():.3f} over {len(values)} seed(s)")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_seeds(reports, out / "skills-seeds.png",
               f"OPAL (offline), {args.skills} skills from {len(dataset) // 1000}k point2d transitions ({args.dataset}), "
               f"{args.updates // 1000}k updates each")


if __name__ == "__main__":
    main()
