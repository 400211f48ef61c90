"""Which way do they take when the ways pay differently? Imitation vs value-aware learners.

``two-paths-value``: the expert passes the obstacle left or right 50/50, but the right way
crosses mud (-0.05 per step, return ~0.5 against ~1 on the left). Imitation (BC, diffusion)
should split like the data; IQL (advantage-weighted) and Diffusion-QL (Q-steered diffusion)
should prefer the left way. Each row: the fraction of 100 seeded evaluation episodes per way,
success and mean return.

    .venv/bin/python benchmarks/two_paths_value.py [--out runs/two_paths_value] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# name -> (registered algorithm, config values, updates)
ROWS: dict[str, tuple[str, dict, int]] = {
    "bc (mse)": ("bc", {"policy.hidden_dims": [256, 256]}, 3_000),
    "diffusion (imitation)": ("diffusion", {"policy.down_dims": [32, 64], "batch_size": 128, "optim.lr": 1e-3,
                                            "optim.warmup_steps": 100}, 3_000),
    "iql": ("iql", {}, 5_000),
    "diffusion-ql": ("diffusion-ql", {"num_candidates": 10}, 3_000),
}
TASK = "two-paths-value"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/two_paths_value")
    parser.add_argument("--episodes", type=int, default=200, help="demonstrations")
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--only", nargs="*", choices=list(ROWS))
    args = parser.parse_args()
    from genpolicy.datasets import load_dataset
    from genpolicy.evaluation import evaluate
    from genpolicy.trainers.runner import limit_threads
    from genpolicy.training import train

    limit_threads()
    out = Path(args.out)
    data_dir = out / "data"
    if not data_dir.exists():
        subprocess.run([sys.executable, "-m", "genpolicy.cli", "collect", TASK, "--episodes", str(args.episodes),
                        "--noise", "0.1", "--out", str(data_dir)], check=True)
    data = load_dataset(data_dir)
    print(f"data: {data.summary()}")
    lines = ["| policy | seed | updates | left / right | success | return | train s |", "|---|---|---|---|---|---|---|"]
    results = {}
    for seed in args.seeds:
        for row in args.only or ROWS:
            name, values, steps = ROWS[row]
            run_dir = out / f"{name}-seed{seed}"
            result_file = run_dir / "result.json"
            if not result_file.exists():
                start = time.perf_counter()
                run = train(name, data=data, out=run_dir, overrides={
                    **values, "steps": steps, "seed": seed, "updates_per_step": 50, "updates_per_epoch": steps},
                    eval_episodes=0, progress_bar=False, device_preset=False, verbose=False)
                seconds = time.perf_counter() - start
                r = evaluate(run.policy, TASK, episodes=args.eval_episodes, seed=1_000)
                result_file.write_text(json.dumps({
                    "modes": r.mode_fractions.tolist() if r.mode_fractions is not None else None,
                    "success": r.success_rate, "return": r.mean_return, "seconds": seconds, "steps": steps}))
            r = json.loads(result_file.read_text())
            results[(row, seed)] = r
            modes = " / ".join(f"{m:.2f}" for m in r["modes"]) if r["modes"] else "—"
            lines.append(f"| {row} | {seed} | {r['steps']} | {modes} | {100 * r['success']:.0f}% | {r['return']:.2f} | {r['seconds']:.0f} |")
            print(lines[-1], flush=True)
    table = "\n".join(lines)
    (out / "table.md").write_text(table + "\n")
    print(table)
    summary = {row: float(np.mean([results[(row, s)]["return"] for s in args.seeds])) for row in (args.only or ROWS)}
    print("mean return per row:", summary)


if __name__ == "__main__":
    main()
