"""AIRL's transfer check at CPU scale: learn a reward with the wall's gap on the right, move the
gap to the left, re-optimize the SAVED reward from scratch, and score it with the true reward.

World: `genpolicy.tasks.wall_point` (a point mass, reward -distance to the goal, a wall it must
get around). Per seed, each step through `genpolicy.train`:

1. expert data: ``--demos`` episodes of the scripted gap expert in ``genpolicy/WallPoint-v0``;
2. ``airl`` and ``gail`` learn from them in WallPoint-v0 (``--env-steps``; same SAC learner,
   ``--hidden`` wide; AIRL with the gradient penalty ``--airl-gp`` on ``f``, GAIL with its
   default 10); AIRL writes its state-only ``g`` to ``RUN/reward``;
3. in ``genpolicy/WallPointShifted-v0`` (gap on the left), from scratch, ``--transfer-steps``:
   ``sac`` on the true reward, and ``sac`` with ``reward.name=saved reward.path=AIRL_RUN`` (the
   kept ``g``, loaded by `load_reward`; no AIRL code, no demonstrations);
4. the true return (``--final-episodes`` episodes, evaluation seeds 1000+) of those two SAC
   policies in the shifted world, and of AIRL's and GAIL's own policies moved there as they are.

Writes ``OUT/seedN/<arm>/result.json`` (resumable per arm), ``OUT/table.md`` and, with
``--figure``, a picture of seed 0's learned ``g`` over the plane with both walls.

    .venv/bin/python benchmarks/airl_transfer.py --seeds 0 1 2 --out runs/airl_transfer \\
        --figure docs/airl_transfer.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ARMS = ("airl", "gail", "sac-true", "sac-airl-reward")


def expert_dataset(episodes: int, seed: int):
    """The gap expert's rollouts in the training world (gap on the right)."""
    import gymnasium as gym

    import genpolicy.tasks  # noqa: F401 - registers the env ids
    from genpolicy.datasets.episodes import OfflineDataset
    from genpolicy.tasks.wall_point import ENV_ID, GapExpert

    env, expert, rows = gym.make(ENV_ID), GapExpert("right", seed), []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed * 1000 + episode)
        done = False
        while not done:
            action = expert.act(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            rows.append((obs, action, reward, next_obs, terminated, truncated))
            obs, done = next_obs, terminated or truncated
    col = lambda i, dtype=np.float32: np.array([r[i] for r in rows], dtype)  # noqa: E731
    return OfflineDataset(col(0), col(1), col(2), col(4, bool), col(5, bool), col(3),
                          metadata={"env_id": ENV_ID, "source": "wallpoint-gap expert"})


def common(args: argparse.Namespace, seed: int) -> dict:
    hidden = [args.hidden, args.hidden]
    return {"seed": seed, "warmup_steps": args.warmup, "actor.hidden_dims": hidden, "critic.hidden_dims": hidden,
            "updates_per_epoch": args.eval_every, "snapshot_every": 0, "log_every": 1000}


def run_arm(arm: str, args: argparse.Namespace, seed: int, out: Path) -> dict:
    import genpolicy
    from genpolicy.evaluation import evaluate
    from genpolicy.tasks.wall_point import ENV_ID, SHIFTED_ENV_ID

    values = common(args, seed)
    start = time.perf_counter()
    if arm in ("airl", "gail"):
        values["expert_episodes"] = args.demos
        values["reward_hidden_dims" if arm == "airl" else "discriminator.hidden_dims"] = [args.hidden, args.hidden]
        if arm == "airl":
            values["gradient_penalty"] = args.airl_gp
        run = genpolicy.train(arm, data=expert_dataset(args.demos, seed), env=ENV_ID, out=out / arm / "run",
                              steps=args.env_steps - args.warmup, overrides=values, eval_episodes=args.eval_episodes,
                              eval_every=1, verbose=False, progress_bar=False)
        trained_in = run.evaluate(episodes=args.final_episodes, seed=1000 + seed)
    else:
        if arm == "sac-airl-reward":
            values.update({"reward.name": "saved", "reward.path": str(out / "airl" / "run"), "reward.normalize": "none"})
        run = genpolicy.train("sac", env=SHIFTED_ENV_ID, out=out / arm / "run", steps=args.transfer_steps - args.warmup,
                              overrides=values, eval_episodes=args.eval_episodes, eval_every=1, verbose=False,
                              progress_bar=False)
        trained_in = None
    shifted = evaluate(run.policy, SHIFTED_ENV_ID, episodes=args.final_episodes, seed=1000 + seed)
    return {"arm": arm, "seed": seed, "seconds": time.perf_counter() - start,
            "return_trained_env": None if trained_in is None else float(trained_in.mean_return),
            "return_shifted": float(shifted.mean_return),
            "curve": [{"env_steps": h.get("env_steps"), "return": h["eval/return"]} for h in run.eval_history]}


def write_table(results: dict[int, dict[str, dict]], args: argparse.Namespace, path: Path) -> str:
    from genpolicy.tasks.wall_point import WALLPOINT_SHIFTED

    seeds = sorted(results)
    shifted = {arm: np.array([results[s][arm]["return_shifted"] for s in seeds]) for arm in ARMS}
    true = shifted["sac-true"]
    rows = [("SAC on the true reward, trained in the shifted world", "sac-true"),
             ("SAC on AIRL's saved g(s), trained in the shifted world", "sac-airl-reward"),
             ("AIRL's own policy, moved as is", "airl"),
             ("GAIL's policy, moved as is", "gail")]
    lo, hi = WALLPOINT_SHIFTED.ref_min_score, WALLPOINT_SHIFTED.ref_max_score
    lines = [f"True return in `genpolicy/WallPointShifted-v0` (gap moved to the left), {len(seeds)} seeds "
             f"({', '.join(map(str, seeds))}), {args.final_episodes} episodes each; uniform random {lo}, the "
             f"shifted world's scripted expert {hi}. Learning in the original world: {args.demos} expert "
             f"episodes, {args.env_steps} env steps; re-optimization: {args.transfer_steps} env steps; "
             f"networks {args.hidden}x{args.hidden}.", "",
             "| policy | return (mean ± std over seeds) | per seed | / SAC-true (ratio of means) | "
             "(R − R_random) / (R_SAC-true − R_random) |", "|---|---|---|---|---|"]
    for label, arm in rows:
        r = shifted[arm]
        lines.append(f"| {label} | {r.mean():.1f} ± {r.std():.1f} | {', '.join(f'{x:.1f}' for x in r)} | "
                     f"{true.mean() / r.mean():.2f} | {(r.mean() - lo) / (true.mean() - lo):.2f} |")
    trained = {arm: [results[s][arm]["return_trained_env"] for s in seeds] for arm in ("airl", "gail")}
    lines += ["", "In the original world (gap on the right; expert -11.9, random -61.8): "
              + "; ".join(f"{arm} {np.mean(v):.1f} ± {np.std(v):.1f}" for arm, v in trained.items()) + "."]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def figure(run_dir: Path, path: Path) -> None:
    """Seed 0's saved ``g`` over the plane, both walls drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from genpolicy.models.saved_rewards import load_reward
    from genpolicy.tasks.wall_point import WALL_HALF_THICKNESS, wall_span

    reward = load_reward(run_dir)
    grid = np.linspace(-1, 1, 81)
    x, y = np.meshgrid(grid, grid)
    obs = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], -1)[:, : reward.config.obs_dim]
    with torch.no_grad():
        g = reward(torch.tensor(obs, dtype=torch.float32)).numpy().reshape(x.shape)
    true = -np.hypot(x, y - 0.6)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    for ax, values, title in ((axes[0], g, "AIRL's saved g(s)"), (axes[1], true, "true reward -||s - goal||")):
        image = ax.imshow(values, origin="lower", extent=(-1, 1, -1, 1), cmap="viridis")
        for gap, style in (("right", "w-"), ("left", "r--")):
            low, high = wall_span(gap)
            ax.plot([low, high], [0, 0], style, lw=2, label=f"wall, gap {gap}")
        ax.plot(0, 0.6, "r*", ms=10)
        ax.set_title(title)
        fig.colorbar(image, ax=ax, shrink=0.8)
    axes[0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    del WALL_HALF_THICKNESS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demos", type=int, default=10)
    parser.add_argument("--env-steps", type=int, default=8_000)
    parser.add_argument("--transfer-steps", type=int, default=8_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--eval-every", type=int, default=1_000)
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--final-episodes", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--airl-gp", type=float, default=10.0, help="AIRL's gradient penalty on f (0: the paper's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--figure", default=None)
    parser.add_argument("--out", default="runs/airl_transfer")
    args = parser.parse_args()

    out = Path(args.out)
    results: dict[int, dict[str, dict]] = {}
    for seed in args.seeds:
        for arm in args.arms:
            file = out / f"seed{seed}" / arm / "result.json"
            if not file.exists():
                result = run_arm(arm, args, seed, out / f"seed{seed}")
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(json.dumps(result, indent=2))
                print(f"seed {seed} {arm}: shifted {result['return_shifted']:.1f}, trained env "
                      f"{result['return_trained_env']}, {result['seconds']:.0f} s", flush=True)
            results.setdefault(seed, {})[arm] = json.loads(file.read_text())
    if all(set(ARMS) <= set(r) for r in results.values()):
        print(write_table(results, args, out / "table.md"))
    if args.figure:
        figure(out / f"seed{args.seeds[0]}" / "airl" / "run", Path(args.figure))


if __name__ == "__main__":
    main()
