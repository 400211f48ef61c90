"""DIAYN on a MuJoCo body (HalfCheetah-v5 by default): do K skills become distinct gaits or directions?

Trains `genpolicy fit diayn` through `genpolicy.train` for each seed (resumable: a seed whose
``OUT/seed<S>`` holds a checkpoint continues from it, a finished one is only re-measured; the
training wall time, summed over resumed calls, is kept in ``OUT/seed<S>/train_timing.json``), then
rolls out every skill afresh with deterministic actions and reports, per skill, the mean
x-velocity, the final x and the env's own return (HalfCheetah's forward reward minus its
control cost, which DIAYN never sees), plus the fresh-rollout accuracy of the policy's own
discriminator (`genpolicy.evaluation.skills.skill_report`, chance 1/K). HalfCheetah's
observation excludes the x position, so the x-y coverage of the point benchmark is meaningless
here; the spread of per-skill mean x-velocity (std and max - min across skills) takes its
place, against the same spread for two baselines: an untrained skill policy of the same
architecture (fresh weights, deterministic: it barely moves) and K groups of uniform-random-action
episodes (the spread chance alone gives). The discriminator sees all 17 observation dims (no x-y prior
is possible: x is not in the observation), so skills may separate by posture as well as by
motion. Writes ``OUT/summary.json``, ``OUT/motion-seed<S>.png`` (x-velocity over time per
skill) and, with ``--video``, ``OUT/skills-seed<S>.mp4`` (every skill side by side).

    GENPOLICY_THREADS=1 OMP_NUM_THREADS=1 MUJOCO_GL=egl python benchmarks/diayn_mujoco.py \\
        --env HalfCheetah-v5 --skills 10 --env-steps 200000 --seeds 0 1 2 --video --out runs/diayn-cheetah-200k
    ... --reuse      # measure the policies already saved in OUT/seed<S> again (no training)

``--algo metra`` trains METRA instead (``--set skill_dim=2`` for its continuous skills); ``--wrap
append-x`` appends the body's root x to the observation (`genpolicy.tasks.wrappers.AppendBodyX`),
so a position prior is possible (``--set 'representation.dims=[17]'`` on HalfCheetah: x is the
18th entry).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import genpolicy
from genpolicy.models.base import load_policy

SETTINGS = {  # CPU-sized networks (one shared core); everything else is DIAYN's default (alpha 0.1 fixed, SAC)
    "actor.hidden_dims": [128, 128], "critic.hidden_dims": [128, 128], "discriminator.hidden_dims": [128, 128],
    "batch_size": 256, "warmup_steps": 10_000, "updates_per_epoch": 20_000, "skill_eval_episodes": 1,
}
EVAL_SEED = 1_000  # rollout seeds of the measurements (training's own skill checks use 20_000)


def untrained_like(policy: Any, seed: int) -> Any:
    """A skill policy of ``policy``'s architecture with freshly initialised weights (the baseline:
    what "K skills" look like before any training, deterministic actions as for the trained one)."""
    from genpolicy.models.skills import SkillPolicy

    torch.manual_seed(seed)
    return SkillPolicy(policy.config)


class RandomActions:
    """The second baseline: K "skills" that all take uniform random actions (seeded), run through
    the same `skill_motion` rollout. Its spread of per-skill mean x-velocity is what chance alone
    gives across K groups of episodes (HalfCheetah drifts under random actions), the floor a
    trained policy's spread must clear to mean anything."""

    def __init__(self, like: Any, env: str, seed: int) -> None:
        import gymnasium as gym

        made = gym.make(env)
        self.low, self.high = made.action_space.low, made.action_space.high
        made.close()
        self.config, self.device, self.skill = like.config, like.device, None
        self.rng = np.random.default_rng(seed)

    def use_skill(self, skill: int | None) -> "RandomActions":
        self.skill = skill
        return self

    def reset(self, mask: Any = None) -> None:
        """Nothing to forget: every action is a fresh draw."""

    def act(self, obs: Any, skill: Any = None) -> np.ndarray:
        return self.rng.uniform(self.low, self.high, size=(len(obs), len(self.low))).astype(np.float32)


def measure(policy: Any, env: str, episodes: int, label: str, accuracy: bool = True) -> dict[str, Any]:
    """Per-skill motion (x-velocity, final x, env return) and the fresh-rollout accuracy of the
    policy's own discriminator (`skill_report`, same seeds: the same episodes again)."""
    from genpolicy.evaluation.skill_motion import skill_motion
    from genpolicy.evaluation.skills import skill_report

    motion = skill_motion(policy, env, episodes=episodes, seed=EVAL_SEED)
    report = skill_report(policy, env, episodes=episodes, seed=EVAL_SEED) if accuracy else None
    per_skill = None if report is None or report.per_skill_accuracy is None else report.per_skill_accuracy
    print(f"--- {label}")
    print(motion.table(per_skill))
    if report is not None and report.accuracy is not None:
        print(f"fresh-rollout accuracy {report.accuracy:.3f} (chance {1 / report.num_skills:.3f})")
    return {**motion.as_dict(), "accuracy": None if report is None else report.accuracy,
            "per_skill_accuracy": None if per_skill is None else per_skill.tolist(), "motion": motion}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--algo", default="diayn", choices=["diayn", "metra"])
    parser.add_argument("--wrap", nargs="*", default=[], help="env wrappers inside the skill wrapper (e.g. append-x)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--skills", type=int, default=10)
    parser.add_argument("--env-steps", type=int, default=200_000)
    parser.add_argument("--replay-ratio", type=float, default=0.5)
    parser.add_argument("--episodes", type=int, default=3, help="fresh rollouts per skill")
    parser.add_argument("--video", action="store_true", help="also OUT/skills-seed<S>.mp4: every skill side by side")
    parser.add_argument("--video-steps", type=int, default=300, help="env steps shown per skill in the mp4")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra DIAYN settings (JSON values)")
    parser.add_argument("--reuse", action="store_true", help="measure the saved OUT/seed<S> policies, no training")
    parser.add_argument("--out", default="runs/diayn-mujoco")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    extra = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    base = dict(SETTINGS)
    if args.algo == "metra":  # METRA's network is its representation phi (no discriminator)
        base["representation.hidden_dims"] = base.pop("discriminator.hidden_dims")
    settings = {**base, **extra}
    updates = int((args.env_steps - settings["warmup_steps"]) * args.replay_ratio)
    previous: dict[int, dict] = {}
    if (out / "summary.json").exists():
        previous = {r["seed"]: r for r in json.loads((out / "summary.json").read_text()).get("runs", [])}
    # training first, every seed, so a failure in the measurements never costs a training run
    trained: dict[int, dict[str, Any]] = {}
    for seed in args.seeds:
        timing = out / f"seed{seed}" / "train_timing.json"  # seconds summed over resumed calls
        spent = json.loads(timing.read_text())["train_seconds"] if timing.exists() else 0.0
        if args.reuse:
            trained[seed] = json.loads(timing.read_text()) if timing.exists() else {
                k: previous.get(seed, {}).get(k) for k in ("env_steps", "updates", "train_seconds")}
            continue
        start = time.perf_counter()
        run = genpolicy.train(args.algo, env=args.env, out=out / f"seed{seed}", eval_episodes=0, progress_bar=False,
                              wrappers=args.wrap,
                              overrides={**settings, "skills": args.skills, "seed": seed, "steps": updates,
                                         "replay_ratio": args.replay_ratio})
        trained[seed] = {"env_steps": int(run.algo.env_steps), "updates": int(run.algo.num_updates),
                         "train_seconds": spent + time.perf_counter() - start}
        timing.write_text(json.dumps(trained[seed]))

    from genpolicy.evaluation.skill_motion import plot_motion, skill_grid_video

    results, baselines, randoms = [], [], []
    for seed in args.seeds:
        policy = load_policy(out / f"seed{seed}")
        row: dict[str, Any] = {"seed": seed, **trained[seed]}
        measured = measure(policy, args.env, args.episodes, f"seed {seed}: trained")
        baseline = measure(untrained_like(policy, seed), args.env, args.episodes, f"seed {seed}: untrained")
        title = f"{args.algo.upper()}, {args.skills} skills, {args.env}, {args.env_steps // 1000}k env steps, seed {seed}"
        random = measure(RandomActions(policy, args.env, seed), args.env, args.episodes,
                         f"seed {seed}: uniform random actions", accuracy=False)
        random.pop("motion")
        row["figure"] = plot_motion(measured.pop("motion"), str(out / f"motion-seed{seed}.png"), title=title,
                                    baseline=baseline.pop("motion"))
        row.update(measured)
        row["untrained"] = baseline
        row["random_actions"] = random
        if args.video:
            row["video"] = str(skill_grid_video(policy, args.env, out / f"skills-seed{seed}.mp4",
                                                steps=args.video_steps, seed=EVAL_SEED))
            print(f"wrote {row['video']}")
        results.append(row)
        baselines.append(baseline)
        randoms.append(random)
    summary: dict[str, Any] = {"env": args.env, "algo": args.algo, "wrappers": args.wrap, "skills": args.skills, "env_steps": args.env_steps,
                               "replay_ratio": args.replay_ratio, "settings": settings, "eval_seed": EVAL_SEED,
                               "episodes_per_skill": args.episodes, "discriminator_dims": settings.get("representation.dims" if args.algo == "metra" else "discriminator.dims",
                                                                 "all observation dims"),
                               "runs": results}
    for name, rows in (("trained", results), ("untrained", baselines), ("random_actions", randoms)):
        for key in ("accuracy", "x_velocity_std", "x_velocity_range", "final_x_std", "max_return", "max_abs_x_velocity"):
            if any(r[key] is None for r in rows):
                continue  # random actions have no discriminator
            values = np.array([r[key] for r in rows], dtype=np.float64)
            summary[f"{name}_{key}"] = {"mean": float(values.mean()), "std": float(values.std())}
            print(f"{name} {key}: {values.mean():.3f} ± {values.std():.3f} over {len(values)} seed(s)")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {out / 'summary.json'}")


if __name__ == "__main__":
    main()
