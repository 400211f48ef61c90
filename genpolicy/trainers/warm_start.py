"""Offline-to-online: start an online actor-critic from a finished offline run.

``genpolicy fit sac --env ENV --init RUN`` (config ``init=RUN``) takes from an offline IQL or CQL
run (or an earlier online run):

* the actor: the run's saved policy (``RUN/policy``), with the observation and action
  normalizers it was trained with, so the online learner sees observations exactly as the
  offline one did;
* the critic ensemble and its target copy, from the run's last checkpoint, with the critic
  architecture recorded in the run's config;
* the entropy temperature when the run learned one (CQL, SAC);
* the reward scale the critic was trained with (IQL/CQL rescale rewards by the data's return
  range), so online Q targets continue on the same scale instead of starting a jump.

Warm-up steps then act with this actor rather than uniformly at random (a random warm-up
would fill the buffer with exactly the data a pretrained agent does not need). Optionally the
offline data itself is mixed into every batch (``--data``, symmetric sampling as in RLPD).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genpolicy.models.base import Policy, load_policy
from genpolicy.models.critics import CriticConfig

# Offline algorithms whose actor can be trained further by SAC (a stochastic tanh-Gaussian).
STOCHASTIC_ACTOR_POLICY = "bc-gaussian"


@dataclass
class WarmStart:
    """What an online learner takes over from a finished run."""

    run_dir: Path
    algo: str
    actor: Policy
    critic_config: CriticConfig
    critic_state: dict[str, torch.Tensor]
    critic_target_state: dict[str, torch.Tensor] | None
    temperature: float | None
    reward_scale: float


def load_warm_start(run_dir: str | Path) -> WarmStart:
    """Read actor, critic, temperature and reward scale of the run at ``run_dir``; one clear
    error naming the run and the missing piece when it cannot serve as a start."""
    from genpolicy.trainers.runner import AtomicCheckpointIO

    run_dir = Path(run_dir)
    config_file = run_dir / "config.json"
    checkpoint_file = run_dir / "checkpoints" / "last.ckpt"
    for needed in (config_file, checkpoint_file):
        if not needed.is_file():
            raise FileNotFoundError(f"--init {run_dir}: no {needed.relative_to(run_dir)} (a finished `genpolicy fit` run directory is expected)")
    saved = json.loads(config_file.read_text())
    algo, config = saved.get("algo", "?"), saved.get("config", {})
    if "critic" not in config:
        raise ValueError(f"--init {run_dir}: the {algo} run has no critic to start from (use an iql, cql or sac run)")
    actor = load_policy(run_dir)
    if actor.name != STOCHASTIC_ACTOR_POLICY:
        raise ValueError(f"--init {run_dir}: the {algo} run's actor is {actor.name!r}; online SAC continues a "
                         f"stochastic {STOCHASTIC_ACTOR_POLICY!r} actor (iql with actor_head=gaussian, cql or sac runs)")
    checkpoint = AtomicCheckpointIO().load_checkpoint(checkpoint_file, map_location="cpu", weights_only=False)
    weights = checkpoint["state_dict"]
    critic_state = _prefixed(weights, "critic.")
    target_state = _prefixed(weights, "critic_target.") or None
    temperature_state = _prefixed(weights, "temperature.")
    temperature = float(next(iter(temperature_state.values())).exp()) if temperature_state else None
    return WarmStart(run_dir, algo, actor.train(), CriticConfig(**config["critic"]), critic_state, target_state,
                     temperature, _reward_scale(run_dir, saved, checkpoint))


def _prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}


def _reward_scale(run_dir: Path, saved: dict[str, Any], checkpoint: dict[str, Any]) -> float:
    """The factor the run's critic saw rewards multiplied by."""
    recorded = checkpoint.get("offline_rl", {}).get("reward_scale")
    if recorded is not None:
        return float(recorded)
    config = saved.get("config", {})
    reward = config.get("reward") if isinstance(config.get("reward"), dict) else {}
    how = reward.get("normalize", config.get("reward_scale", 1.0))  # (older runs: reward_scale)
    if isinstance(how, (int, float)):  # an online run of an older version: a plain factor
        return float(how)
    if how == "none":
        return float(reward.get("scale", 1.0))
    data = saved.get("data")
    if not data or data == "None":
        raise ValueError(f"--init {run_dir}: the run scaled rewards by its data's return range but records neither the "
                         "factor nor its data; rerun the offline fit (new runs record it)")
    from genpolicy.datasets import load_dataset
    from genpolicy.trainers.actor_critic import return_range_scale

    return float(reward.get("scale", 1.0)) * return_range_scale(load_dataset(data))


__all__ = ["STOCHASTIC_ACTOR_POLICY", "WarmStart", "load_warm_start"]
