"""`genpolicy.train`: the one library entry for "train this algorithm on this data / env".

::

    import genpolicy
    run = genpolicy.train("bc", data="pendulum", out="runs/pend-bc", steps=2000)
    print(run.eval_history[-1])                       # periodic evaluations in simulation
    print(genpolicy.evaluate(run.policy, episodes=20).table())

Here, and only here, meet: the config (defaults <- algorithm variant <- config file or
mapping <- dotted overrides <- ``steps``; a device preset below the user's values), the data
sources (``data=`` becomes the dataset source the algorithm names, ``env=`` an env collector
with the algorithm's and the user's env wrappers, ``sources=`` anything else), periodic
evaluation (on the data's env, or on the collector's env as wrapped), the run directory and
resume. ``genpolicy fit`` and every script in ``benchmarks/`` call it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.sources import Source, Sources

__all__ = ["Run", "build_sources", "default_run_dir", "resolve_config", "train"]


@dataclass
class Run:
    """A finished training run: its directory, the trained algorithm and its evaluations."""

    dir: Path
    algo: Any
    config: Any
    eval_history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def policy(self) -> Any:
        """The exported stand-alone policy (what ``RUN/policy`` holds)."""
        return self.algo.export_policy().eval()

    def evaluate(self, episodes: int = 20, seed: int = 0, **kwargs: Any) -> Any:
        """`genpolicy.evaluate` of the policy on the env it was trained for (or ``env=``)."""
        from genpolicy.evaluation import evaluate

        return evaluate(self.policy, kwargs.pop("env", None), episodes=episodes, seed=seed, **kwargs)


# ------------------------------------------------------------------------- config
def default_run_dir(algo: str, data: Any) -> Path:
    """``runs/ALGO-NAME``: NAME is a file's stem (``bc-file``, not ``bc-file.hdf5``) or the
    last part of a directory, task name, env id or Minari id."""
    path = Path(str(data or ""))
    name = path.stem if path.suffix.lower() in (".hdf5", ".h5", ".npz") else path.name
    return Path("runs") / f"{algo}-{name}"


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Config keys from a JSON/YAML file (or a run's saved ``config.json``)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    text = file.read_text()
    if file.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if isinstance(data, dict) and "config" in data and "algo" in data:  # a run's saved config.json
        data = data["config"]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of config keys")
    return data


def parse_overrides(overrides: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
    """``{"critic.width": 512}`` as it is, or ``["critic.width=512", ...]`` (values read as JSON
    where they parse, else as strings)."""
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    values: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def resolved_epoch(run_dir: Path | None) -> dict[str, Any]:
    """A resumed run keeps its epoch size (checkpoint and evaluation interval), also when
    ``steps`` changes to train longer; an explicit ``updates_per_epoch`` still wins."""
    if run_dir is None:
        return {}
    saved = Path(run_dir) / "config.json"
    if not saved.is_file() or not (Path(run_dir) / "checkpoints" / "last.ckpt").exists():
        return {}
    try:
        return {"updates_per_epoch": int(json.loads(saved.read_text())["config"]["updates_per_epoch"])}
    except (ValueError, KeyError, TypeError):
        return {}


def resolve_config(config_class: type, variant: Mapping[str, Any] | None = None, *,
                   config: str | Path | Mapping[str, Any] | None = None,
                   overrides: Mapping[str, Any] | Sequence[str] | None = None, steps: int | None = None,
                   preset: Mapping[str, Any] | None = None, resumed: Mapping[str, Any] | None = None) -> Any:
    """Defaults <- device preset <- algorithm variant <- config file/mapping <- resumed epoch
    size <- overrides <- ``steps``, checked against the field types (`genpolicy.config`).

    Short runs still get a few checkpoints: unless set, an epoch is at most a tenth of the run.
    """
    from genpolicy.config import build_config, nest

    values: dict[str, Any] = nest({**(preset or {})})
    values = nest({**values, **(variant or {})})
    if config is not None:
        values = nest({**values, **(read_config_file(config) if isinstance(config, (str, Path)) else dict(config))})
    values = nest({**values, **(resumed or {})})
    for key, value in parse_overrides(overrides).items():
        values = nest({**values, key: value})
    if steps is not None:
        values["steps"] = steps
    if "steps" in values and "updates_per_epoch" not in values:
        default = config_class.__dataclass_fields__["updates_per_epoch"].default
        step_chunk = values.get("updates_per_step", config_class.__dataclass_fields__["updates_per_step"].default)
        if isinstance(values["steps"], int) and isinstance(step_chunk, int):
            values["updates_per_epoch"] = max(step_chunk, min(default, values["steps"] // 10 // step_chunk * step_chunk))
    return build_config(config_class, values)


# ------------------------------------------------------------------------ sources
def attach_env(dataset: OfflineDataset, env: str) -> None:
    """Record the env of bring-your-own data, so evaluation needs no ``env`` later."""
    from genpolicy.tasks import TASKS

    if env in TASKS:
        dataset.metadata["task"] = env
        dataset.metadata.setdefault("env_id", TASKS[env].env_id)
    else:
        dataset.metadata["env_id"] = env


def make_collector(env: Any, config: Any, wrappers: Sequence[Any] = ()) -> Source:
    """An env collector for ``env`` (a task name, ``Task`` or gymnasium id) with the config's
    collection settings (``num_envs``, ``autoreset``, ``buffer_size``, ``seed``)."""
    from genpolicy.datasets.collector import EnvCollector
    from genpolicy.evaluation.envs import resolve_env

    target = resolve_env(env, wrappers=[])
    info: dict[str, Any] = {"env_id": target.env_id}
    if target.task is not None:
        info["task"] = target.name
    if target.ref_min_score is not None and target.ref_max_score is not None:
        info.update(ref_min_score=target.ref_min_score, ref_max_score=target.ref_max_score)
    return EnvCollector(target.make_env, env_info=info, wrappers=list(wrappers), num_envs=config.num_envs,
                        autoreset=config.autoreset, buffer_size=config.buffer_size, seed=config.seed)


def build_sources(algo_class: type, config: Any, *, data: OfflineDataset | None = None, env: Any = None,
                  wrappers: Sequence[Any] = (), sources: Mapping[str, Source] | None = None) -> Sources:
    """The sources ``algo_class`` draws from: ``data`` under the name it gives datasets
    (``data_source``), an env collector when it learns from interaction (``needs_env``), plus
    ``sources``. The collector's env is wrapped by ``wrappers`` (the user's: they change the
    env itself, e.g. ``append-x``) and then by the algorithm's own (``env_wrappers(config)``,
    e.g. GAIL's absorbing states, DIAYN's skill), outermost, since they make the interface the
    algorithm reads (a skill or an absorbing flag in the last entries)."""
    named: dict[str, Source] = {}
    if data is not None:
        if algo_class.data_source is None:
            raise ValueError(f"{algo_class.__name__} takes no dataset (it learns from its env alone)")
        named[algo_class.data_source] = data
    if algo_class.needs_env:
        if env is None:
            raise ValueError(f"{algo_class.__name__} learns online: pass env=ENV (--env: a task name or gymnasium id, "
                             "e.g. Pendulum-v1)")
        own = getattr(algo_class, "env_wrappers", None)
        named["env"] = make_collector(env, config, [*wrappers, *(own(config) if own else [])])
    named.update(sources or {})
    return Sources(named)


def _lookup(algo: str | type) -> tuple[str, type, type, dict]:
    from genpolicy.trainers import ALGORITHMS, get_algorithm

    if isinstance(algo, str):
        return (algo, *get_algorithm(algo))
    for name, (algo_class, config_class, variant) in ALGORITHMS.items():
        if algo_class is algo and not variant:
            return name, algo_class, config_class, variant
    raise ValueError(f"{getattr(algo, '__name__', algo)!r} is not a registered algorithm (register_algorithm)")


# -------------------------------------------------------------------------- train
def train(
    algo: str | type,
    *,
    data: str | Path | OfflineDataset | None = None,
    env: Any = None,
    out: str | Path | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    steps: int | None = None,
    wrappers: Sequence[Any] = (),
    sources: Mapping[str, Source] | None = None,
    eval_episodes: int = 10,
    eval_every: int = 5,
    eval_env: Any = None,
    callbacks: Sequence[Callback] = (),
    restart: bool = False,
    devices: int = 1,
    accelerator: str = "auto",
    progress_bar: bool | None = None,
    progress_every_s: float = 30.0,
    data_episodes: int | None = None,
    data_noise: float = 0.0,
    data_seed: int = 0,
    download: bool = False,
    device_preset: bool = True,
    verbose: bool = True,
) -> Run:
    """Train ``algo`` (a registered name or class) into ``out`` and return the `Run`.

    ``data``: a dataset, or a Minari id/dir, HDF5/NPZ file or task name (a task collects and
    caches its expert data: ``data_episodes``, ``data_noise``, ``data_seed``). ``env``: the env
    an online learner collects in (a task name, ``Task`` or gymnasium id), or the env of
    bring-your-own offline data. ``config`` / ``overrides`` / ``steps``: see `resolve_config`.
    ``eval_episodes`` > 0 evaluates every ``eval_every`` epochs on ``eval_env`` (default: the
    env of the data or of the collector). ``device_preset``: apply the algorithm's defaults for
    this data and device below the user's settings (diffusion's CPU recipe); benchmarks that
    pin every setting pass False. A run directory with a checkpoint resumes (unless
    ``restart``); a stop by SIGTERM / Ctrl-C raises `TrainingStopped` after checkpointing.
    """
    import torch

    from genpolicy.datasets.resolve import resolve_data
    from genpolicy.trainers.callbacks import EvalCallback
    from genpolicy.trainers.runner import fit

    say = print if verbose else (lambda *a, **k: None)
    name, algo_class, config_class, variant = _lookup(algo)
    out = Path(out) if out is not None else default_run_dir(name, data if data is not None and not isinstance(data, OfflineDataset) else env)
    resumed = {} if restart else resolved_epoch(out)
    resolved = resolve_config(config_class, variant, config=config, overrides=overrides, steps=steps, resumed=resumed)

    dataset = None
    if data is not None:
        dataset = data if isinstance(data, OfflineDataset) else resolve_data(data, data_episodes, data_noise, data_seed,
                                                                              download=download)
        if env is not None and not algo_class.needs_env:
            attach_env(dataset, env)
        say(f"data: {dataset.summary()}")
        preset_of = getattr(algo_class, "device_preset", None)
        if device_preset and preset_of is not None and not algo_class.needs_env:
            preset = preset_of(dataset, accelerator != "cpu" and torch.cuda.is_available())
            if preset:  # settings the user did not give, chosen for this data and device
                resolved = resolve_config(config_class, variant, config=config, overrides=overrides, steps=steps,
                                          preset=preset, resumed=resumed)
                say(f"{name}: defaults for this data on this device: "
                    + ", ".join(f"{k}={v}" for k, v in preset.items()) + " (each overridable with --set)")
    run_sources = build_sources(algo_class, resolved, data=dataset, env=env, wrappers=wrappers, sources=sources)
    collector = run_sources.collector
    if collector is not None:
        say(f"env: {collector.metadata.get('env_id')}"
            + (f" wrapped by {', '.join(w['name'] for w in collector.wrappers)}" if collector.wrappers else "")
            + f"; ≈ {resolved.env_steps_for(resolved.steps)} env steps for {resolved.steps} updates "
            f"(replay ratio {resolved.replay_ratio:g}, {resolved.warmup_steps} random warm-up steps)"
            + ("; offline data mixed in" if dataset is not None else ""))

    evaluation: EvalCallback | None = None
    target = eval_env or (collector.metadata.get("task") or collector.metadata.get("env_id") if collector is not None
                          else dataset.metadata.get("task") or dataset.metadata.get("env_id") if dataset is not None
                          else None)
    if eval_episodes > 0 and target:
        evaluation = EvalCallback(target, episodes=eval_episodes, every_n_epochs=eval_every)
    torch.manual_seed(resolved.seed)
    trained = algo_class(resolved, run_sources)
    record = {"algo_name": name, "data": str(data) if data is not None and not isinstance(data, OfflineDataset)
              else (dataset.metadata.get("source") if dataset is not None else None)}
    if env is not None:
        record["env"] = env if isinstance(env, str) else getattr(env, "name", str(env))
    if collector is not None and collector.wrappers:
        record["env_wrappers"] = collector.wrappers
    fit(trained, out, resume=not restart, extra_config=record,
        callbacks=[*([evaluation] if evaluation else []), *callbacks], devices=devices,
        strategy="ddp" if devices > 1 else "auto", accelerator=accelerator,
        progress_bar=sys.stdout.isatty() if progress_bar is None else progress_bar, progress_every_s=progress_every_s)
    say(f"policy saved to {out / 'policy'}")
    return Run(out, trained, resolved, list(evaluation.history) if evaluation else [])
