"""Using discovered skills: a high-level SAC that picks a DIAYN skill every k = 10 steps, on a sparse goal task.

Task ``genpolicy/Point2DGoals-v0`` (`genpolicy.tasks.point2d_goals`): point2d with a goal drawn per
episode from 24 goals (the 5 x 5 grid {-0.8 .. 0.8}^2 without the centre), reward 1 and the end
of the episode within 0.1 of it, 50 steps. Per seed ``s``, at the same budget of low-level env
steps (``--env-steps``), all evaluated on the same 48 episodes (deterministic actions):

* **skills + DQN** (`genpolicy fit skill-dqn`): Double DQN choosing one of the 16 frozen DIAYN skills of
  ``--skills-runs``/seed<s> through the ``skill-options`` wrapper (`genpolicy.tasks.skill_options`:
  action = 16 skill scores, the argmax skill runs for 10 env steps); epsilon-greedy, 1 -> 0.05 over the
  first quarter of the budget. Each high-level step counts as 10 env steps (an upper bound: an option
  stops early when the goal is reached), so its budget is ``env_steps / 10`` high-level steps, at 4
  updates per high-level step;
* **skills + SAC (argmax)**: the same, with SAC over the 16 continuous scores instead of DQN (the
  continuous relaxation; kept as the measured reason for the discrete learner);
* **SAC from scratch** on the low-level actions, the same env-step budget, replay ratio 1;
* **best single skill**: each skill run for the whole episode (no learning), the best of the 16
  on these episodes (an optimistic pick: chosen on the evaluation episodes themselves);
* **random skills**: a uniformly drawn skill every 10 steps (what the high-level learner adds).

The skills' own reward-free pre-training (100k env steps, `benchmarks/diayn_point.py`) is not
counted in the budget, as in DIAYN's hierarchical experiments. Writes ``OUT/summary.json`` and
``OUT/hierarchy.png`` (success rate against env steps, mean ± std over seeds).

    GENPOLICY_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/skills_hierarchy.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import genpolicy
import genpolicy.tasks  # noqa: F401  registers the envs and wrappers
from genpolicy.tasks.point2d_goals import GOALS_ENV_ID
from genpolicy.tasks.wrappers import apply_wrappers

# both learners: SAC, 128 x 128 nets, learned alpha started at 0.1 (the sparse reward is at most 1 per step;
# SAC's default start of 1.0 would drown it in the entropy bonus for most of a short run)
NETS = {"actor.hidden_dims": [128, 128], "critic.hidden_dims": [128, 128], "batch_size": 256, "log_every": 500,
        "initial_temperature": 0.1}
EVAL_EPISODES, EVAL_SEED = 48, 10_000  # EvalCallback's seed: every method sees the same goals


def fixed_skill_success(spec: dict, skill: int | None, episodes: int, seed: int, num_skills: int) -> float:
    """Success rate of running ``skill`` all episode (None: a random skill each high-level step)."""
    env = apply_wrappers(gym.make(GOALS_ENV_ID), [spec])
    rng = np.random.default_rng(seed)
    wins = 0
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        done, success = False, False
        while not done:
            choice = skill if skill is not None else int(rng.integers(num_skills))
            _, _, terminated, truncated, info = env.step(np.eye(num_skills, dtype=np.float32)[choice])
            success, done = success or info["success"], terminated or truncated
        wins += success
    env.close()
    return wins / episodes


def curve(run: genpolicy.Run, env_steps_per_step: int) -> list[list[float]]:
    """``[[low-level env steps, success rate], ...]`` from a run's evaluations."""
    return [[float(row["env_steps"] * env_steps_per_step), float(row.get("eval/success_rate", 0.0))]
            for row in run.eval_history]


METHODS = ("single", "hier-dqn", "hier-sac", "sac")


def high_level_run(algo: str, spec: dict, seed: int, args: argparse.Namespace, out: Path) -> dict:
    """``algo`` (skill-dqn or sac) choosing a skill every ``args.every`` steps; its eval curve."""
    high_steps, high_warmup = args.env_steps // args.every, 100
    updates = int((high_steps - high_warmup) * args.high_replay_ratio)
    # gamma per high-level step = 0.99 per env step over a k-step option (0.904 for k = 10): with 0.99 per
    # decision, every skill sequence that reaches the goal within the episode's 5 decisions is worth ~1 and
    # the greedy choice is decided by noise
    overrides = {"seed": seed, "steps": updates, "replay_ratio": args.high_replay_ratio, "warmup_steps": high_warmup,
                 "updates_per_epoch": updates // args.evals, "batch_size": 256, "log_every": 500,
                 "gamma": 0.99 ** args.every}
    if algo == "sac":
        overrides.update(NETS)
    else:  # epsilon from 1 to 0.05 over the first quarter of the budget (after the warm-up)
        overrides.update({"q.hidden_dims": [128, 128], "epsilon_decay_steps": high_steps // 4})
    start = time.perf_counter()
    run = genpolicy.train(algo, env=GOALS_ENV_ID, out=out, wrappers=[spec], eval_episodes=EVAL_EPISODES, eval_every=1,
                          progress_bar=False, verbose=False, overrides=overrides)
    return {"curve": curve(run, args.every), "seconds": time.perf_counter() - start, "updates": updates,
            "high_level_steps": int(run.algo.env_steps)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skills-runs", default="runs/diayn-point-100k")
    parser.add_argument("--env-steps", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--high-replay-ratio", type=float, default=4.0, help="updates per high-level step")
    parser.add_argument("--evals", type=int, default=5, help="evaluations along each run")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                        help="what to run (results merge into OUT/summary.json by seed)")
    parser.add_argument("--out", default="runs/skills-hierarchy")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = json.loads((out / "summary.json").read_text()).get("runs", []) if (out / "summary.json").exists() else []
    rows = {r["seed"]: r for r in previous}
    for row in rows.values():  # the first version of this script called the SAC hierarchy "hierarchy"
        if "hierarchy" in row:
            row["hier-sac"] = row.pop("hierarchy")

    def save() -> dict:
        summary = {"args": vars(args), "runs": [rows[s] for s in sorted(rows)]}
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    for seed in args.seeds:
        skills_dir = str((Path(args.skills_runs) / f"seed{seed}").resolve())
        spec = {"name": "skill-options", "policy": skills_dir, "every": args.every}
        num_skills = int(json.loads((Path(skills_dir) / "policy" / "config.json").read_text())["config"]["num_skills"])
        row = rows.setdefault(seed, {"seed": seed})
        row["skills"] = skills_dir
        if "single" in args.methods:
            start = time.perf_counter()
            single = [fixed_skill_success(spec, k, EVAL_EPISODES, EVAL_SEED, num_skills) for k in range(num_skills)]
            row["single_skill"] = {"best": max(single), "best_skill": int(np.argmax(single)), "all": single}
            row["random_skills"] = fixed_skill_success(spec, None, EVAL_EPISODES, EVAL_SEED, num_skills)
            print(f"seed {seed}: best single skill {max(single):.2f} (skill {np.argmax(single)}), "
                  f"random skills {row['random_skills']:.2f}  [{time.perf_counter() - start:.0f} s]", flush=True)
        for method, algo in (("hier-dqn", "skill-dqn"), ("hier-sac", "sac")):
            if method in args.methods:
                row[method] = high_level_run(algo, spec, seed, args, out / f"{method}-seed{seed}")
                print(f"seed {seed}: skills + {algo} {row[method]['curve'][-1][1]:.2f} [{row[method]['seconds']:.0f} s]",
                      flush=True)
        if "sac" in args.methods:
            flat_warmup = 2_000
            updates = args.env_steps - flat_warmup
            start = time.perf_counter()
            flat = genpolicy.train("sac", env=GOALS_ENV_ID, out=out / f"sac-seed{seed}", eval_episodes=EVAL_EPISODES,
                                   eval_every=1, progress_bar=False, verbose=False,
                                   overrides={**NETS, "seed": seed, "steps": updates, "replay_ratio": 1.0,
                                              "warmup_steps": flat_warmup, "updates_per_epoch": updates // args.evals})
            row["sac"] = {"curve": curve(flat, 1), "seconds": time.perf_counter() - start, "updates": updates}
            print(f"seed {seed}: SAC from scratch {row['sac']['curve'][-1][1]:.2f} [{row['sac']['seconds']:.0f} s]",
                  flush=True)
        save()

    summary = save()
    runs = summary["runs"]
    finals = {"skills + DQN": [r["hier-dqn"]["curve"][-1][1] for r in runs if "hier-dqn" in r],
              "skills + SAC (argmax)": [r["hier-sac"]["curve"][-1][1] for r in runs if "hier-sac" in r],
              "SAC from scratch": [r["sac"]["curve"][-1][1] for r in runs if "sac" in r],
              "best single skill": [r["single_skill"]["best"] for r in runs if "single_skill" in r],
              "random skills": [r["random_skills"] for r in runs if "random_skills" in r]}
    summary["final_success"] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "values": v}
                                for k, v in finals.items() if v}
    for name, stats in summary["final_success"].items():
        print(f"{name:22s} success {stats['mean']:.3f} ± {stats['std']:.3f} over {len(stats['values'])} seed(s)")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(summary, out / "hierarchy.png")


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for key, label, colour in (("hier-dqn", "skills + DQN (k = 10)", "C0"), ("hier-sac", "skills + SAC, argmax (k = 10)", "C3"),
                               ("sac", "SAC from scratch", "C1")):
        if not all(key in r for r in summary["runs"]):
            continue
        curves = np.array([r[key]["curve"] for r in summary["runs"]])  # [S, E, 2]
        x, y = curves[0, :, 0], curves[:, :, 1]
        ax.plot(x, y.mean(0), "-o", color=colour, ms=3, label=label)
        ax.fill_between(x, y.mean(0) - y.std(0), y.mean(0) + y.std(0), color=colour, alpha=0.2)
    for key, label, colour in (("best single skill", "best single skill", "C2"), ("random skills", "random skills", "C7")):
        if key not in summary["final_success"]:
            continue
        stats = summary["final_success"][key]
        ax.axhline(stats["mean"], color=colour, ls="--", lw=1, label=f"{label} ({stats['mean']:.2f})")
    ax.set_xlabel("env steps (skills: 10 per high-level step, upper bound)")
    ax.set_ylabel("success rate (48 episodes)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Point2DGoals (24 goals, radius 0.1), {len(summary['runs'])} seed(s)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
