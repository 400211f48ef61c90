"""Build a Lightning Trainer for an algorithm and run it, resuming where a run left off.

A run directory holds::

    config.json          resolved algorithm config (+ data source) for this run
    checkpoints/last.ckpt  full training state, written every epoch (resume point)
    logs/                CSV + TensorBoard logs
    policy/              the exported stand-alone policy (safetensors + config.json)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from genpolicy.trainers.base import AlgoConfig, OfflineAlgorithm

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


def make_trainer(
    config: AlgoConfig,
    run_dir: str | Path,
    *,
    callbacks: list[Callback] | None = None,
    accelerator: str = "auto",
    devices: int | str = 1,
    strategy: str = "auto",
    progress_bar: bool = True,
    log_every_n_steps: int = 5,
) -> L.Trainer:
    run_dir = Path(run_dir)
    # One rolling checkpoint, overwritten at every epoch end: the resume point.
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints", filename="last", save_top_k=1, every_n_epochs=1,
        enable_version_counter=False,
    )
    # Each (re)start of a run logs into its own logs/version_N, so resuming never erases logs.
    loggers = [
        CSVLogger(run_dir, name="logs"),
        TensorBoardLogger(run_dir, name="logs", default_hp_metric=False),
    ]
    return L.Trainer(
        max_epochs=config.epochs,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        logger=loggers,
        callbacks=[checkpoint, *(callbacks or [])],
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        log_every_n_steps=log_every_n_steps,
        num_sanity_val_steps=0,
        default_root_dir=run_dir,
        deterministic=False,
    )


def fit(
    algo: OfflineAlgorithm,
    run_dir: str | Path,
    *,
    resume: bool = True,
    extra_config: dict[str, Any] | None = None,
    **trainer_kwargs: Any,
) -> OfflineAlgorithm:
    """Train ``algo``, checkpointing into ``run_dir``; resume from its last checkpoint if any.

    The exported policy is written to ``run_dir/policy`` on rank 0.
    """
    limit_threads()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = {"algo": type(algo).__name__, "config": asdict(algo.config), **(extra_config or {})}
    (run_dir / "config.json").write_text(json.dumps(resolved, indent=2, default=str))
    trainer = make_trainer(algo.config, run_dir, **trainer_kwargs)
    last = run_dir / LAST_CHECKPOINT
    ckpt_path = str(last) if resume and last.exists() else None
    trainer.fit(algo, ckpt_path=ckpt_path)
    if trainer.is_global_zero:
        algo.export_policy().save(run_dir / "policy")
    return algo


