"""Re-measure every built-in task's reference scores (the numbers hard-coded in genpolicy.tasks).

    python benchmarks/reference_scores.py [--episodes 1000] [--tasks two-paths pendulum ...]

For each task: mean undiscounted return (and success rate where the env reports one) of a
uniform random policy (-> ``ref_min_score``) and of the noise-free scripted expert
(-> ``ref_max_score``), over episodes whose resets are seeded 0..N-1. Prints a table and the
hard-coded values next to the measured ones so drift is obvious. For tasks with several
behaviour modes (two-paths, two-paths-value) the expert's mean return per mode follows, so ways
that pay differently show.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from genpolicy.tasks import TASKS, RandomExpert, get_task, rollout


def measure(task, policy: str, episodes: int) -> tuple[float, float, float, float, str]:
    env = task.make_env()
    expert = task.make_expert(0, 0.0) if policy == "expert" else RandomExpert(env.action_space, seed=0)
    results = [rollout(env, expert, seed=i) for i in range(episodes)]
    env.close()
    returns = np.array([r["rewards"].sum() for r in results])
    success = np.mean([r["success"] for r in results]) if task.has_success else float("nan")
    length = np.mean([len(r["rewards"]) for r in results])
    by_mode = ""
    if task.num_modes > 1 and policy == "expert":
        modes = np.array([task.mode_of(r["observations"]) for r in results])
        by_mode = "  by mode: " + ", ".join(
            f"{m}: {returns[modes == m].mean():.3f} ({(modes == m).sum()})" for m in range(task.num_modes) if (modes == m).any()
        )
    return float(returns.mean()), float(returns.std()), float(success), float(length), by_mode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--tasks", nargs="*", default=sorted(TASKS))
    args = parser.parse_args()
    print(f"{'task':18s} {'policy':7s} {'return':>18s} {'success':>8s} {'length':>7s} {'hard-coded':>11s} {'s':>5s}")
    for name in args.tasks:
        task = get_task(name)
        for policy, coded in (("random", task.ref_min_score), ("expert", task.ref_max_score)):
            start = time.perf_counter()
            mean, std, success, length, by_mode = measure(task, policy, args.episodes)
            print(
                f"{name:18s} {policy:7s} {mean:10.3f} ± {std:6.3f} {success:8.2f} {length:7.1f} "
                f"{coded:11.3f} {time.perf_counter() - start:5.1f}{by_mode}"
            )


if __name__ == "__main__":
    main()
