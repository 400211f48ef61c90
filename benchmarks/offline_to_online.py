"""Offline-to-online: online SAC started from an offline run vs SAC from scratch, same env steps.

Variants (each one run per seed, evaluated every ``--eval-every`` env steps on ``--eval-episodes``
episodes with the exported actor):

* ``scratch``: `genpolicy fit sac --env ENV` (uniform random warm-up, fresh networks);
* ``init``: `genpolicy fit sac --env ENV --init RUN` (actor, critics, reward scale of the
  offline run; warm-up acts with that actor);
* ``init+data``: the same with the offline data mixed into every batch half and half (RLPD's
  symmetric sampling; ``--data``);
* ``init+critic-warmup``: ``init`` whose first ``--critic-warmup`` updates train only the
  critics (``--set critic_warmup_updates=N``), against the dip when the actor climbs an
  offline critic at once.

    .venv/bin/python benchmarks/offline_to_online.py --env Hopper-v5 --init runs/iql-hopper \
        --data ../shared/data/hopper-medium-v5.hdf5 --env-steps 25000 --out runs/offline_to_online

Writes ``RUN/<variant>/seedN/result.json`` (resumable: finished runs are skipped),
``curves.png`` (normalized score against env steps) and ``table.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import lightning as L


class StartScore(L.Callback):
    """The normalized score of the policy a run starts from (before its first update)."""

    def __init__(self, env: str, episodes: int) -> None:
        self.env, self.episodes, self.score = env, episodes, None

    def on_train_start(self, trainer: L.Trainer, algo: L.LightningModule) -> None:
        if self.score is None and int(algo.num_updates) == 0:
            from genpolicy.evaluation import evaluate

            self.score = evaluate(algo.export_policy(), self.env, episodes=self.episodes, seed=10_000).normalized_score


def run_one(variant: str, args: argparse.Namespace, seed: int) -> dict:
    from genpolicy.training import train

    run_dir = Path(args.out) / variant / f"seed{seed}"
    result_file = run_dir / "result.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    updates = args.env_steps - args.warmup
    values = {"steps": updates, "seed": seed, "warmup_steps": args.warmup, "updates_per_step": 10,
              "updates_per_epoch": args.eval_every, "log_every": args.eval_every}
    if variant != "scratch":
        values["init"] = args.init
    if variant == "init+critic-warmup":
        values["critic_warmup_updates"] = args.critic_warmup
    start = StartScore(args.env, args.eval_episodes)
    begin = time.perf_counter()
    run = train(args.algo, env=args.env, data=args.data if variant == "init+data" else None, out=run_dir,
                overrides=values, eval_episodes=args.eval_episodes, eval_every=1, callbacks=[start],
                progress_bar=False, verbose=False)
    seconds = time.perf_counter() - begin
    algo, config, start_score = run.algo, run.config, start.score
    history = [(0, start_score)] + [(config.env_steps_for(h["updates"]), h.get("eval/normalized_score")) for h in run.eval_history]
    result = {"variant": variant, "seed": seed, "env": args.env, "env_steps": algo.env_steps, "train_seconds": seconds,
              "start": start_score, "last": history[-1][1], "best": max(s for _, s in history), "history": history}
    result_file.write_text(json.dumps(result, indent=2))
    return result


def summarize(out: Path, variants: list[str]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [json.loads(p.read_text()) for p in sorted(out.glob("*/seed*/result.json"))]
    lines = ["| variant | seeds | env steps | at start | last | best | train s |", "|---|---|---|---|---|---|---|"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for variant in variants:
        rows = [r for r in results if r["variant"] == variant]
        if not rows:
            continue
        stat = {k: np.array([r[k] for r in rows]) for k in ("start", "last", "best", "train_seconds")}
        lines.append(f"| {variant} | {len(rows)} | {rows[0]['env_steps']} | {stat['start'].mean():.1f} | "
                     f"{stat['last'].mean():.1f} ± {stat['last'].std():.1f} | {stat['best'].mean():.1f} ± {stat['best'].std():.1f} | "
                     f"{stat['train_seconds'].mean():.0f} |")
        length = min(len(r["history"]) for r in rows)
        steps = [rows[0]["history"][i][0] for i in range(length)]
        scores = np.array([[r["history"][i][1] for i in range(length)] for r in rows], dtype=float)
        ax.plot(steps, scores.mean(0), marker="o", ms=3, label=variant)
        ax.fill_between(steps, scores.mean(0) - scores.std(0), scores.mean(0) + scores.std(0), alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("normalized score")
    ax.set_title(f"offline-to-online, {results[0]['env'] if results else ''}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=120)
    plt.close(fig)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--algo", default="sac")
    parser.add_argument("--init", required=True, help="finished offline run directory (iql/cql)")
    parser.add_argument("--data", help="the offline data, for the init+data variant")
    parser.add_argument("--env-steps", type=int, default=25_000)
    parser.add_argument("--warmup", type=int, default=5_000)
    parser.add_argument("--eval-every", type=int, default=2_500, help="updates (= env steps at replay ratio 1)")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--variants", nargs="*", default=["scratch", "init", "init+data", "init+critic-warmup"])
    parser.add_argument("--critic-warmup", type=int, default=2_500, help="critic-only updates (init+critic-warmup)")
    parser.add_argument("--out", default="runs/offline_to_online")
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    from genpolicy.trainers.runner import limit_threads

    limit_threads()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    variants = [v for v in args.variants if v != "init+data" or args.data]
    if not args.summary_only:
        for seed in args.seeds:
            for variant in variants:
                result = run_one(variant, args, seed)
                print(f"{variant} seed {seed}: start {result['start']:.1f} last {result['last']:.1f} "
                      f"best {result['best']:.1f} ({result['train_seconds']:.0f} s)", flush=True)
    table = summarize(out, variants)
    (out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
