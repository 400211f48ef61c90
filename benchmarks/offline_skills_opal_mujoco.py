"""OPAL skills from a MuJoCo dataset (no env interaction while learning), measured in simulation.

Trains `genpolicy fit opal` on a D4RL-layout file (default: the shared Hopper-v5 medium set,
185 episodes of a stochastic SAC policy) and rolls every skill out with deterministic actions
(`genpolicy.evaluation.skill_motion`: x read from the simulator, since the observation has no
x): per-skill mean x-velocity, final x, the env's return and episode length; the spread of
x-velocity across skills; how close the rollouts stay to the data (`near_data_fraction` on the
raw observations, radius two typical data steps); and the same numbers for uniform random
actions and for a skill policy of fresh (untrained) weights, as baselines.

    GENPOLICY_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/offline_skills_opal_mujoco.py --seeds 0 \\
        --data ../shared/data/hopper-medium-v5.hdf5 --env Hopper-v5 --out runs/opal-hopper
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import genpolicy  # noqa: E402
from genpolicy.datasets import load_dataset  # noqa: E402
from genpolicy.evaluation.skill_motion import skill_motion, spread  # noqa: E402
from genpolicy.evaluation.skills import near_data_fraction  # noqa: E402

SETTINGS = {"batch_size": 256, "hidden_dims": [256, 256], "updates_per_epoch": 1_000}


def rollout_states(policy, env: str, episodes: int, seed: int) -> np.ndarray:
    """Observations of deterministic rollouts of every skill (for the near-data measure)."""
    from genpolicy.evaluation.skills import skill_rollouts

    return np.concatenate([traj[1:] for eps in skill_rollouts(policy, env, episodes, seed) for traj in eps])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/hopper-medium-v5.hdf5")
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--skills", type=int, default=10)
    parser.add_argument("--updates", type=int, default=5_000)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--out", default="runs/opal-hopper")
    args = parser.parse_args()
    out = Path(args.out)
    dataset = load_dataset(args.data)
    data_obs = dataset.observations.numpy().astype(np.float64)
    data_next = dataset.next_observations.numpy().astype(np.float64)
    lengths = (dataset.episode_bounds()[:, 1] - dataset.episode_bounds()[:, 0]).numpy()
    summary: dict = {"data": args.data, "env": args.env, "skills": args.skills, "updates": args.updates,
                     "settings": SETTINGS, "data_episode_length": float(lengths.mean()),
                     "data_episode_return": float(dataset.episode_returns().mean()), "runs": []}
    for seed in args.seeds:
        overrides = {**SETTINGS, "skills": args.skills, "seed": seed}
        start = time.perf_counter()
        run = genpolicy.train("opal", data=dataset, out=out / f"seed{seed}", eval_episodes=0, progress_bar=False,
                              steps=args.updates, overrides=overrides)
        seconds = time.perf_counter() - start
        fresh = genpolicy.train("opal", data=dataset, out=out / f"untrained{seed}", eval_episodes=0, progress_bar=False,
                                steps=1, overrides={**overrides, "updates_per_step": 1, "updates_per_epoch": 1})
        row = {"seed": seed, "train_seconds": seconds}
        for name, policy in (("opal", run.policy), ("untrained", fresh.policy)):
            motion = skill_motion(policy, args.env, episodes=args.episodes, seed=1000)
            states = rollout_states(policy, args.env, 1, 1000)
            row[name] = {**motion.as_dict(), "x_velocity_spread": spread(motion.mean_x_velocity),
                         "near_data_fraction": near_data_fraction(states, data_obs, data_next_states=data_next),
                         "mean_episode_length": float(np.mean([len(x) - 1 for xs in motion.x for x in xs]))}
            print(f"seed {seed} {name}:\n{motion.table()}\nspread {row[name]['x_velocity_spread']}, near the data "
                  f"{row[name]['near_data_fraction']:.3f}, mean episode length {row[name]['mean_episode_length']:.0f}")
        summary["runs"].append(row)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    print(f"wrote {out / 'summary.json'}")


if __name__ == "__main__":
    main()
