"""DAgger vs BC: return against the number of expert labels (a Ross-style curve), 3 seeds.

Both learners get the same expert (the built-in task's noise-free scripted expert), the same
policy network (BC, MSE head, ``--hidden`` wide) and, at each label count, the same number of
gradient updates; only *which states* carry the labels differs:

* ``dagger`` (`genpolicy.trainers.dagger`): rounds of ``--round-steps`` env steps (one episode by
  default); round 0 is the expert's own rollout (beta = 1), later rounds the learner's (the
  default exponential schedule with beta = 0), every visited state labelled by the expert;
  ``--updates-per-round`` updates on the aggregate after each round, evaluated after each round
  (``--eval-episodes`` episodes, the evaluation seeds of `EvalCallback`), so one run gives the
  whole curve;
* ``bc``: BC on the first ``labels`` transitions of the expert's own rollouts (whole episodes, the
  last one cut short), ``updates_per_round x rounds`` updates, evaluated on
  the same episodes. Seed ``s`` takes the expert episodes ``16 s, 16 s + 1, ...`` (its own data).

``--task lane`` is `genpolicy.tasks.lane`, a toy built so that BC's errors compound (its
expert's states never leave the lane's centre line); the others are built-in tasks. Both
through `genpolicy.train`. Writes ``OUT/<task>/<method>/seedN/result.json`` (resumable),
``OUT/<task>/table.md`` and the figure ``--figure``.

    .venv/bin/python benchmarks/dagger_study.py --task pendulum --labels 200 400 800 1600 3200 \
        --seeds 0 1 2 --out runs/dagger_study --figure docs/dagger_pendulum.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def settings(args: argparse.Namespace, seed: int) -> dict:
    return {"seed": seed, "policy.hidden_dims": [args.hidden, args.hidden], "batch_size": args.batch_size,
            "optim.lr": args.lr, "log_every": 1000}


def run_dagger(args: argparse.Namespace, seed: int, out: Path) -> dict:
    import genpolicy

    rounds = max(args.labels) // args.round_steps
    start = time.perf_counter()
    run = genpolicy.train("dagger", env=args.env, out=out, eval_episodes=args.eval_episodes, eval_every=1,
                          verbose=False, progress_bar=False, restart=True,
                          overrides={**settings(args, seed), "expert": args.expert, "rounds": rounds,
                                     "round_env_steps": args.round_steps, "updates_per_round": args.updates_per_round,
                                     "beta_schedule": args.beta_schedule, "beta": args.beta})
    curve = [{"labels": (i + 1) * args.round_steps, "return": h["eval/return"],
              "success": h.get("eval/success_rate")} for i, h in enumerate(run.eval_history)]
    return {"method": "dagger", "seed": seed, "curve": curve, "seconds": time.perf_counter() - start}


def first_labels(expert, first_episode: int, labels: int):
    """The first ``labels`` expert transitions from episode ``first_episode`` on (the last
    episode cut short, as a truncation): exactly as many labels as DAgger had."""
    from genpolicy.datasets.episodes import FIELDS, OfflineDataset

    bounds = expert.episode_bounds().tolist()[first_episode:]
    rows = torch.cat([torch.arange(start, stop) for start, stop in bounds])[:labels]
    if len(rows) < labels:
        raise ValueError(f"the expert data has too few transitions after episode {first_episode} for {labels} labels")
    picked = {name: getattr(expert, name)[rows].clone() for name in FIELDS}
    picked["truncations"][-1] = not bool(picked["terminations"][-1])
    return OfflineDataset(**picked, metadata=dict(expert.metadata))


def run_bc(args: argparse.Namespace, seed: int, expert, out: Path) -> dict:
    import genpolicy

    curve, seconds = [], 0.0
    for labels in args.labels:
        data = first_labels(expert, 16 * seed, labels)
        start = time.perf_counter()
        run = genpolicy.train("bc", data=data, out=out / f"labels{labels}", steps=args.updates_per_round * labels // args.round_steps,
                              eval_episodes=0, verbose=False, progress_bar=False, restart=True,
                              overrides=settings(args, seed), device_preset=False)
        result = run.evaluate(episodes=args.eval_episodes, seed=10_000)  # EvalCallback's evaluation seed
        seconds += time.perf_counter() - start
        curve.append({"labels": len(data), "return": float(result.mean_return),
                      "success": getattr(result, "success_rate", None)})
    return {"method": "bc", "seed": seed, "curve": curve, "seconds": seconds}


class Lane:
    """`genpolicy.tasks.lane` in the shape of a `Task` for this script (scores, horizon)."""

    name, max_episode_steps, has_success = "lane", 60, False
    ref_max_score = 0.0  # the expert never leaves y = 0
    ref_min_score = -54.0  # measured in main() (uniform random actions, 100 episodes)

    def normalized_score(self, value):
        return 100.0 * (value - self.ref_min_score) / (self.ref_max_score - self.ref_min_score)


def random_return(env_id: str, episodes: int = 100) -> float:
    import gymnasium as gym

    env = gym.make(env_id)
    env.action_space.seed(0)
    total = 0.0
    for episode in range(episodes):
        env.reset(seed=episode)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += reward
            done = terminated or truncated
    return total / episodes


def summarize(results: list[dict], labels: list[int], task) -> tuple[dict, str]:
    """Mean ± std of the return (and normalized score) per method and label count."""
    table: dict[str, dict[int, list[float]]] = {}
    for r in results:
        for point in r["curve"]:
            table.setdefault(r["method"], {}).setdefault(int(point["labels"]), []).append(point["return"])
    lines = [f"| labels | {' | '.join(f'{m} return (normalized)' for m in sorted(table))} |",
             "|---|" + "---|" * len(table)]
    for n in labels:
        cells = []
        for method in sorted(table):
            values = np.array(table[method].get(n, []))
            digits = 2 if task.has_success else 1  # success rates: two decimals
            cells.append(f"{values.mean():.{digits}f} ± {values.std():.{digits}f} ({task.normalized_score(values.mean()):.0f})"
                         if len(values) else "—")
        lines.append(f"| {n} | {' | '.join(cells)} |")
    return table, "\n".join(lines) + "\n"


def plot(table: dict, task, path: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for method, color in (("dagger", "tab:blue"), ("bc", "tab:orange")):
        points = sorted(table.get(method, {}).items())
        if not points:
            continue
        x = np.array([n for n, _ in points])
        scores = [task.normalized_score(np.array(v)) for _, v in points]
        mean, std = np.array([s.mean() for s in scores]), np.array([s.std() for s in scores])
        ax.plot(x, mean, "o-" if method == "bc" else ".-", color=color, label=method.upper() if method == "bc" else "DAgger")
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2)
    ax.axhline(100, color="0.5", ls="--", lw=1, label="expert")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("expert labels")
    ax.set_ylabel("normalized return")
    ax.set_title(f"{args.task}: DAgger vs BC ({len(args.seeds)} seeds, mean ± std)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="pendulum")
    parser.add_argument("--labels", type=int, nargs="+", default=[200, 400, 800, 1600, 3200])
    parser.add_argument("--round-steps", type=int, default=None, help="labels per DAgger round (default: one episode)")
    parser.add_argument("--updates-per-round", type=int, default=300)
    parser.add_argument("--beta-schedule", default="exponential")
    parser.add_argument("--beta", type=float, default=0.0)
    parser.add_argument("--bc-episodes", type=int, default=48, help="expert episodes collected per seed for BC")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["dagger", "bc"], choices=["dagger", "bc"])
    parser.add_argument("--out", default="runs/dagger_study")
    parser.add_argument("--figure", default=None)
    args = parser.parse_args()

    from genpolicy.datasets.resolve import resolve_data
    from genpolicy.tasks import get_task

    if args.task == "lane":  # the toy where BC's errors compound (not a built-in task)
        from genpolicy.tasks import lane

        task = Lane()
        task.ref_min_score = random_return(lane.ENV_ID)
        args.env, args.expert = lane.ENV_ID, "genpolicy.tasks.lane:expert"
    else:
        task = get_task(args.task)
        args.env, args.expert = args.task, "task"
    args.round_steps = args.round_steps or task.max_episode_steps
    if any(n % args.round_steps for n in args.labels):
        parser.error(f"--labels must be multiples of --round-steps ({args.round_steps})")
    expert = None
    results = []
    for method in args.methods:
        for seed in args.seeds:
            where = Path(args.out) / args.task / method / f"seed{seed}"
            file = where / "result.json"
            if not file.exists():
                if method == "bc" and expert is None and args.task == "lane":
                    from genpolicy.tasks import lane

                    expert = lane.expert_dataset(16 * max(args.seeds) + args.bc_episodes)
                elif method == "bc" and expert is None:
                    expert = resolve_data(args.task, episodes=16 * max(args.seeds) + args.bc_episodes,
                                          seed=0)
                result = run_dagger(args, seed, where / "run") if method == "dagger" else run_bc(args, seed, expert, where / "run")
                where.mkdir(parents=True, exist_ok=True)
                file.write_text(json.dumps(result, indent=2))
                print(f"{args.task} {method} seed {seed}: " + ", ".join(f"{p['labels']}: {p['return']:.1f}" for p in result["curve"])
                      + f" ({result['seconds']:.0f} s)", flush=True)
            results.append(json.loads(file.read_text()))
    table, text = summarize(results, sorted({p["labels"] for r in results for p in r["curve"]} if "dagger" in args.methods
                                            else args.labels), task)
    header = (f"Task `{args.task}` (expert {task.ref_max_score:.1f}, random {task.ref_min_score:.1f}); "
              f"{args.round_steps} labels per DAgger round, {args.updates_per_round} updates per round "
              f"(BC: the same updates per {args.round_steps} labels), MLP {args.hidden}x{args.hidden}, lr {args.lr:g}, "
              f"{len(args.seeds)} seeds, {args.eval_episodes} evaluation episodes.\n\n")
    (Path(args.out) / args.task).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / args.task / "table.md").write_text(header + text)
    print(header + text)
    if args.figure:
        plot(table, task, Path(args.figure), args)


if __name__ == "__main__":
    main()
