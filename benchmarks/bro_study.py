"""BRO vs BRO-fast vs SAC online, the same env-step budget, and BRO with its resets off.

Variants (genpolicy's registered configurations, scaled by the flags below so that the whole
study fits a 2-core CPU; the scaling is recorded in every result):

* ``sac``          SAC: MLP 256x256 twin critics, clipped double Q, replay ratio 1;
* ``bro``          BRO: BroNet quantile critics, AdamW, optimistic exploration actor, replay
                   ratio ``--bro-replay-ratio`` (BRO's 10), full resets at ``--resets`` env steps;
* ``bro-fast``     the same with replay ratio 2;
* ``bro-noreset``  ``bro`` without resets (the ablation).

Every run is evaluated every ``--eval-every`` env steps (same points for every variant) and logs
the critic's tau-dormant fraction at the same points; the result keeps both, and the returns
and dormant fractions just before and after each reset. Writes
``OUT/<env>/<variant>/seedN/result.json`` (resumable), ``table.md`` and ``curves.png``.

    .venv/bin/python benchmarks/bro_study.py --envs InvertedPendulum-v5 InvertedDoublePendulum-v5 \
        --env-steps 6000 --seeds 0 1 2 --out runs/bro_study
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

VARIANTS = ("sac", "bro", "bro-fast", "bro-noreset")


def variant_values(variant: str, args: argparse.Namespace) -> tuple[str, dict]:
    """Registered algorithm name and the CPU scaling of its settings."""
    if variant == "sac":
        return "sac", {}
    name = "bro-fast" if variant == "bro-fast" else "bro"
    values = {"critic.width": args.width, "critic.blocks": args.blocks, "critic.num_quantiles": args.quantiles,
              "resets_at": [] if variant == "bro-noreset" else list(args.resets)}
    if name == "bro":
        values["replay_ratio"] = args.bro_replay_ratio
    return name, values


def run_one(env: str, variant: str, seed: int, args: argparse.Namespace) -> dict:
    from genpolicy.trainers import ALGORITHMS
    from genpolicy.training import train

    run_dir = Path(args.out) / env / variant / f"seed{seed}"
    result_file = run_dir / "result.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    name, values = variant_values(variant, args)
    overrides = ALGORITHMS[name][2]
    ratio = float(values.get("replay_ratio", overrides.get("replay_ratio", 1.0)))
    per_epoch = max(1, round(args.eval_every * ratio))
    updates = round((args.env_steps - args.warmup) * ratio)
    values = {**values, "steps": updates, "seed": seed, "warmup_steps": args.warmup,
              "updates_per_step": max(1, min(10, per_epoch)), "updates_per_epoch": per_epoch, "log_every": per_epoch,
              "dormant_every": per_epoch, "snapshot_every": 0}
    begin = time.perf_counter()
    run = train(name, env=env, out=run_dir, overrides=values, eval_episodes=args.eval_episodes, eval_every=1,
                progress_bar=False, verbose=False)
    seconds = time.perf_counter() - begin
    algo, config = run.algo, run.config
    history = [(h["env_steps"], h["eval/return"], h.get("eval/normalized_score")) for h in run.eval_history]
    dormant = read_dormant(run_dir, config)
    result = {"env": env, "variant": variant, "algo": name, "seed": seed, "env_steps": algo.env_steps,
              "updates": int(algo.num_updates), "replay_ratio": ratio, "train_seconds": seconds,
              "scaling": {k: values.get(k) for k in ("critic.width", "critic.blocks", "critic.num_quantiles", "resets_at")},
              "history": history, "dormant": dormant, "last": history[-1][1] if history else None,
              "resets": around_resets(history, dormant, config.resets_at)}
    result_file.write_text(json.dumps(result, indent=2))
    return result


def read_dormant(run_dir: Path, config) -> list[tuple[int, float]]:
    """(env steps, critic dormant fraction) from the run's CSV log."""
    rows = []
    for path in sorted(run_dir.glob("logs/version_*/metrics.csv")):
        for row in csv.DictReader(path.open()):
            if row.get("dormant/critic"):
                updates = int(float(row["step"]))
                rows.append((config.env_steps_for(updates), float(row["dormant/critic"])))
    return rows


RECOVERY_STEPS = 1_000  # env steps after a reset at which "recovered" is read


def around_resets(history: list, dormant: list, resets: list[int]) -> list[dict]:
    """Return and dormant fraction at the last measurement before each reset, the first at or
    after it, and the return ``RECOVERY_STEPS`` env steps later. A reset fires at the end of the
    update that reaches its env step, before that step's evaluation and dormant measurement,
    so a measurement *at* the reset's env step already sees the fresh networks."""
    out = []
    for at in resets:
        before = [h for h in history if h[0] < at]
        after = [h for h in history if h[0] >= at]
        later = [h for h in history if h[0] >= at + RECOVERY_STEPS]
        d_before = [d for d in dormant if d[0] < at]
        d_after = [d for d in dormant if d[0] >= at]
        out.append({"reset_env_step": at,
                    "return_before": before[-1][1] if before else None, "return_after": after[0][1] if after else None,
                    "return_recovered": later[0][1] if later else None,
                    "dormant_before": d_before[-1][1] if d_before else None, "dormant_after": d_after[0][1] if d_after else None})
    return out


def summarize(out: Path, envs: list[str]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [json.loads(p.read_text()) for p in sorted(out.glob("*/*/seed*/result.json"))]
    lines = ["| env | variant | replay ratio | seeds | return at half budget | final return | train s |",
             "|---|---|---|---|---|---|---|"]
    fig, axes = plt.subplots(2, max(1, len(envs)), figsize=(5.5 * max(1, len(envs)), 7), squeeze=False)
    for column, env in enumerate(envs):
        for variant in VARIANTS:
            rows = [r for r in results if r["env"] == env and r["variant"] == variant]
            if not rows:
                continue
            length = min(len(r["history"]) for r in rows)
            steps = [rows[0]["history"][i][0] for i in range(length)]
            returns = np.array([[r["history"][i][1] for i in range(length)] for r in rows])
            half = returns[:, max(0, length // 2 - 1)]
            lines.append(f"| {env} | {variant} | {rows[0]['replay_ratio']:g} | {len(rows)} | {half.mean():.0f} ± {half.std():.0f} | "
                         f"{returns[:, -1].mean():.0f} ± {returns[:, -1].std():.0f} | {np.mean([r['train_seconds'] for r in rows]):.0f} |")
            axes[0][column].plot(steps, returns.mean(0), label=variant)
            axes[0][column].fill_between(steps, returns.mean(0) - returns.std(0), returns.mean(0) + returns.std(0), alpha=0.2)
            d_length = min(len(r["dormant"]) for r in rows)
            if d_length:
                d_steps = [rows[0]["dormant"][i][0] for i in range(d_length)]
                d_mean = np.mean([[r["dormant"][i][1] for i in range(d_length)] for r in rows], axis=0)
                axes[1][column].plot(d_steps, d_mean, label=variant)
            for reset in rows[0]["resets"]:
                for ax in axes[:, column]:
                    ax.axvline(reset["reset_env_step"], color="grey", lw=0.6, ls=":")
        axes[0][column].set_title(env)
        axes[0][column].set_ylabel("evaluation return")
        axes[1][column].set_ylabel("critic dormant fraction")
        axes[1][column].set_xlabel("env steps")
        for ax in axes[:, column]:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=120)
    plt.close(fig)
    return "\n".join(lines) + "\n\n" + reset_table(results, envs)


def reset_table(results: list[dict], envs: list[str]) -> str:
    """Return and critic dormant fraction at the last measurement before and the first after
    each reset point, mean ± std over seeds; variants without resets are read at the same env
    steps (what the reset changed against what the same run would have had)."""
    points = sorted({r["reset_env_step"] for row in results for r in row["resets"]})
    lines = [f"| env | variant | reset at | return before | return just after | return {RECOVERY_STEPS} steps after | "
             "dormant before | dormant just after |", "|---|---|---|---|---|---|---|---|"]

    def cell(values: list) -> str:
        values = [v for v in values if v is not None]
        if not values:
            return "-"
        digits = 3 if max(abs(v) for v in values) < 1 else 0  # fractions vs returns
        return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"

    for env in envs:
        for variant in VARIANTS:
            rows = [r for r in results if r["env"] == env and r["variant"] == variant]
            for at in points:
                around = [around_resets([tuple(h) for h in r["history"]], [tuple(d) for d in r["dormant"]], [at])[0] for r in rows]
                if not around:
                    continue
                lines.append(f"| {env} | {variant}{'' if rows[0]['resets'] else ' (no reset)'} | {at} | "
                             f"{cell([a['return_before'] for a in around])} | {cell([a['return_after'] for a in around])} | "
                             f"{cell([a['return_recovered'] for a in around])} | "
                             f"{cell([a['dormant_before'] for a in around])} | {cell([a['dormant_after'] for a in around])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="*", default=["InvertedPendulum-v5", "InvertedDoublePendulum-v5"])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--env-steps", type=int, default=6_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--eval-every", type=int, default=500, help="env steps")
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--width", type=int, default=128, help="BroNet width (BRO: 512)")
    parser.add_argument("--blocks", type=int, default=1, help="BroNet residual blocks (BRO: 2)")
    parser.add_argument("--quantiles", type=int, default=10, help="quantiles per critic (BRO: 100)")
    parser.add_argument("--bro-replay-ratio", type=float, default=10.0)
    parser.add_argument("--resets", nargs="*", type=int, default=[3_000], help="env steps (BRO: 15k, 50k, 250k, ...)")
    parser.add_argument("--out", default="runs/bro_study")
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    from genpolicy.trainers.runner import limit_threads

    limit_threads()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        for seed in args.seeds:
            for env in args.envs:
                for variant in args.variants:
                    r = run_one(env, variant, seed, args)
                    print(f"{env} {variant} seed {seed}: final return {r['last']:.1f} ({r['train_seconds']:.0f} s)", flush=True)
    table = summarize(out, args.envs)
    (out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
