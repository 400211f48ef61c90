"""`genpolicy` command: collect | fit | evaluate | sample | demo | bench | tasks.

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
from dataclasses import fields
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders off-screen

# Episodes collected when `fit --data TASK` builds the dataset itself.
DEFAULT_EPISODES = {"pendulum": 50, "two-paths": 200, "pointmaze-umaze": 200, "pointmaze-medium": 300}


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def data_cache_dir() -> Path:
    return Path(os.environ.get("GENPOLICY_DATA", Path.home() / ".cache" / "genpolicy" / "datasets"))


def resolve_data(source: str, episodes: int | None = None, noise: float = 0.0, seed: int = 0, download: bool = False):
    """A dataset from a Minari id/dir, an HDF5/NPZ file, or a built-in task name.

    A task's dataset is collected once with its scripted expert and cached under
    ``$GENPOLICY_DATA`` (default ``~/.cache/genpolicy/datasets``). A Minari id that is not on
    disk is fetched with Minari's own download when ``download`` is set (``fit --download``);
    without it the error says how to get it.
    """
    from genpolicy.datasets import DatasetNotFoundError, load_dataset
    from genpolicy.datasets.minari_io import download_minari, looks_like_minari_id, resolve_minari_source
    from genpolicy.tasks import list_tasks

    if source in list_tasks() and not Path(source).exists():
        return load_dataset(_collected_task_data(source, episodes, noise, seed))
    remote_id = looks_like_minari_id(source) and not Path(source).exists() and resolve_minari_source(source) is None
    if remote_id and download:
        download_minari(source)
    try:
        return load_dataset(source)
    except DatasetNotFoundError as error:
        if remote_id:
            raise CLIError(f"{error}; pass --download to fetch it with Minari") from None
        raise


def _collected_task_data(task: str, episodes: int | None, noise: float, seed: int) -> Path:
    """The cached expert dataset of a built-in task, collected on first use."""
    from genpolicy.datasets.collect import collect

    episodes = episodes or DEFAULT_EPISODES.get(task, 100)
    path = data_cache_dir() / f"{task}-n{episodes}-noise{noise:g}-seed{seed}"
    if not path.exists():
        collect(task, episodes, path, noise=noise, seed=seed)
    return path


def default_run_dir(algo: str, data: str) -> Path:
    """``runs/ALGO-NAME``: NAME is a file's stem (``bc-file``, not ``bc-file.hdf5``) or the
    last part of a directory, task name or Minari id."""
    path = Path(str(data))
    name = path.stem if path.suffix.lower() in (".hdf5", ".h5", ".npz") else path.name
    return Path("runs") / f"{algo}-{name}"


def build_config(config_class: type, overrides: dict[str, Any], config_file: str | None, cli_sets: Sequence[str], steps: int | None):
    """Defaults <- algorithm variant <- config file (JSON/YAML) <- --set key=value <- --steps.

    Keys may be dotted (``--set critic.width=512``); every value is checked against its
    field's type before anything is built or written (see ``genpolicy.config``)."""
    from genpolicy.config import ConfigError, nest
    from genpolicy.config import build_config as build

    values: dict[str, Any] = nest(overrides)
    if config_file:
        values = nest({**values, **_read_config_file(config_file)})
    for item in cli_sets:
        if "=" not in item:
            raise CLIError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        values = nest({**values, key: value})
    if steps is not None:
        values["steps"] = steps
    if "steps" in values and "updates_per_epoch" not in values:
        default = config_class.__dataclass_fields__["updates_per_epoch"].default
        step_chunk = values.get("updates_per_step", config_class.__dataclass_fields__["updates_per_step"].default)
        # Short runs still get a few checkpoints: an epoch is at most a tenth of the run.
        if isinstance(values["steps"], int) and isinstance(step_chunk, int):
            values["updates_per_epoch"] = max(step_chunk, min(default, values["steps"] // 10 // step_chunk * step_chunk))
    try:
        return build(config_class, values)
    except ConfigError as error:
        raise CLIError(str(error)) from None


def _read_config_file(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise CLIError(f"{path}: config file not found")
    text = file.read_text()
    if file.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if isinstance(data, dict) and "config" in data and "algo" in data:  # a run's saved config.json
        data = data["config"]
    if not isinstance(data, dict):
        raise CLIError(f"{path}: expected a mapping of config keys")
    return data


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
        from genpolicy.trainers.online.agents import collect_from_agent, collect_from_replay, collect_recipe

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
    from dataclasses import asdict

    from genpolicy.trainers import get_algorithm

    algo_class, config_class, overrides = get_algorithm(args.algo)
    online = getattr(algo_class, "online", False)  # collects its own data from --env
    out = Path(args.out) if args.out else default_run_dir(args.algo, args.data or (args.env if online else "") or "")
    if args.init:
        if not online:
            raise CLIError(f"--init starts an online learner (sac, bro, bro-fast) from a finished run; {args.algo} learns offline")
        args.set = [f"init={args.init}", *args.set]
    config = build_config(config_class, overrides, args.config, [*_resumed_epoch(out, args), *args.set], args.steps)
    if args.print_config:  # nothing is trained, collected or written
        print(json.dumps({"algo": args.algo, "config": asdict(config)}, indent=2, default=str))
        return
    if online:
        if not args.env:
            raise CLIError(f"{args.algo} learns online: pass --env ENV (a task name or gymnasium id, e.g. --env Pendulum-v1)")
        dataset = resolve_data(args.data, args.episodes, args.noise, args.seed, download=args.download) if args.data else None
        print(f"env: {args.env}; ≈ {config.env_steps_for(config.steps)} env steps for {config.steps} updates "
              f"(replay ratio {config.replay_ratio:g}, {config.warmup_steps} random warm-up steps)"
              + (f"; offline data mixed in: {dataset.summary()}" if dataset is not None else ""))
        _train(args, algo_class, config, dataset, out)
        print(f"policy saved to {out / 'policy'}")
        return
    if not args.data:
        raise CLIError("fit needs --data (a Minari id or directory, an .hdf5/.npz file, or a task name)")
    dataset = resolve_data(args.data, args.episodes, args.noise, args.seed, download=args.download)
    if args.env:
        _attach_env(dataset, args.env)
    print(f"data: {dataset.summary()}")
    preset = _device_preset(algo_class, dataset, args.accelerator)
    if preset:  # settings the user did not give, chosen for this data and device
        config = build_config(config_class, {**overrides, **preset}, args.config,
                              [*_resumed_epoch(out, args), *args.set], args.steps)
        print(f"{args.algo}: defaults for this data on this device: "
              + ", ".join(f"{k}={v}" for k, v in preset.items()) + " (each overridable with --set)")
    _train(args, algo_class, config, dataset, out)
    print(f"policy saved to {out / 'policy'}")


def _device_preset(algo_class: type, dataset, accelerator: str) -> dict[str, Any]:
    """An algorithm's defaults for this data and device (``device_preset``), if it has any.
    They sit below the config file, ``--set`` and ``--steps``, so a user's value always wins."""
    preset = getattr(algo_class, "device_preset", None)
    if preset is None:
        return {}
    import torch

    has_accelerator = accelerator not in ("cpu",) and torch.cuda.is_available()
    return preset(dataset, has_accelerator)


def _resumed_epoch(out: Path, args: argparse.Namespace) -> list[str]:
    """A resumed run keeps its epoch size (checkpoint and evaluation interval), also when
    ``--steps`` changes to train longer; an explicit ``--set updates_per_epoch`` still wins."""
    saved = out / "config.json"
    if args.restart or not saved.is_file() or not (out / "checkpoints" / "last.ckpt").exists():
        return []
    try:
        epoch = json.loads(saved.read_text())["config"]["updates_per_epoch"]
    except (ValueError, KeyError, TypeError):
        return []
    return [f"updates_per_epoch={int(epoch)}"]


def _attach_env(dataset, env: str) -> None:
    """Record the env of bring-your-own data, so evaluation needs no ``--env`` later."""
    from genpolicy.tasks import TASKS

    if env in TASKS:
        dataset.metadata["task"] = env
        dataset.metadata.setdefault("env_id", TASKS[env].env_id)
    else:
        dataset.metadata["env_id"] = env


def _train(args: argparse.Namespace, algo_class: type, config: Any, dataset, out: Path) -> None:
    """Build the algorithm and fit it into ``out`` with periodic evaluation when an env is known."""
    import torch

    from genpolicy.trainers import fit
    from genpolicy.trainers.callbacks import EvalCallback

    callbacks = []
    online = getattr(algo_class, "online", False)
    env = args.env if online else (dataset.metadata.get("task") or dataset.metadata.get("env_id"))
    if args.eval_episodes > 0 and env:
        callbacks.append(EvalCallback(env, episodes=args.eval_episodes, every_n_epochs=args.eval_every))
    torch.manual_seed(config.seed)
    algo = algo_class(config, args.env, dataset) if online else algo_class(config, dataset)
    fit(
        algo,
        out,
        resume=not args.restart,
        extra_config={"algo_name": args.algo, "data": str(args.data), **({"env": args.env} if args.env else {})},
        callbacks=callbacks,
        devices=args.devices,
        strategy="ddp" if args.devices > 1 else "auto",
        accelerator=args.accelerator,
        progress_bar=sys.stdout.isatty(),
        progress_every_s=args.progress_every,
    )


def cmd_evaluate(args: argparse.Namespace) -> None:
    from genpolicy.evaluation import evaluate
    from genpolicy.models import load_policy

    policy_dir = resolve_policy_dir(args.run)
    policy = load_policy(policy_dir)
    metadata = policy.config.metadata or {}
    if not args.env and not (metadata.get("task") or metadata.get("env_id")):
        raise CLIError(f"{args.run}: the policy records no env (bring-your-own data): pass --env ENV "
                       "(a task name or gymnasium id), or train with `fit --env ENV`")
    # One file per setting, so a short --video run never replaces a 100-episode result.
    env_part = f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', args.env)}-" if args.env else ""
    stem = f"eval-{env_part}{args.episodes}ep-seed{args.seed}"
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

    p = sub.add_parser("fit", help="train an algorithm on a dataset (resumes an existing run)",
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
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("evaluate", help="roll out a trained policy in simulation")
    p.add_argument("run", help="run directory or policy directory")
    p.add_argument("--env", help="task name or gymnasium id (default: from the policy)")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--video", action="store_true", help="also record eval.mp4 of the first episode")
    p.add_argument("--json", help="where to write the results (default RUN/eval.json)")
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
    return parser


def _fit_description() -> str:
    """`fit --help`: the algorithms that exist, and how to stop and resume a run."""
    from genpolicy.trainers import ALGORITHMS

    names = "\n".join(f"  {name:14s} {algo.__name__} ({config.__name__}"
                      + (f", {', '.join(f'{k}={v}' for k, v in variant.items())}" if variant else "") + ")"
                      for name, (algo, config, variant) in ALGORITHMS.items())
    return (f"Train an algorithm on offline data.\n\nalgorithms:\n{names}\n\n"
            "Online algorithms (sac, bro, bro-fast) collect their own data: `fit sac --env Pendulum-v1`\n"
            "(--data then adds offline data to every batch, half and half; --init RUN starts from an offline\n"
            "iql/cql run's actor and critics).\n"
            "See an algorithm's settings with `genpolicy fit ALGO --print-config`. Ctrl-C or SIGTERM stops\n"
            "after the current update and writes RUN/checkpoints/last.ckpt; the same command resumes\n"
            "(also with a larger --steps).")


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
