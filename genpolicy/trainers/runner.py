"""Build a Lightning Trainer for an algorithm and run it, resuming where a run left off.

A run directory holds::

    config.json            resolved algorithm config (+ data source) for this run
    checkpoints/last.ckpt  full training state, written at every epoch end and when a run is
                           stopped (SIGTERM / Ctrl-C): the resume point, replaced atomically
    logs/version_N/        CSV + TensorBoard logs of the N-th (re)start of the run
    eval_history.json      periodic evaluations of the whole run (continued on resume)
    policy/                the exported stand-alone policy (safetensors + config.json)

Stopping: the first SIGTERM or Ctrl-C stops training after the current update, writes the
checkpoint and raises `TrainingStopped`; running the same ``fit`` again resumes exactly (also
with a larger ``steps``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from genpolicy.trainers.base import AlgoConfig, Algorithm
from genpolicy.trainers.callbacks import ProgressReport, RollingCheckpoint, StopOnSignal

LAST_CHECKPOINT = "checkpoints/last.ckpt"


def limit_threads(max_threads: int | None = None) -> int:
    """Keep torch's intra-op threads at or below the cores this process may use.

    Oversubscription is the classic small-machine slowdown (a 10x drop has been seen on 2
    cores), so every entry point calls this once. ``GENPOLICY_THREADS`` (or, failing that,
    ``OMP_NUM_THREADS``) caps the count further, e.g. when several runs share one machine.
    """
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    caps = [available]
    if max_threads:
        caps.append(max_threads)
    for name in ("GENPOLICY_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            caps.append(int(value))
            break
    threads = max(1, min(caps))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (truncated, corrupt, not a checkpoint): one clear line."""


class TrainingStopped(Exception):
    """Training stopped early on a signal; the checkpoint to resume from has been written."""

    def __init__(self, signum: int | None, updates: int, checkpoint: Path) -> None:
        self.signum, self.updates, self.checkpoint = signum, updates, checkpoint
        super().__init__(f"stopped at update {updates}; checkpoint {checkpoint}; run the same command to resume")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file, synced, then renamed over the old one.

    ``kill -9`` (or a full disk) at any moment leaves either the previous checkpoint or the
    new one, never a truncated file: ``os.replace`` is atomic on POSIX and the data is on
    disk before the rename. A checkpoint that still cannot be read gives `CheckpointError`.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        try:
            return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        except FileNotFoundError:
            raise
        except Exception as error:  # noqa: BLE001 - torch raises many kinds for a bad file
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CheckpointError(
                f"{path}: unreadable checkpoint ({reason}); delete it or pass --restart to start the run over"
            ) from None


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Lightning's info lines that say nothing about this run: an advertisement, hardware lines
# (the accelerator is printed by `fit` itself), and a warning about resuming mid-epoch that
# does not apply (the loader only counts steps; the loop position is in the checkpoint).
_NOISE = re.compile(
    r"litlogger|^(GPU|TPU|HPU) available|resuming from a checkpoint that ended before the epoch ended"
    r"|LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES|`Trainer.fit` stopped: `max_epochs=\d+` reached"
)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _NOISE.search(record.getMessage())


def quiet_lightning() -> None:
    """Silence Lightning's advertising tip, hardware lines and known-harmless warnings."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated.*")  # Lightning vs torch 2.13
    warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch ended.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers which may be a bottleneck.*")
    # Metrics are logged by update count (the algorithm's own logging), not per Lightning step.
    warnings.filterwarnings("ignore", message=r".*is smaller than the logging interval.*")


def next_log_version(run_dir: Path) -> int:
    """The first unused ``logs/version_N``: one per (re)start, shared by CSV and TensorBoard."""
    logs = run_dir / "logs"
    taken = [int(m.group(1)) for p in logs.glob("version_*") if (m := re.fullmatch(r"version_(\d+)", p.name))]
    return max(taken, default=-1) + 1


def make_trainer(
    config: AlgoConfig,
    run_dir: str | Path,
    *,
    callbacks: list[Callback] | None = None,
    accelerator: str = "auto",
    devices: int | str = 1,
    strategy: str = "auto",
    progress_bar: bool = True,
    progress_every_s: float = 30.0,
    log_every_n_steps: int = 5,
) -> L.Trainer:
    """A Trainer that checkpoints atomically, stops cleanly on signals and reports progress.

    The run's own callbacks (stop on signal, rolling checkpoint, progress) come first;
    ``callbacks`` are added after them.
    """
    quiet_lightning()
    run_dir = Path(run_dir)
    stop = StopOnSignal()
    own = [stop, RollingCheckpoint(run_dir / LAST_CHECKPOINT, stop=stop),
           ProgressReport(every_s=progress_every_s, lines=None if progress_bar else True)]
    # Each (re)start of a run logs into its own logs/version_N, so resuming never erases logs;
    # both loggers get the same N (left alone, TensorBoard would pick CSV's N + 1).
    version = next_log_version(run_dir)
    loggers = [
        CSVLogger(run_dir, name="logs", version=version),
        TensorBoardLogger(run_dir, name="logs", version=version, default_hp_metric=False),
    ]
    return L.Trainer(
        max_epochs=config.epochs,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        logger=loggers,
        callbacks=[*own, *(callbacks or [])],
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        log_every_n_steps=log_every_n_steps,
        num_sanity_val_steps=0,
        # The loader only counts steps (batches come from each rank's own generator): every
        # rank must see all of them, not the half a DistributedSampler would hand it.
        use_distributed_sampler=False,
        default_root_dir=run_dir,
        deterministic=False,
    )


def fit(
    algo: Algorithm,
    run_dir: str | Path,
    *,
    resume: bool = True,
    extra_config: dict[str, Any] | None = None,
    **trainer_kwargs: Any,
) -> Algorithm:
    """Train ``algo``, checkpointing into ``run_dir``; resume from its last checkpoint if any.

    The exported policy is written to ``run_dir/policy`` on rank 0 when training finishes.
    A run stopped by SIGTERM / Ctrl-C raises `TrainingStopped` after its checkpoint is
    written (no policy is exported: the run is not finished). The number of epochs follows
    ``algo.config.steps``, so resuming with a larger ``steps`` trains on.
    """
    limit_threads()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = {"algo": type(algo).__name__, "config": asdict(algo.config), **(extra_config or {})}
    _write_atomically(run_dir / "config.json", json.dumps(resolved, indent=2, default=str))
    trainer = make_trainer(algo.config, run_dir, **trainer_kwargs)
    last = run_dir / LAST_CHECKPOINT
    ckpt_path = str(last) if resume and last.exists() else None
    trainer.fit(algo, ckpt_path=ckpt_path)
    done = int(algo.num_updates)
    if done < algo.config.steps:  # stopped early (a signal, possibly during an evaluation)
        stop = next(c for c in trainer.callbacks if isinstance(c, StopOnSignal))
        raise TrainingStopped(stop.signum, done, last)
    if trainer.is_global_zero:
        algo.export_policy().save(run_dir / "policy")
    return algo


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` with no moment where it is half written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
