"""Offline RL vs imitation on suboptimal data: BC, TD3+BC, IQL, CQL, Diffusion-QL.

For each dataset x algorithm x seed: train with periodic evaluation (``--eval-episodes``
episodes every epoch), keep the last and the best normalized score, and write one
``result.json`` per run. Runs that already have a result are skipped, so the table can be
built in parts (``--datasets``, ``--algos``, ``--seeds``) and a killed call resumes. Then
``table.md`` (mean ± std over seeds of last and best) and ``curves.png`` (normalized score
against updates, mean over seeds) are written from every result found under ``--out``.

    .venv/bin/python benchmarks/offline_rl_table.py --out runs/offline_rl \
        [--datasets pendulum-mix maze2d-umaze-stitch hopper-medium] [--algos bc iql] [--seeds 0 1 2]

Datasets: ``pendulum-mix`` and ``maze2d-umaze-stitch`` are collected by ``genpolicy collect``
with the recipes in DATASETS; ``hopper-medium`` is ``../shared/data/hopper-medium-v5.hdf5``
(D4RL layout, evaluated on gymnasium Hopper-v5 with D4RL's reference returns).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

# name -> (collect arguments or a file, env to evaluate on)
DATASETS: dict[str, tuple[list[str] | Path, str]] = {
    "pendulum-mix": (["pendulum", "--mix", "expert:0.1,noisy:0.3,random:0.6", "--noise", "1.0", "--episodes", "200"], "pendulum"),
    "maze2d-umaze-stitch": (["pointmaze-umaze", "--recipe", "stitch", "--episodes", "3000", "--noise", "0.1"], "maze2d-umaze"),
    "hopper-medium": (SHARED / "hopper-medium-v5.hdf5", "Hopper-v5"),
    # made by genpolicy's own SAC agents with the D4RL recipes (README "Agents make datasets")
    "hopper-sac-medium-replay": (REPO / "runs/agents/data/hopper-sac-medium-replay", "Hopper-v5"),
    "halfcheetah-sac-medium-replay": (REPO / "runs/agents/data/halfcheetah-sac-medium-replay", "HalfCheetah-v5"),
}

# algorithm -> (registered name, config values, updates on the built-in sets, on hopper)
ALGOS: dict[str, tuple[str, dict, int, int]] = {
    "bc": ("bc", {"policy.hidden_dims": [256, 256]}, 5_000, 10_000),
    "td3bc": ("td3bc", {}, 10_000, 20_000),
    "iql": ("iql", {}, 10_000, 20_000),
    # 4 proposal actions per kind instead of 10: CQL's penalty triples the critic's batch per
    # kind, the one cost that makes it ~20x slower per update than IQL on a CPU.
    "cql": ("cql", {"num_samples": 4}, 4_000, 6_000),
    "diffusion-ql": ("diffusion-ql", {"num_candidates": 10}, 4_000, 6_000),
    # Faster target critics (Polyak 0.05 instead of 0.005) for short budgets: value
    # propagation through a slow target takes ~1/tau updates per backup, 40k updates to
    # converge on hopper at 0.005 (README).
    "iql-tau0.05": ("iql", {"tau": 0.05}, 10_000, 20_000),
    "cql-tau0.05": ("cql", {"num_samples": 4, "tau": 0.05}, 4_000, 6_000),
    "cql-tau0.05-8k": ("cql", {"num_samples": 4, "tau": 0.05}, 8_000, 12_000),
}


def dataset_path(name: str, out: Path) -> Path:
    source, _ = DATASETS[name]
    if isinstance(source, Path):
        return source
    path = out / "data" / name
    if not path.exists():
        subprocess.run([sys.executable, "-m", "genpolicy.cli", "collect", *source, "--out", str(path)], check=True)
    return path


def run_one(dataset_name: str, algo_name: str, seed: int, out: Path, eval_episodes: int, evals: int) -> dict:
    from genpolicy.datasets import load_dataset
    from genpolicy.evaluation import evaluate
    from genpolicy.training import train

    run_dir = out / dataset_name / algo_name / f"seed{seed}"
    result_file = run_dir / "result.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    data = load_dataset(dataset_path(dataset_name, out))
    env = DATASETS[dataset_name][1]
    data.metadata.setdefault("env_id", env)
    name, values, steps_small, steps_hopper = ALGOS[algo_name]
    locomotion = DATASETS[dataset_name][1] in ("Hopper-v5", "HalfCheetah-v5")
    steps = steps_hopper if locomotion else steps_small
    chunk = 50
    per_epoch = max(chunk, steps // evals // chunk * chunk)
    start = time.perf_counter()
    run = train(name, data=data, out=run_dir, overrides={
        **values, "steps": steps, "seed": seed, "updates_per_step": chunk, "updates_per_epoch": per_epoch,
        "log_every": per_epoch}, eval_episodes=eval_episodes, eval_every=1, eval_env=env, progress_bar=False,
        device_preset=False, verbose=False)
    seconds = time.perf_counter() - start
    final = evaluate(run.policy, env, episodes=2 * eval_episodes, seed=20_000)
    history = [(h["updates"], h.get("eval/normalized_score")) for h in run.eval_history]
    result = {
        "dataset": dataset_name, "algo": algo_name, "seed": seed, "steps": steps, "train_seconds": seconds,
        "last": final.normalized_score, "best": max(s for _, s in history if s is not None),
        "success": final.success_rate, "history": history,
    }
    result_file.write_text(json.dumps(result, indent=2))
    return result


def summarize(out: Path) -> str:
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*/*/seed*/result.json"))]
    lines = ["| dataset | algorithm | updates | seeds | last | best | train s |", "|---|---|---|---|---|---|---|"]
    for dataset in DATASETS:
        for algo in ALGOS:
            rows = [r for r in results if r["dataset"] == dataset and r["algo"] == algo]
            if not rows:
                continue
            last = np.array([r["last"] for r in rows])
            best = np.array([r["best"] for r in rows])
            seconds = np.mean([r["train_seconds"] for r in rows])
            lines.append(f"| {dataset} | {algo} | {rows[0]['steps']} | {len(rows)} | {last.mean():.1f} ± {last.std():.1f} | "
                         f"{best.mean():.1f} ± {best.std():.1f} | {seconds:.0f} |")
    plot_curves(results, out / "curves.png")
    return "\n".join(lines)


def plot_curves(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = [d for d in DATASETS if any(r["dataset"] == d for r in results)]
    if not datasets:
        return
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for algo in ALGOS:
            rows = [r for r in results if r["dataset"] == dataset and r["algo"] == algo]
            if not rows:
                continue
            length = min(len(r["history"]) for r in rows)
            updates = [rows[0]["history"][i][0] for i in range(length)]
            scores = np.array([[r["history"][i][1] for i in range(length)] for r in rows], dtype=float)
            mean, std = scores.mean(0), scores.std(0)
            ax.plot(updates, mean, label=algo)
            ax.fill_between(updates, mean - std, mean + std, alpha=0.2)
        ax.set_title(dataset)
        ax.set_xlabel("updates")
        ax.set_ylabel("normalized score")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/offline_rl")
    parser.add_argument("--datasets", nargs="*", default=["pendulum-mix", "maze2d-umaze-stitch", "hopper-medium"],
                        choices=list(DATASETS), help="the *-sac-* sets need the agents' datasets (README)")
    parser.add_argument("--algos", nargs="*", default=list(ALGOS), choices=list(ALGOS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--evals", type=int, default=5, help="periodic evaluations per run")
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    from genpolicy.trainers.runner import limit_threads

    limit_threads()
    out = Path(args.out)
    if not args.summary_only:
        for seed in args.seeds:
            for dataset in args.datasets:
                for algo in args.algos:
                    r = run_one(dataset, algo, seed, out, args.eval_episodes, args.evals)
                    print(f"{dataset} {algo} seed {seed}: last {r['last']:.1f} best {r['best']:.1f} "
                          f"({r['train_seconds']:.0f} s)", flush=True)
    table = summarize(out)
    (out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
