"""BRO ablation offline: MLP critic vs BroNet critic vs BroNet + resets (IQL on one dataset).

Rows: IQL with (a) the default MLP critics, (b) BroNet critics and value net (LayerNorm +
residual blocks, AdamW weight decay 1e-4), (c) BroNet + full resets of actor, critics, value
net, targets and their optimizers at 1/3 and 2/3 of training (data kept). Every run logs the
tau-dormant neuron fraction (ReDo's score, tau=0.025) of each network every ``--every``
updates, and is evaluated at the same points. Writes ``table.md`` and ``curves.png`` (score
and critic dormant fraction against updates; resets marked).

    .venv/bin/python benchmarks/bro_ablation.py --data runs/offline_rl/data/pendulum-mix --env pendulum
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


BRONET = {"critic.arch": "bronet", "value.arch": "bronet", "critic_optim.weight_decay": 1e-4,
          "value_optim.weight_decay": 1e-4}
ROWS = {"mlp": {}, "bronet": BRONET, "bronet+resets": BRONET}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--out", default="runs/bro_ablation")
    parser.add_argument("--steps", type=int, default=9_000)
    parser.add_argument("--every", type=int, default=1_000, help="updates between evaluations / dormant measurements")
    parser.add_argument("--width", type=int, default=256, help="BroNet width (BRO uses 512; 256 fits a CPU budget)")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from genpolicy.datasets import load_dataset
    from genpolicy.trainers.network_callbacks import DormantMonitor, NetworkResets
    from genpolicy.trainers.runner import limit_threads
    from genpolicy.training import train

    limit_threads()
    out = Path(args.out)
    data = load_dataset(args.data)
    resets_at = [args.steps // 3, 2 * args.steps // 3]
    results = {}
    for row, values in ROWS.items():
        result_file = out / row / "result.json"
        if not result_file.exists():
            overrides = {**values, "critic.width": args.width, "value.width": args.width, "steps": args.steps,
                         "seed": args.seed, "updates_per_step": 50, "updates_per_epoch": args.every, "log_every": args.every}
            monitor = DormantMonitor(every=args.every, tau=0.025)
            callbacks = [monitor]
            if row.endswith("resets"):
                callbacks.append(NetworkResets(["actor", "critic", "value"], at=resets_at))
            start = time.perf_counter()
            run = train("iql", data=data, out=out / row, overrides=overrides, eval_episodes=args.eval_episodes,
                        eval_every=1, eval_env=args.env, callbacks=callbacks, progress_bar=False, verbose=False)
            result_file.write_text(json.dumps({
                "seconds": time.perf_counter() - start,
                "scores": [(h["updates"], h.get("eval/normalized_score")) for h in run.eval_history],
                "dormant": monitor.history, "resets": resets_at if row.endswith("resets") else [],
            }, indent=2))
        results[row] = json.loads(result_file.read_text())
        r = results[row]
        print(f"{row}: last {r['scores'][-1][1]:.1f} best {max(s for _, s in r['scores']):.1f} "
              f"dormant critic {r['dormant'][-1].get('critic', 0):.3f} ({r['seconds']:.0f} s)", flush=True)

    lines = ["| critic | last | best | critic dormant (start → end) | value dormant (end) | train s |",
             "|---|---|---|---|---|---|"]
    for row, r in results.items():
        d = r["dormant"]
        lines.append(f"| {row} | {r['scores'][-1][1]:.1f} | {max(s for _, s in r['scores']):.1f} | "
                     f"{d[0].get('critic', 0):.3f} → {d[-1].get('critic', 0):.3f} | {d[-1].get('value', 0):.3f} | {r['seconds']:.0f} |")
    table = "\n".join(lines)
    (out / "table.md").write_text(table + "\n")
    plot(results, out / "curves.png")
    print(table)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (score_ax, dormant_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    for row, r in results.items():
        score_ax.plot(*zip(*r["scores"]), marker="o", label=row)
        dormant_ax.plot([d["updates"] for d in r["dormant"]], [d.get("critic", 0) for d in r["dormant"]], marker="o", label=row)
        for point in r["resets"]:
            for ax in (score_ax, dormant_ax):
                ax.axvline(point, color="grey", ls=":", lw=1)
    score_ax.set(xlabel="updates", ylabel="normalized score", title="score")
    dormant_ax.set(xlabel="updates", ylabel="fraction", title="critic dormant neurons (tau=0.025)")
    for ax in (score_ax, dormant_ax):
        ax.grid(alpha=0.3)
    score_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
