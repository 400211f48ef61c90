"""`genpolicy` command: collect | fit | evaluate | sample | demo | bench | tasks | skills.

Every user-facing failure (missing file, corrupt dataset, unknown env/algorithm/task, bad
config key) ends in one line ``genpolicy: error: ...`` and a non-zero exit, no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Sequence

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders off-screen

class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def resolve_policy_dir(path: str) -> Path:
    """A run directory (uses its ``policy/``) or a policy directory."""
    p = Path(path)
    if (p / "policy" / "config.json").is_file():
        return p / "policy"
    if (p / "config.json").is_file() and (p / "model.safetensors").is_file():
        return p
    raise CLIError(f"{path}: neither a run directory (with policy/) nor a saved policy")


# ---------------------------------------------------------------------- commands
def cmd_tasks(args: argparse.Namespace) -> None:
    from genpolicy.tasks import TASKS

    for name, task in sorted(TASKS.items()):
        print(f"{name:18s} {task.env_id:32s} ref scores [{task.ref_min_score:.1f}, {task.ref_max_score:.1f}]")


def cmd_collect(args: argparse.Namespace) -> None:
    from genpolicy.datasets import load_dataset
    from genpolicy.datasets.collect import collect

    if args.agent:  # a trained online agent (or its replay buffer) makes the dataset
        from genpolicy.datasets.agent_recipes import collect_from_agent, collect_from_replay, collect_recipe

        if args.recipe in ("mix", "stitch"):
            raise CLIError(f"--recipe {args.recipe} makes data with a task's scripted expert, not with --agent")
        if args.replay:
            path = collect_from_replay(args.agent, args.out, env=args.task, overwrite=args.overwrite)
        elif args.recipe:
            path = collect_recipe(args.agent, args.recipe, args.episodes, args.out, seed=args.seed, env=args.task,
                                  stochastic=args.stochastic, overwrite=args.overwrite)
        else:
            path = collect_from_agent(args.agent, args.episodes, args.out, stochastic=args.stochastic, seed=args.seed,
                                      env=args.task, overwrite=args.overwrite)
        dataset = load_dataset(path)
        meta = dataset.metadata
        print(f"wrote {path}: {dataset.summary()}\nrecipe {meta['recipe']['name']} from {args.agent}: "
              f"mean return {meta['mean_return']:.3f}")
        return
    path = collect(args.task, args.episodes, args.out, noise=args.noise, seed=args.seed, overwrite=args.overwrite,
                   mix=args.mix, recipe=args.recipe)
    dataset = load_dataset(path)
    print(f"wrote {path}: {dataset.summary()}")
    meta = dataset.metadata
    print(f"recipe {meta['recipe']['name']}: mean return {meta['mean_return']:.3f}, "
          f"normalized {meta['mean_normalized_score']:.1f} on {meta['task']}")


def cmd_fit(args: argparse.Namespace) -> None:
    """A thin layer over `genpolicy.train` (config, sources, evaluation and resume live there)."""
    from dataclasses import asdict

    from genpolicy.trainers import get_algorithm
    from genpolicy.training import default_run_dir, resolve_config, resolved_epoch, train

    algo_class, config_class, variant = get_algorithm(args.algo)
    sets = list(args.set)
    if args.init:
        if not algo_class.needs_env:
            raise CLIError(f"--init starts an online learner (sac, bro, bro-fast) from a finished run; {args.algo} learns offline")
        sets = [f"init={args.init}", *sets]
    if args.print_config:  # nothing is trained, collected or written
        out = Path(args.out) if args.out else default_run_dir(args.algo, args.data or args.env)
        config = resolve_config(config_class, variant, config=args.config, overrides=sets, steps=args.steps,
                                resumed={} if args.restart else resolved_epoch(out))
        print(json.dumps({"algo": args.algo, "config": asdict(config)}, indent=2, default=str))
        return
    if algo_class.needs_env and not args.env:
        raise CLIError(f"{args.algo} learns online: pass --env ENV (a task name or gymnasium id, e.g. --env Pendulum-v1)")
    if algo_class.data_required and not args.data:
        raise CLIError("fit needs --data (a Minari id or directory, an .hdf5/.npz file, or a task name)")
    train(args.algo, data=args.data, env=args.env, out=args.out, config=args.config, overrides=sets, steps=args.steps,
          eval_episodes=args.eval_episodes, eval_every=args.eval_every, restart=args.restart, devices=args.devices,
          accelerator=args.accelerator, progress_every_s=args.progress_every, data_episodes=args.episodes,
          data_noise=args.noise, data_seed=args.seed, download=args.download,
          wrappers=[json.loads(spec) if spec.lstrip().startswith("{") else spec for spec in args.wrap])


def cmd_evaluate(args: argparse.Namespace) -> None:
    from genpolicy.evaluation import evaluate
    from genpolicy.models import load_policy

    policy_dir = resolve_policy_dir(args.run)
    policy = load_policy(policy_dir)
    if getattr(args, "skill", None) is not None:
        if not hasattr(policy, "use_skill"):
            raise CLIError(f"{args.run}: --skill needs a skill policy (fit diayn), not {policy.name!r}")
        policy.use_skill(args.skill)
    metadata = policy.config.metadata or {}
    if not args.env and not (metadata.get("task") or metadata.get("env_id")):
        raise CLIError(f"{args.run}: the policy records no env (bring-your-own data): pass --env ENV "
                       "(a task name or gymnasium id), or train with `fit --env ENV`")
    # One file per setting, so a short --video run never replaces a 100-episode result.
    env_part = f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', args.env)}-" if args.env else ""
    stem = f"eval-{env_part}{args.episodes}ep-seed{args.seed}" + (f"-skill{args.skill}" if getattr(args, "skill", None) is not None else "")
    video = (policy_dir.parent / f"{stem}.mp4") if args.video else None
    result = evaluate(policy, args.env, episodes=args.episodes, seed=args.seed, num_envs=args.num_envs, video=video)
    print(result.table())
    out = Path(args.json) if args.json else policy_dir.parent / f"{stem}.json"
    out.write_text(json.dumps(result.to_dict(), indent=2))
    print(f"wrote {out}" + (f" and {video}" if video else ""))


def cmd_sample(args: argparse.Namespace) -> None:
    from genpolicy.sampling import sample_figure

    path = sample_figure(resolve_policy_dir(args.policy), args.out, num=args.num, task=args.task, obs=args.obs, seed=args.seed, rollouts=args.rollouts)
    print(f"wrote {path}")


def cmd_demo(args: argparse.Namespace) -> None:
    from genpolicy.demo import run_demo

    run_demo(Path(args.out), quick=args.quick)


def cmd_bench(args: argparse.Namespace) -> None:
    from genpolicy.bench import bench_train

    if args.what in ("train", "all"):
        print(bench_train(updates=args.updates))
    scripts = {"load": "bench_load.py", "eval": "bench_eval.py", "sampling": "bench_sampling.py"}
    for name, script in scripts.items():
        if args.what in (name, "all"):
            path = Path(__file__).resolve().parents[1] / "benchmarks" / script
            if not path.is_file():
                raise CLIError(f"benchmark {name} needs the repository's benchmarks/{script}")
            import runpy

            sys.argv = [str(path)]
            runpy.run_path(str(path), run_name="__main__")


# ------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genpolicy", description="Generative policies from offline data.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tasks", help="list built-in tasks")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser(
        "collect", help="roll a task's scripted expert (or a recipe of behaviours) into a Minari dataset",
        description="Recipes (recorded in the dataset's metadata['recipe']): expert (default; the scripted "
        "expert with --noise), mix (--mix expert:0.1,noisy:0.3,random:0.6: fractions of episodes by the "
        "noise-free expert, the expert under Gaussian action noise of std --noise, uniform random actions), "
        "stitch (maze tasks, D4RL maze2d: a planner stream toward random goals, sparse reward at a fixed "
        "evaluation goal; the dataset is evaluated on maze2d-umaze / maze2d-medium).",
    )
    p.add_argument("task")
    p.add_argument("--episodes", type=int, default=50, help="episodes (stitch: random-goal trips)")
    p.add_argument("--noise", type=float, default=0.0, help="std of Gaussian action noise (mix: of the noisy episodes)")
    p.add_argument("--mix", help="behaviour fractions, e.g. expert:0.1,noisy:0.3,random:0.6 (implies --recipe mix)")
    p.add_argument("--recipe", choices=["expert", "mix", "stitch", "random", "medium", "medium-replay", "medium-expert"],
                   help="default: mix with --mix, else expert. With --agent RUN, D4RL's recipes from the run's evaluated "
                        "snapshots: random, medium (a third of the way to the best return), medium-replay (the replay "
                        "buffer up to medium), expert (the best snapshot), medium-expert")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--agent", metavar="RUN", help="roll out the policy of a trained (online) run instead of the expert")
    p.add_argument("--stochastic", action="store_true", help="with --agent: sample actions instead of the mean")
    p.add_argument("--replay", action="store_true", help="with --agent: write the run's replay buffer (medium-replay)")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("fit", help="train an algorithm on a dataset and/or in an env (resumes an existing run)",
                       description=_fit_description(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("algo", help="one of the algorithms listed above")
    p.add_argument("--data", help="Minari id/dir, .hdf5/.npz file, or task name")
    p.add_argument("--env", help="task name or gymnasium id the data comes from (bring-your-own data)")
    p.add_argument("--download", action="store_true", help="fetch a Minari id that is not on disk with Minari's download")
    p.add_argument("--steps", type=int, help="gradient updates")
    p.add_argument("--out", help="run directory (default runs/ALGO-DATA)")
    p.add_argument("--config", help="JSON/YAML file of config keys (or a run's config.json)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit (trains nothing)")
    p.add_argument("--init", metavar="RUN", help="online algorithms: start from a finished iql/cql/sac run's actor and critics")
    p.add_argument("--episodes", type=int, help="episodes to collect when --data is a task")
    p.add_argument("--noise", type=float, default=0.0, help="expert noise when --data is a task")
    p.add_argument("--seed", type=int, default=0, help="collection seed when --data is a task")
    p.add_argument("--eval-episodes", type=int, default=10, help="episodes per periodic evaluation (0: none)")
    p.add_argument("--eval-every", type=int, default=5, help="evaluate every N epochs")
    p.add_argument("--progress-every", type=float, default=30.0, metavar="SECONDS",
                   help="progress line interval when stdout is not a terminal")
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--wrap", action="append", default=[], metavar="SPEC",
                   help='an env wrapper for online learners, a name or JSON, e.g. \'{"name": "skill-options", '
                   '"policy": "runs/diayn-point2d", "every": 10}\' (repeatable, innermost first; recorded with the run)')
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("evaluate", help="roll out a trained policy in simulation")
    p.add_argument("run", help="run directory or policy directory")
    p.add_argument("--env", help="task name or gymnasium id (default: from the policy)")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--video", action="store_true", help="also record eval.mp4 of the first episode")
    p.add_argument("--json", help="where to write the results (default RUN/eval.json)")
    p.add_argument("--skill", type=int, help="a skill policy (fit diayn): run every episode as skill K")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("sample", help="draw many action trajectories for one observation")
    p.add_argument("policy", help="run directory or policy directory")
    p.add_argument("--num", type=int, default=64)
    p.add_argument("--task", help="task whose start state and background to use (default: from the policy)")
    p.add_argument("--obs", help="comma-separated raw observation instead of the task's start state")
    p.add_argument("--rollouts", type=int, default=16, help="episodes in the rollout panel (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="samples.png")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("demo", help="two-paths end to end: collect, train BC and diffusion, evaluate, report")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--quick", action="store_true", help="tiny budgets (a smoke test, not a result)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="speed figures against plain baselines in one process")
    p.add_argument("what", nargs="?", default="train", choices=["train", "load", "eval", "sampling", "all"])
    p.add_argument("--updates", type=int, default=3000)
    p.set_defaults(func=cmd_bench)
    from genpolicy.tabular.command import add_irl_parser
    add_irl_parser(sub)
    from genpolicy.skills_command import add_skills_parser
    add_skills_parser(sub)
    return parser


def _fit_description() -> str:
    """`fit --help`: the algorithms that exist, what each draws from, how to stop and resume."""
    from genpolicy.trainers import ALGORITHMS

    def needs(algo: type) -> str:
        data = f"--data ({algo.data_source})" if algo.data_source else ""
        if data and not algo.data_required:
            data = f"[{data}]"
        return " ".join(part for part in ("--env" if algo.needs_env else "", data) if part)

    def variant(overrides: dict) -> str:
        if not overrides:
            return ""
        text = ", ".join(f"{k}={v}" for k, v in overrides.items())
        return f", {text}" if len(text) <= 40 else f", {len(overrides)} settings: --print-config shows them"

    names = "\n".join(f"  {name:14s} {algo.__name__} ({config.__name__}{variant(overrides)}); {needs(algo)}"
                      for name, (algo, config, overrides) in ALGORITHMS.items())
    return (f"Train an algorithm from a dataset, from its own interaction with an env, or both.\n\n"
            f"algorithms (and the sources they draw from):\n{names}\n\n"
            "--env ENV is a task name or gymnasium id: online learners collect there (sac: `fit sac --env\n"
            "Pendulum-v1`; with --data, offline data is half of every batch; --init RUN starts from an offline\n"
            "iql/cql run); for offline learners it records the env of bring-your-own data for evaluation.\n"
            "gail/airl take the expert's data as --data; dagger labels its own rollouts with --set expert=...\n"
            "See an algorithm's settings with `genpolicy fit ALGO --print-config`. Ctrl-C or SIGTERM stops\n"
            "after the current update and writes RUN/checkpoints/last.ckpt; the same command resumes\n"
            "(also with a larger --steps). From Python: genpolicy.train(ALGO, data=..., env=...).")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from genpolicy.trainers.runner import limit_threads

    limit_threads()
    from genpolicy.trainers.runner import TrainingStopped

    try:
        args.func(args)
    except TrainingStopped as stopped:
        print(f"genpolicy: {stopped}", file=sys.stderr)
        return 128 + (stopped.signum or signal.SIGINT)
    except KeyboardInterrupt:
        print("genpolicy: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the one place user errors become one line
        if os.environ.get("GENPOLICY_DEBUG"):
            raise
        print(f"genpolicy: error: {_one_line(error)}", file=sys.stderr)
        return 2
    return 0


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    message = text[0] if text else type(error).__name__
    if not isinstance(error, (CLIError, ValueError, FileNotFoundError, FileExistsError, KeyError)):
        message = f"{type(error).__name__}: {message}"
    return message


if __name__ == "__main__":
    sys.exit(main())
