"""Every policy family on two-paths, side by side: who takes both ways, who crashes.

The expert passes the obstacle on the left or the right with equal probability. Each
algorithm of ``genpolicy.demo.TWO_PATHS_ALGOS`` is trained on the same scripted
demonstrations (200 episodes) and evaluated on the same 100 seeded episodes. The table gives
success, the fraction of episodes that went each way (left / right) and the normalized mode
entropy (1 = both ways equally often). Runs are resumable and cached under ``--out``, so a
second call only re-evaluates. Writes ``table.md``, ``results.json`` and ``rollouts.png``.

    .venv/bin/python benchmarks/two_paths_table.py [--out runs/two_paths] [--only diffusion vae]

Expect ~15 minutes on 2 CPU cores for all six (diffusion is the slowest, ~4-5 min).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genpolicy.datasets import load_dataset
from genpolicy.datasets.collect import collect
from genpolicy.demo import TASK, TWO_PATHS_ALGOS, plot_rollout_grid, train_and_evaluate
from genpolicy.evaluation import results_table
from genpolicy.trainers.runner import limit_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/two_paths")
    parser.add_argument("--episodes", type=int, default=200, help="demonstrations to collect")
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--only", nargs="*", choices=sorted(TWO_PATHS_ALGOS), help="a subset of algorithms")
    args = parser.parse_args()
    limit_threads()

    out = Path(args.out)
    data = out / "data"
    if not data.exists():
        collect(TASK, args.episodes, data, seed=0)
    dataset = load_dataset(data)
    print(f"data: {dataset.summary()}")

    results, seconds = {}, {}
    for name in args.only or TWO_PATHS_ALGOS:
        results[name], seconds[name] = train_and_evaluate(name, dataset, out, eval_episodes=args.eval_episodes)
        print(f"{name}: success {100 * (results[name].success_rate or 0):.0f}%  ({seconds[name]:.0f}s)", flush=True)

    table = results_table(results)
    timing = "\n".join(f"- {name}: {TWO_PATHS_ALGOS[name][2]} steps, {s:.0f} s" for name, s in seconds.items())
    (out / "table.md").write_text(f"{table}\n\nTraining (wall time of this call; 0 when resumed from a finished run):\n{timing}\n")
    (out / "results.json").write_text(json.dumps(
        {name: {**r.to_dict(per_episode=False), "train_seconds": seconds[name]} for name, r in results.items()}, indent=2))
    plot_rollout_grid(results, out / "rollouts.png")
    print(table)
    print(f"wrote {out / 'table.md'} and {out / 'rollouts.png'}")


if __name__ == "__main__":
    main()
