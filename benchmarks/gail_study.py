"""GAIL (DAC-style, SAC learner) beside BC on the same few subsampled demonstrations.

Expert data: the built-in task's scripted expert (``--task pendulum``: energy pumping + LQR on
Pendulum-v1), the first ``--demos`` episodes, every ``--subsample``-th transition (DAC's
protocol). Variants, each through `genpolicy.train`:

* ``bc``            BC (MSE head) on the subsampled demonstrations;
* ``gail``          GAIL, absorbing states on (default), logit reward, gradient penalty 10;
* ``gail-bro``      GAIL with BRO's settings (replay ratio 10, BroNet quantile critics) at a
                    CPU-sized critic (``--bro-width`` 128, ``--bro-quantiles`` 10), ``--bro-env-steps``;
* ``gail-noabs``    the same with ``absorbing=false``;
* ``airl``          AIRL (``f = g(s) + gamma h(s') - h(s)``, logit ``f - log pi``) on the same SAC
                    learner, ``g`` and ``h`` ``--hidden`` wide; its ``g`` is saved in ``RUN/reward``
                    (``airl-gp``: with a gradient penalty of 10 on ``f``);
* ``gail-frozen``   GAIL whose discriminator is never trained (``discriminator_every=0``)
                    with the always-positive reward ``-log(1 - D)``: the survival-bias check
                    (``gail-frozen-noabs``: without absorbing states). It needs an env that
                    terminates: with ``--bias-env ENV`` (e.g. InvertedPendulum-v5) both run there
                    with zero demonstrations (the "expert" data is uniform random rollouts; a
                    frozen discriminator only takes its observation statistics) for
                    ``--bias-env-steps``, into ``OUT/bias/``.

Every GAIL run is evaluated every ``--eval-every`` updates (= env steps, replay ratio 1); the
result keeps that curve, the final return (``--final-episodes`` episodes), the env steps at which
the evaluation first reached 90 % of the expert's return, and the wall time. Networks are
``--hidden`` wide (CPU budget; recorded). Writes ``OUT/<task>/<demos>demos/<variant>/seedN/
result.json`` (resumable) and ``OUT/table.md``.

    .venv/bin/python benchmarks/gail_study.py --task pendulum --demos 4 10 --env-steps 12000 --seeds 0 \
        --variants bc gail --out runs/gail_study
    .venv/bin/python benchmarks/gail_study.py --expert-data ../shared/data/hopper-medium-v5.hdf5 --env Hopper-v5 \
        --demos 4 --hidden 256 --env-steps 60000 --warmup 5000 --eval-every 5000 --variants bc gail gail-noabs \
        [--expert-falls-as-cuts] --out runs/gail_hopper
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

VARIANTS = ("bc", "gail", "gail-bro", "gail-noabs", "gail-frozen", "gail-frozen-noabs", "airl", "airl-gp")
BRO_RATIO = 10  # gail-bro: BRO's replay ratio (updates per env step)


def gail_values(variant: str, args: argparse.Namespace, demos: int, seed: int) -> dict:
    hidden = [args.hidden, args.hidden]
    values = {
        "seed": seed, "warmup_steps": args.warmup, "expert_episodes": demos, "expert_subsample": args.subsample,
        "actor.hidden_dims": hidden, "critic.hidden_dims": hidden, "discriminator.hidden_dims": hidden,
        "updates_per_epoch": args.eval_every, "snapshot_every": 0, "log_every": 1000,
    }
    if variant.startswith("airl"):  # g and h as wide as the rest; airl-gp: DAC's penalty (10) on f's slope
        values["reward_hidden_dims"] = values.pop("discriminator.hidden_dims")
        values["gradient_penalty"] = 10.0 if variant == "airl-gp" else 0.0
    if args.expert_falls_as_cuts:
        values["expert_terminations"] = "cut"
    if variant.endswith("noabs"):
        values["absorbing"] = False
    if variant.startswith("gail-frozen"):
        values.update(discriminator_every=0, reward_form="positive")
    if variant == "gail-bro":  # BRO's recipe at a CPU-sized critic; evaluated every eval_every *env steps*
        values.update({"critic.width": args.bro_width, "critic.num_quantiles": args.bro_quantiles,
                       "updates_per_epoch": args.eval_every * BRO_RATIO})
    return values


def run_variant(variant: str, args: argparse.Namespace, demos: int, seed: int, expert, out: Path) -> dict:
    import genpolicy
    from genpolicy.datasets.demonstrations import subsample_episodes

    start = time.perf_counter()
    if variant == "bc":
        data = subsample_episodes(expert.select_episodes(list(range(demos))), args.subsample)
        run = genpolicy.train("bc", data=data, out=out, steps=args.bc_steps, eval_episodes=0, verbose=False,
                              progress_bar=False, overrides={"seed": seed}, restart=True)
        curve = []
        transitions = len(data)
    else:
        values = gail_values(variant, args, demos, seed)
        bro = variant == "gail-bro"
        env_steps = args.bro_env_steps if bro else args.env_steps
        updates = (env_steps - args.warmup) * (BRO_RATIO if bro else 1)
        algo = "gail-bro" if bro else ("airl" if variant.startswith("airl") else "gail")
        run = genpolicy.train(algo, data=expert, env=args.env or args.task, out=out, steps=updates, overrides=values,
                              eval_episodes=args.eval_episodes, eval_every=1, verbose=False, progress_bar=False)
        transitions = len(run.algo.expert_data)
        curve = [{"env_steps": h.get("env_steps", run.config.env_steps_for(h["updates"])), "return": h["eval/return"]}
                 for h in run.eval_history]
    seconds = time.perf_counter() - start
    final = run.evaluate(episodes=args.final_episodes, seed=1000 + seed, env=args.env)  # env None: the data's
    return {"variant": variant, "demos": demos, "seed": seed, "subsample": args.subsample, "hidden": args.hidden,
            "expert_transitions": transitions, "final_return": float(final.mean_return), "curve": curve,
            "seconds": seconds, "env_steps": 0 if variant == "bc" else (args.bro_env_steps if variant == "gail-bro"
                                                                        else args.env_steps)}


def random_dataset(env_id: str, episodes: int, seed: int):
    """Uniform random rollouts of ``env_id`` (zero demonstrations for the bias check)."""
    import gymnasium as gym

    from genpolicy.datasets.episodes import OfflineDataset

    env = gym.make(env_id)
    env.action_space.seed(seed)
    rows = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            action = env.action_space.sample()
            next_obs, reward, terminated, truncated, _ = env.step(action)
            rows.append((obs, action, reward, next_obs, terminated, truncated))
            obs, done = next_obs, terminated or truncated
    col = lambda i, dtype=np.float32: np.array([r[i] for r in rows], dtype)  # noqa: E731
    return OfflineDataset(col(0), col(1), col(2), col(4, bool), col(5, bool), col(3),
                          metadata={"env_id": env_id, "source": f"random:{env_id}"})


def bias_check(args: argparse.Namespace, out: Path) -> str:
    """Frozen untrained discriminator, positive reward, absorbing on/off (see the module doc)."""
    import genpolicy

    data = random_dataset(args.bias_env, 20, 0)
    random_return = float(data.episode_returns().mean())
    lines = [f"`{args.bias_env}`, zero demonstrations, frozen untrained discriminator, reward -log(1 - D) > 0, "
             f"{args.bias_env_steps} env steps (random policy: {random_return:.1f}).", "",
             "| variant | absorbing | seeds | final return | best eval return | wall s |", "|---|---|---|---|---|---|"]
    for variant in ("gail-frozen", "gail-frozen-noabs"):
        finals, bests, seconds = [], [], []
        for seed in args.seeds:
            where = out / "bias" / args.bias_env / variant / f"seed{seed}"
            file = where / "result.json"
            if not file.exists():
                values = gail_values(variant, args, 0, seed)
                values.pop("expert_episodes")
                start = time.perf_counter()
                run = genpolicy.train("gail", data=data, env=args.bias_env, out=where / "run",
                                      steps=args.bias_env_steps - args.warmup, overrides=values,
                                      eval_episodes=args.eval_episodes, eval_every=1, verbose=False, progress_bar=False)
                final = run.evaluate(episodes=args.final_episodes, seed=1000 + seed)
                where.mkdir(parents=True, exist_ok=True)
                file.write_text(json.dumps({"final_return": float(final.mean_return), "seconds": time.perf_counter() - start,
                                            "curve": [h["eval/return"] for h in run.eval_history]}))
            result = json.loads(file.read_text())
            finals.append(result["final_return"])
            bests.append(max(result["curve"] or [result["final_return"]]))
            seconds.append(result["seconds"])
        lines.append(f"| {variant} | {'off' if variant.endswith('noabs') else 'on'} | {len(finals)} | "
                     f"{np.mean(finals):.1f} ± {np.std(finals):.1f} | {np.mean(bests):.1f} | {np.mean(seconds):.0f} |")
    text = "\n".join(lines) + "\n"
    (out / "bias_table.md").write_text(text)
    return text


def first_reach(curve: list[dict], level: float) -> int | None:
    for point in curve:
        if point["return"] is not None and point["return"] >= level:
            return int(point["env_steps"])
    return None


def write_table(results: list[dict], expert_return: float, random_return: float, args: argparse.Namespace,
                path: Path) -> str:
    level = random_return + 0.9 * (expert_return - random_return)
    lines = [f"Task `{args.task}` (expert return {expert_return:.1f}, random {random_return:.1f}; 90 % level "
             f"{level:.1f}), demonstrations subsampled every {args.subsample} steps, networks {args.hidden}x{args.hidden}.",
             "",
             "| demos (transitions) | variant | env steps | seeds | final return | normalized | env steps to 90 % | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[int, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["demos"], r["variant"]), []).append(r)
    for (demos, variant), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], VARIANTS.index(kv[0][1]))):
        finals = np.array([r["final_return"] for r in rs])
        norm = 100 * (finals - random_return) / (expert_return - random_return)
        reach = [first_reach(r["curve"], level) for r in rs]
        reach_text = "—" if variant == "bc" else ", ".join(str(x) if x is not None else "not reached" for x in reach)
        lines.append(f"| {demos} ({rs[0]['expert_transitions']}) | {variant} | {rs[0]['env_steps'] or '—'} | {len(rs)} | "
                     f"{finals.mean():.1f} ± {finals.std():.1f} | {norm.mean():.0f} | {reach_text} | "
                     f"{np.mean([r['seconds'] for r in rs]):.0f} |")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="pendulum", help="a built-in task with a scripted expert")
    parser.add_argument("--env", default=None, help="env id to learn in (default: the task's)")
    parser.add_argument("--expert-data", default=None,
                        help="demonstrations from a dataset file (D4RL HDF5, NPZ, Minari) instead of the task's "
                             "scripted expert; needs --env; the expert level is the file's mean episode return, "
                             "random the measured return of uniform actions in --env")
    parser.add_argument("--expert-falls-as-cuts", action="store_true",
                        help="GAIL's expert_terminations=cut: the demonstrations' terminations are read as "
                             "truncations (the demonstrator's falls become episode cuts, so no expert row is "
                             "absorbing); with --expert-data it names the output folder <file>-cut")
    parser.add_argument("--demos", type=int, nargs="+", default=[4, 10])
    parser.add_argument("--subsample", type=int, default=20)
    parser.add_argument("--env-steps", type=int, default=12_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--eval-every", type=int, default=2_000, help="updates between evaluations (an epoch)")
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--final-episodes", type=int, default=20)
    parser.add_argument("--bc-steps", type=int, default=3_000)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--bro-env-steps", type=int, default=4_000, help="gail-bro: env steps (x10 updates)")
    parser.add_argument("--bro-width", type=int, default=128, help="gail-bro: BroNet critic width (BRO: 512)")
    parser.add_argument("--bro-quantiles", type=int, default=10, help="gail-bro: quantiles (BRO: 100)")
    parser.add_argument("--variants", nargs="*", default=["bc", "gail"], choices=VARIANTS)
    parser.add_argument("--bias-env", default=None, help="a terminating env for the survival-bias check")
    parser.add_argument("--bias-env-steps", type=int, default=5_000)
    parser.add_argument("--out", default="runs/gail_study")
    args = parser.parse_args()

    from genpolicy.datasets.resolve import resolve_data
    from genpolicy.evaluation import evaluate
    from genpolicy.tasks import TASKS

    out = Path(args.out)
    if args.bias_env:
        print(bias_check(args, out))
    if not args.variants:
        return
    if args.expert_data:
        if not args.env:
            parser.error("--expert-data needs --env")
        from genpolicy.datasets import load_dataset

        expert = load_dataset(args.expert_data)
        args.task = Path(args.expert_data).stem  # names the output folder and the table
        if args.expert_falls_as_cuts:
            args.task += "-cut"
        expert_return = float(expert.episode_returns().mean())
        random_return = float(random_dataset(args.env, 20, 0).episode_returns().mean())
    else:
        expert = resolve_data(args.task, episodes=max(max(args.demos), 20), seed=0)
        expert_return = float(expert.episode_returns().mean())
        random_return = float(TASKS[args.task].ref_min_score)  # measured mean return of uniform random actions
    results = []
    for demos in args.demos:
        for variant in args.variants:
            for seed in args.seeds:
                where = out / args.task / f"{demos}demos" / variant / f"seed{seed}"
                file = where / "result.json"
                if file.exists():
                    results.append(json.loads(file.read_text()))
                    continue
                result = run_variant(variant, args, demos, seed, expert, where / "run")
                where.mkdir(parents=True, exist_ok=True)
                file.write_text(json.dumps(result, indent=2))
                print(f"{args.task} {demos} demos {variant} seed {seed}: return {result['final_return']:.1f} "
                      f"({result['seconds']:.0f} s)", flush=True)
                results.append(result)
    print(write_table(results, expert_return, random_return, args, out / "table.md"))


if __name__ == "__main__":
    main()
