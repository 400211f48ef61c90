"""The one policy API every trained policy implements, and its save/load.

A policy maps *raw* environment observations to *raw* actions; normalization lives inside
it as buffers, so a saved policy runs without the dataset or any training code.

Every policy is a chunked policy (LeRobot's action-queue pattern): it keeps the last
``obs_horizon`` (To) observations, predicts ``pred_horizon`` (Tp) actions from them and
executes the first ``action_horizon`` (Ta) before predicting again. Single-step policies are
the case To = Tp = Ta = 1, so evaluation has one code path.

Chunk convention: the predicted chunk starts at the *current* step t, i.e.
``actions[t : t + Tp]`` given ``observations[t - To + 1 : t + 1]``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from genpolicy.models.normalizers import Normalizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

_POLICIES: dict[str, type["Policy"]] = {}


def register_policy(name: str):
    """Class decorator: make a policy loadable by name from its saved config."""

    def wrap(cls: type[Policy]) -> type[Policy]:
        if name in _POLICIES and _POLICIES[name] is not cls:
            raise ValueError(f"policy name {name!r} registered twice")
        cls.name = name
        _POLICIES[name] = cls
        return cls

    return wrap


@dataclass
class PolicyConfig:
    """Fields shared by all policies. Subclasses add their own (all with defaults).

    ``obs_dim`` / ``act_dim`` (and bounds, layout, metadata) come from the dataset when an
    algorithm builds the policy; 0 means "not known yet", so a policy config can sit inside
    an algorithm config with defaults only."""

    obs_dim: int = 0
    act_dim: int = 0
    obs_horizon: int = 1
    pred_horizon: int = 1
    action_horizon: int = 1
    obs_norm: str = "standard"
    action_norm: str = "standard"
    # Raw action bounds; actions are clipped to them at execution time.
    action_low: list[float] | None = None
    action_high: list[float] | None = None
    # key -> [start, stop] for dict observations flattened by the loader.
    obs_layout: dict[str, list[int]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.action_horizon <= self.pred_horizon:
            raise ValueError(
                f"need 1 <= action_horizon ({self.action_horizon}) <= pred_horizon ({self.pred_horizon})"
            )


class Policy(nn.Module):
    """Base class: raw batched observations in, raw actions out.

    Subclasses implement ``predict_chunk`` (the action used for control) and may override
    ``sample_chunk`` (a draw from the policy's distribution, used by ``sample``).
    """

    name: ClassVar[str] = "policy"
    config_class: ClassVar[type[PolicyConfig]] = PolicyConfig

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        self.obs_normalizer = Normalizer(config.obs_dim, config.obs_norm)
        self.action_normalizer = Normalizer(config.act_dim, config.action_norm)
        inf = torch.full((config.act_dim,), float("inf"))
        low = inf.neg() if config.action_low is None else torch.as_tensor(config.action_low, dtype=torch.float32)
        high = inf if config.action_high is None else torch.as_tensor(config.action_high, dtype=torch.float32)
        self.register_buffer("action_low", low, persistent=False)
        self.register_buffer("action_high", high, persistent=False)
        self._history: torch.Tensor | None = None  # [B, To, obs_dim] raw
        self._queue: torch.Tensor | None = None  # [B, Ta, act_dim] raw
        self._queue_index: torch.Tensor | None = None  # [B], Ta means empty
        self._fresh: torch.Tensor | None = None  # [B] bool: episode just (re)started

    # ------------------------------------------------------------ subclass API
    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        """``[B, To, obs_dim]`` raw observations -> ``[B, Tp, act_dim]`` raw actions."""
        raise NotImplementedError

    def sample_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        """One draw from the policy's action distribution (default: ``predict_chunk``)."""
        return self.predict_chunk(obs_history)

    # ----------------------------------------------- actor training (normalized units)
    # Actor-critic algorithms train single-step policies through these; like ``loss`` they
    # work on *normalized* observations ``[B, obs_dim]`` and actions ``[B, act_dim]``
    # (actions in [-1, 1] with ``action_norm="minmax"``), the units critics see.
    def rsample(self, obs_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterized action draw and its log-density: ``([B, act_dim], [B])``."""
        raise NotImplementedError(f"policy {self.name!r} has no differentiable sampling (rsample)")

    def log_prob(self, obs_norm: torch.Tensor, actions_norm: torch.Tensor) -> torch.Tensor:
        """Log-density ``[B]`` of normalized actions under the policy."""
        raise NotImplementedError(f"policy {self.name!r} has no log_prob")

    def mean_action(self, obs_norm: torch.Tensor) -> torch.Tensor:
        """The differentiable action used for control, normalized: ``[B, act_dim]``."""
        raise NotImplementedError(f"policy {self.name!r} has no differentiable mean action")

    # -------------------------------------------------------------- public API
    @property
    def device(self) -> torch.device:
        return self.obs_normalizer.shift.device

    def reset(self, mask: np.ndarray | torch.Tensor | None = None) -> None:
        """Forget history and queued actions: all envs, or only those where ``mask`` is True."""
        if mask is None or self._history is None:
            self._history = self._queue = self._queue_index = self._fresh = None
            return
        mask = torch.as_tensor(np.asarray(mask), dtype=torch.bool, device=self.device)
        self._fresh |= mask
        self._queue_index[mask] = self.config.action_horizon

    def observe_reward(self, rewards: np.ndarray | torch.Tensor) -> None:
        """Hear the rewards of the step just taken. Return-conditioned policies (Decision
        Transformer) need them to lower their return-to-go; the rest ignore them."""

    @torch.no_grad()
    def act(self, obs: Any) -> np.ndarray:
        """Raw observations ``[B, obs_dim]`` (or one ``[obs_dim]``, or a dict) -> ``[B, act_dim]``."""
        was_training = self.training
        if was_training:
            self.eval()
        obs_t, single = self._prepare_obs(obs)
        action = self._step(obs_t)
        if was_training:
            self.train()
        action = action.cpu().numpy()
        return action[0] if single else action

    @torch.no_grad()
    def sample(self, obs: Any, num_samples: int) -> torch.Tensor:
        """Draw ``num_samples`` action chunks per observation: ``[B, N, Tp, act_dim]``, raw units.

        ``obs`` is ``[B, obs_dim]`` (history filled by repetition, as at an episode start)
        or a history ``[B, To, obs_dim]``. Stateless: the action queue is untouched.
        """
        was_training = self.training
        if was_training:
            self.eval()
        obs_t, _ = self._prepare_obs(obs, allow_history=True)
        if obs_t.ndim == 2:
            obs_t = obs_t[:, None].expand(-1, self.config.obs_horizon, -1)
        batch = obs_t.shape[0]
        repeated = obs_t.repeat_interleave(num_samples, dim=0)
        chunks = self._clip(self.sample_chunk(repeated))
        if was_training:
            self.train()
        return chunks.reshape(batch, num_samples, self.config.pred_horizon, self.config.act_dim)

    # ------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` and ``config.json`` (class name + config)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_model(self, str(directory / WEIGHTS_FILE))
        payload = {"policy": self.name, "config": asdict(self.config)}
        (directory / CONFIG_FILE).write_text(json.dumps(payload, indent=2))
        return directory

    # -------------------------------------------------------------- internals
    def _prepare_obs(self, obs: Any, allow_history: bool = False) -> tuple[torch.Tensor, bool]:
        if isinstance(obs, Mapping):
            obs = flatten_observation(obs, self.config.obs_layout)
        obs_t = torch.as_tensor(np.asarray(obs) if not torch.is_tensor(obs) else obs)
        obs_t = obs_t.to(device=self.device, dtype=torch.float32)
        single = obs_t.ndim == 1
        if single:
            obs_t = obs_t[None]
        max_ndim = 3 if allow_history else 2
        if obs_t.ndim > max_ndim or obs_t.shape[-1] != self.config.obs_dim:
            raise ValueError(
                f"{type(self).__name__} expects observations [..., {self.config.obs_dim}], "
                f"got shape {tuple(obs_t.shape)}"
            )
        return obs_t, single

    def _step(self, obs: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.obs_horizon == 1 and cfg.action_horizon == 1:  # single-step policy: no state
            return self._clip(self.predict_chunk(obs[:, None]))[:, 0]
        batch = obs.shape[0]
        if self._history is None or self._history.shape[0] != batch:
            self._history = obs[:, None].repeat(1, cfg.obs_horizon, 1)
            self._queue = obs.new_zeros(batch, cfg.action_horizon, cfg.act_dim)
            self._queue_index = torch.full((batch,), cfg.action_horizon, device=obs.device)
            self._fresh = torch.zeros(batch, dtype=torch.bool, device=obs.device)
        else:
            rolled = torch.cat([self._history[:, 1:], obs[:, None]], dim=1)
            restarted = obs[:, None].expand(-1, cfg.obs_horizon, -1)
            self._history = torch.where(self._fresh[:, None, None], restarted, rolled)
            self._fresh.zero_()
        empty = self._queue_index >= cfg.action_horizon
        if bool(empty.any()):
            chunk = self._clip(self.predict_chunk(self._history[empty]))
            self._queue[empty] = chunk[:, : cfg.action_horizon]
            self._queue_index[empty] = 0
        action = self._queue[torch.arange(batch, device=obs.device), self._queue_index]
        self._queue_index += 1
        return action

    def _clip(self, actions: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(actions, self.action_high), self.action_low)


def flatten_observation(obs: Mapping[str, Any], layout: dict[str, list[int]] | None) -> np.ndarray:
    """Concatenate a dict observation along its last axis in the layout's order."""
    if layout is None:
        raise ValueError("got a dict observation but the policy has no obs_layout")
    keys = sorted(layout, key=lambda key: layout[key][0])
    missing = [key for key in keys if key not in obs]
    if missing:
        raise ValueError(f"dict observation lacks keys {missing} (layout has {keys})")
    return np.concatenate([np.asarray(obs[key], dtype=np.float32) for key in keys], axis=-1)


def build_policy(name: str, config: dict[str, Any] | PolicyConfig) -> Policy:
    if name not in _POLICIES:
        raise ValueError(f"unknown policy {name!r}; known: {sorted(_POLICIES)}")
    cls = _POLICIES[name]
    if isinstance(config, dict):
        known = {f.name for f in fields(cls.config_class)}
        config = cls.config_class(**{k: v for k, v in config.items() if k in known})
    return cls(config)


def load_policy(directory: str | Path, device: str | torch.device = "cpu") -> Policy:
    """Rebuild a saved policy from ``config.json`` + ``model.safetensors`` (no training code).

    ``directory`` is a policy directory or a training run directory (then its ``policy/`` is
    used): the README points users at run directories, so both must work. Anything else is
    refused with a message that says what was expected, not a ``KeyError``.
    """
    directory = _policy_directory(Path(directory))
    import genpolicy.models  # noqa: F401  (registers the built-in policies)

    payload = json.loads((directory / CONFIG_FILE).read_text())
    policy = build_policy(payload["policy"], payload["config"])
    load_model(policy, str(directory / WEIGHTS_FILE), device=str(device))
    return policy.to(device).eval()


def _policy_directory(path: Path) -> Path:
    """``path`` itself if it holds a saved policy, else its ``policy/`` (a run directory)."""
    for candidate in (path, path / "policy"):
        if _is_policy_directory(candidate):
            return candidate
    if (path / "checkpoints").is_dir() and not (path / "policy").exists():
        raise FileNotFoundError(f"{path}: a run directory without policy/ (the run has not finished; run `genpolicy fit` again to resume it)")
    raise FileNotFoundError(
        f"{path}: not a saved policy ({CONFIG_FILE} naming a policy + {WEIGHTS_FILE}) nor a run directory with policy/"
    )


def _is_policy_directory(path: Path) -> bool:
    """True for a directory written by `Policy.save` (a run's own config.json names no policy)."""
    config_path = path / CONFIG_FILE
    if not (config_path.is_file() and (path / WEIGHTS_FILE).is_file()):
        return False
    try:
        payload = json.loads(config_path.read_text())
    except json.JSONDecodeError:
        return False
    return isinstance(payload, dict) and "policy" in payload and "config" in payload
