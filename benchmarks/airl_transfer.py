"""AIRL's transfer check at CPU scale: learn a reward with the wall's gap on the right, move the
gap to the left, re-optimize the SAVED reward from scratch, and score it with the true reward.

World: `genpolicy.tasks.wall_point` (a point mass, reward -distance to the goal, a wall it must
get around). Per seed, each step through `genpolicy.train`:

1. expert data: ``--demos`` episodes of the scripted gap expert in ``genpolicy/WallPoint-v0``,
   from the env's own start or, ``--expert-starts lower|box``, from starts spread over the lower
   half or the whole box (``--expert-noise``: Gaussian noise on its actions);
2. ``airl`` and ``gail`` learn from them in WallPoint-v0 (``--env-steps``; same SAC learner,
   ``--hidden`` wide; AIRL with the gradient penalty ``--airl-gp`` on ``f`` and any ``--airl-set
   KEY=VALUE``, GAIL with its default 10; their own episodes start at the env's start unless
   ``--learner-starts``); AIRL writes its state-only ``g`` to ``RUN/reward``;
3. in ``genpolicy/WallPointShifted-v0`` (gap on the left, the env's own start), from scratch,
   ``--transfer-steps``: ``sac`` on the true reward, and ``sac`` with ``reward.name=saved
   reward.path=AIRL_RUN`` (the kept ``g``, loaded by `load_reward`; no AIRL code, no
   demonstrations);
4. the true return (``--final-episodes`` episodes, evaluation seeds 1000+) of those two SAC
   policies in the shifted world, and of AIRL's and GAIL's own policies moved there as they are.

Writes ``OUT/seedN/<arm>/result.json`` (resumable per arm; AIRL's also holds `g_agreement`, how
its ``g`` matches the true reward over the plane), ``OUT/table.md``, ``OUT/results.json`` and,
with ``--figure``, a picture of the first seed's learned ``g`` over the plane with both walls
(``--figure-with TITLE=OUT``: another output's ``g`` beside it).

    .venv/bin/python benchmarks/airl_transfer.py --seeds 0 1 2 --env-steps 6000 --transfer-steps 12000 \\
        --expert-starts box --out runs/airl_transfer_box --figure docs/airl_transfer.png \\
        --figure-with "AIRL's saved g(s), demos from the fixed start=runs/airl_transfer"
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ARMS = ("airl", "gail", "sac-true", "sac-airl-reward")


def expert_dataset(episodes: int, seed: int, starts: str = "fixed", noise: float = 0.0):
    """The gap expert's rollouts in the training world (gap on the right), from ``starts``
    (`genpolicy.tasks.wall_point`: "fixed" is the env's own start, "lower" / "box" spread), with
    ``noise`` (the scripted expert's Gaussian action noise)."""
    import gymnasium as gym

    import genpolicy.tasks  # noqa: F401 - registers the env ids
    from genpolicy.datasets.episodes import OfflineDataset
    from genpolicy.tasks.wall_point import ENV_ID, GapExpert

    env, expert, rows = gym.make(ENV_ID), GapExpert("right", seed, noise), []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed * 1000 + episode, options={"start": starts})
        done = False
        while not done:
            action = expert.act(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            rows.append((obs, action, reward, next_obs, terminated, truncated))
            obs, done = next_obs, terminated or truncated
    col = lambda i, dtype=np.float32: np.array([r[i] for r in rows], dtype)  # noqa: E731
    return OfflineDataset(col(0), col(1), col(2), col(4, bool), col(5, bool), col(3),
                          metadata={"env_id": ENV_ID, "source": f"wallpoint-gap expert, starts {starts}"})


def common(args: argparse.Namespace, seed: int) -> dict:
    hidden = [args.hidden, args.hidden]
    return {"seed": seed, "warmup_steps": args.warmup, "actor.hidden_dims": hidden, "critic.hidden_dims": hidden,
            "updates_per_epoch": args.eval_every, "snapshot_every": 0, "log_every": 1000}


def learner_world(starts: str):
    """The training world (gap on the right) the imitation learners collect in: its own start, or
    episodes that start spread (``starts``); they are scored from the env's own start either way."""
    from dataclasses import replace
    from functools import partial

    from genpolicy.tasks.wall_point import ENV_ID, WALLPOINT

    if starts == "fixed":
        return ENV_ID
    return replace(WALLPOINT, name=f"wallpoint-starts-{starts}", make_env=partial(WALLPOINT.make_env, start=starts))


def run_arm(arm: str, args: argparse.Namespace, seed: int, out: Path) -> dict:
    import genpolicy
    from genpolicy.evaluation import evaluate
    from genpolicy.tasks.wall_point import ENV_ID, SHIFTED_ENV_ID
    from genpolicy.training import parse_overrides

    values = common(args, seed)
    start = time.perf_counter()
    if arm in ("airl", "gail"):
        values["expert_episodes"] = args.demos
        values["reward_hidden_dims" if arm == "airl" else "discriminator.hidden_dims"] = [args.hidden, args.hidden]
        if arm == "airl":
            values["gradient_penalty"] = args.airl_gp
            values.update(parse_overrides(args.airl_set))
        run = genpolicy.train(arm, data=expert_dataset(args.demos, seed, args.expert_starts, args.expert_noise),
                              env=learner_world(args.learner_starts), out=out / arm / "run",
                              steps=args.env_steps - args.warmup, overrides=values, eval_episodes=args.eval_episodes,
                              eval_every=1, eval_env=None if args.learner_starts == "fixed" else ENV_ID,
                              verbose=False, progress_bar=False)
        trained_in = (run.evaluate(episodes=args.final_episodes, seed=1000 + seed) if args.learner_starts == "fixed"
                      else evaluate(run.policy, ENV_ID, episodes=args.final_episodes, seed=1000 + seed))
        extra = g_agreement(out / arm / "run") if arm == "airl" else {}
    else:
        if arm == "sac-airl-reward":
            values.update({"reward.name": "saved", "reward.path": str(out / "airl" / "run"), "reward.normalize": "none",
                           "reward.scale": args.transfer_reward_scale})
        run = genpolicy.train("sac", env=SHIFTED_ENV_ID, out=out / arm / "run", steps=args.transfer_steps - args.warmup,
                              overrides=values, eval_episodes=args.eval_episodes, eval_every=1, verbose=False,
                              progress_bar=False)
        trained_in, extra = None, {}
    shifted = evaluate(run.policy, SHIFTED_ENV_ID, episodes=args.final_episodes, seed=1000 + seed)
    return {"arm": arm, "seed": seed, "seconds": time.perf_counter() - start,
            "return_trained_env": None if trained_in is None else float(trained_in.mean_return),
            "return_shifted": float(shifted.mean_return), **extra,
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
             f"networks {args.hidden}x{args.hidden}; demonstrations from starts `{args.expert_starts}` "
             f"(expert noise {args.expert_noise}), AIRL/GAIL episodes from starts `{args.learner_starts}`, AIRL's "
             f"penalty {args.airl_gp}{''.join(f', {p}' for p in args.airl_set)}"
             + (f", SAC on g with reward.scale {args.transfer_reward_scale}" if args.transfer_reward_scale != 1 else "")
             + ".", "",
             "| policy | return (mean ± std over seeds) | per seed | / SAC-true (ratio of means) | "
             "(R − R_random) / (R_SAC-true − R_random) |", "|---|---|---|---|---|"]
    for label, arm in rows:
        r = shifted[arm]
        lines.append(f"| {label} | {r.mean():.1f} ± {r.std():.1f} | {', '.join(f'{x:.1f}' for x in r)} | "
                     f"{true.mean() / r.mean():.2f} | {(r.mean() - lo) / (true.mean() - lo):.2f} |")
    trained = {arm: [results[s][arm]["return_trained_env"] for s in seeds] for arm in ("airl", "gail")}
    lines += ["", "In the original world (gap on the right; expert -11.9, random -61.8): "
              + "; ".join(f"{arm} {np.mean(v):.1f} ± {np.std(v):.1f}" for arm, v in trained.items()) + "."]
    if all("corr_box" in results[s]["airl"] for s in seeds):
        stats = [results[s]["airl"] for s in seeds]
        lines += ["", "AIRL's saved g against the true reward -||s - goal|| (`g_agreement`), per seed: correlation "
                  "over the box " + ", ".join(f"{r['corr_box']:.2f}" for r in stats) + "; over the lower half "
                  + ", ".join(f"{r['corr_lower']:.2f}" for r in stats) + "; g(old gap) - g(new gap) at y = -0.1 "
                  + ", ".join(f"{r['old_minus_new_gap']:+.2f}" for r in stats) + " (the true reward: 0)."]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def g_on_grid(run_dir: Path, points: int = 81) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, y, g)`` of the saved ``g`` over a ``points`` x ``points`` grid of the box."""
    import torch

    from genpolicy.models.saved_rewards import load_reward

    reward = load_reward(run_dir)
    grid = np.linspace(-1, 1, points)
    x, y = np.meshgrid(grid, grid)
    obs = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], -1)[:, : reward.config.obs_dim]
    with torch.no_grad():
        g = reward(torch.tensor(obs, dtype=torch.float32)).numpy().reshape(x.shape)
    return x, y, g


def g_agreement(run_dir: Path) -> dict[str, float]:
    """How ``g`` agrees with the true reward ``-||s - goal||`` off the wall: the Pearson
    correlation over the whole box, over the lower half, and ``g``'s rise from the new gap's
    middle to the old gap's (at y = -0.1; > 0: g prefers the old gap)."""
    from genpolicy.tasks.wall_point import GOAL, WALL_HALF_THICKNESS

    x, y, g = g_on_grid(run_dir)
    true = -np.hypot(x - GOAL[0], y - GOAL[1])
    free = np.abs(y) > WALL_HALF_THICKNESS
    lower = free & (y < 0)
    corr = lambda m: float(np.corrcoef(g[m], true[m])[0, 1])  # noqa: E731
    x1, y1, g1 = g_on_grid(run_dir, 201)
    row = np.argmin(np.abs(y1[:, 0] + 0.1))
    at = lambda px: float(g1[row, np.argmin(np.abs(x1[0] - px))])  # noqa: E731
    return {"corr_box": corr(free), "corr_lower": corr(lower), "old_minus_new_gap": at(0.6) - at(-0.6)}


def figure(panels: list[tuple[str, Path]], path: Path) -> None:
    """The saved ``g`` of each ``(title, AIRL run dir)`` over the plane beside the true reward,
    both walls drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genpolicy.tasks.wall_point import GOAL, wall_span

    x, y, _ = g_on_grid(panels[0][1])
    maps = [(title, g_on_grid(run_dir)[2]) for title, run_dir in panels]
    maps.append(("true reward -||s - goal||", -np.hypot(x - GOAL[0], y - GOAL[1])))
    fig, axes = plt.subplots(1, len(maps), figsize=(4 * len(maps), 3.8))
    for ax, (title, values) in zip(axes, maps):
        image = ax.imshow(values, origin="lower", extent=(-1, 1, -1, 1), cmap="viridis")
        for gap, style in (("right", "w-"), ("left", "r--")):
            low, high = wall_span(gap)
            ax.plot([low, high], [0, 0], style, lw=2, label=f"wall, gap {gap}")
        ax.plot(*GOAL, "r*", ms=10)
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    axes[0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    from genpolicy.tasks.wall_point import STARTS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demos", type=int, default=10)
    parser.add_argument("--env-steps", type=int, default=8_000)
    parser.add_argument("--transfer-steps", type=int, default=8_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--eval-every", type=int, default=1_000)
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--final-episodes", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--expert-starts", default="fixed", choices=STARTS,
                        help="where the demonstrations start")
    parser.add_argument("--expert-noise", type=float, default=0.0, help="std of the expert's action noise")
    parser.add_argument("--learner-starts", default="fixed", choices=STARTS,
                        help="where AIRL's and GAIL's own episodes start (SAC in the shifted world: always the env's)")
    parser.add_argument("--airl-gp", type=float, default=10.0, help="AIRL's gradient penalty on f (0: the paper's)")
    parser.add_argument("--airl-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="more airl overrides, e.g. learner_reward=logit g_of=next_state")
    parser.add_argument("--transfer-reward-scale", type=float, default=1.0, help="reward.scale of SAC on the kept g")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--figure", default=None, help="a picture of the first seed's saved g")
    parser.add_argument("--figure-with", nargs="*", default=[], metavar="TITLE=OUT",
                        help="more panels: the g of another benchmark output's first seed")
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
        summary = {"args": vars(args), "results": {str(s): {arm: {k: v for k, v in r.items() if k != "curve"}
                                                             | {"curve": [(c["env_steps"], round(c["return"], 2))
                                                                          for c in r["curve"]]}
                                                             for arm, r in per_arm.items()}
                                                    for s, per_arm in results.items()}}
        (out / "results.json").write_text(json.dumps(summary, indent=1))
    if args.figure:
        seed = args.seeds[0]
        panels = [(f"{title} (seed {seed})", Path(d) / f"seed{seed}" / "airl" / "run")
                  for title, _, d in (p.partition("=") for p in args.figure_with)]
        panels.append((f"saved g(s), demos from {args.expert_starts} starts (seed {seed})",
                       out / f"seed{seed}" / "airl" / "run"))
        figure(panels, Path(args.figure))


if __name__ == "__main__":
    main()
