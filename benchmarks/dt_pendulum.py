"""Decision Transformer on mixed-quality Pendulum data: does the return it is asked for steer it?

Data: 100 expert episodes + 100 episodes of the same expert under heavy action noise
(sigma 4, clipped to the torque limit), the way D4RL's "medium-expert" mixes two sources.
Trained: a Decision Transformer (K=20) and, for reference, MSE behaviour cloning on the same
mixture. Evaluated: DT asked for several target returns, and BC, on the same 50 seeded
episodes each. A return-conditioned policy should deliver returns that rise with the target,
and near the top target beat BC, which imitates the average of both sources.

    .venv/bin/python benchmarks/dt_pendulum.py [--out runs/dt_pendulum] [--steps 5000]
        [--context-len 20] [--action-dropout 0.0] [--skip-bc]

About 8 minutes per 5000 updates on one CPU core. Results and the diagnosis of why DT does
not yet deliver here (copycat on a bang-bang expert; infeasible targets push the
return-to-go out of the data's range) are in the README.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


from genpolicy.datasets import OfflineDataset, load_dataset
from genpolicy.datasets.collect import collect
from genpolicy.evaluation import evaluate
from genpolicy.trainers import limit_threads
from genpolicy.training import train

TASK = "pendulum"


def mixed_dataset(out: Path) -> OfflineDataset:
    parts = []
    for name, noise, seed in (("expert", 0.0, 0), ("noisy", 4.0, 1)):
        path = out / f"data-{name}"
        if not path.exists():
            collect(TASK, 100, path, noise=noise, seed=seed)
        parts.append(load_dataset(path))
    return OfflineDataset.concatenate(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/dt_pendulum")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--context-len", type=int, default=20, help="DT context K (paper: 20)")
    parser.add_argument("--action-dropout", type=float, default=0.0)
    parser.add_argument("--skip-bc", action="store_true")
    args = parser.parse_args()
    limit_threads()
    out = Path(args.out)
    dataset = mixed_dataset(out)
    returns = dataset.episode_returns()
    print(f"data: {dataset.summary()}; episode returns {returns.min():.0f} .. {returns.max():.0f}")

    chunk = 50
    common = dict(steps=args.steps, updates_per_step=chunk, updates_per_epoch=args.steps // 5 // chunk * chunk)
    dt = train("dt", data=dataset, out=out / "dt", overrides={"policy.context_len": args.context_len,
               "action_dropout": args.action_dropout, **common}, eval_episodes=0, progress_bar=False, verbose=False).algo

    rows = {}
    policy = dt.export_policy()
    for target in (-100.0, -400.0, -800.0):
        policy.config.target_return = target
        result = evaluate(policy, TASK, episodes=args.episodes, seed=5_000)
        rows[f"dt K={args.context_len} (target {target:.0f})"] = result
    if not args.skip_bc:
        bc = train("bc", data=dataset, out=out / "bc", overrides=common, eval_episodes=0, progress_bar=False,
                   verbose=False).algo
        rows["bc-mse on the mixture"] = evaluate(bc.export_policy(), TASK, episodes=args.episodes, seed=5_000)

    lines = ["| policy | return | normalized |", "|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r.mean_return:.1f} ± {r.std_return:.1f} | {r.normalized_score:.1f} |")
    table = "\n".join(lines)
    print(table)
    (out / "table.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps({k: r.to_dict(per_episode=False) for k, r in rows.items()}, indent=2))


if __name__ == "__main__":
    main()
