"""A learned reward that stands alone: an MLP ``r(s)`` (or ``r(s, a)``), saved and loaded without
training code, like a policy.

AIRL (`genpolicy.trainers.airl`) learns ``g`` of its shaped discriminator as a `RewardNet` and
writes it to ``RUN/reward/`` (``model.safetensors`` + ``config.json``). ``load_reward(RUN)``
gives it back as a plain ``nn.Module``: re-optimize it with any RL algorithm in a changed env
(the AIRL transfer claim), plot it, or score trajectories. Its inputs are raw observations
(and actions in the env's units): the normalization is inside, with the statistics it was
trained with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_model, save_model
from torch import nn

REWARD_DIR = "reward"


@dataclass
class RewardNetConfig:
    obs_dim: int
    act_dim: int = 0  # 0: a state-only reward r(s) (AIRL's disentangled form)
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])
    activation: Literal["relu", "tanh"] = "relu"
    metadata: dict[str, Any] = field(default_factory=dict)  # env id, wrappers, what learned it


class RewardNet(nn.Module):
    """``r(s[, a]) -> [B]``: an MLP on standardized observations (and [-1, 1]-scaled actions)."""

    def __init__(self, config: RewardNetConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("obs_mean", torch.zeros(config.obs_dim))
        self.register_buffer("obs_std", torch.ones(config.obs_dim))
        self.register_buffer("action_low", -torch.ones(config.act_dim))
        self.register_buffer("action_high", torch.ones(config.act_dim))
        activation = {"relu": nn.ReLU, "tanh": nn.Tanh}[config.activation]
        layers: list[nn.Module] = []
        width = config.obs_dim + config.act_dim
        for hidden in config.hidden_dims:
            layers += [nn.Linear(width, hidden), activation()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    @torch.no_grad()
    def set_statistics(self, obs_mean: torch.Tensor, obs_std: torch.Tensor, action_low: torch.Tensor | None = None,
                       action_high: torch.Tensor | None = None) -> "RewardNet":
        self.obs_mean.copy_(obs_mean)
        self.obs_std.copy_(obs_std.clamp_min(1e-3))
        if action_low is not None and self.config.act_dim:
            self.action_low.copy_(action_low)
            self.action_high.copy_(action_high)
        return self

    def forward(self, obs: torch.Tensor, actions: torch.Tensor | None = None) -> torch.Tensor:
        x = (obs - self.obs_mean) / self.obs_std
        if self.config.act_dim:
            if actions is None:
                raise ValueError("this reward is r(s, a): pass actions")
            span = (self.action_high - self.action_low).clamp_min(1e-6)
            x = torch.cat([x, 2.0 * (actions - self.action_low) / span - 1.0], dim=-1)
        return self.net(x).squeeze(-1)

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_model(self, str(directory / "model.safetensors"))
        (directory / "config.json").write_text(json.dumps({"class": "RewardNet", "config": asdict(self.config)},
                                                          indent=2, default=str))
        return directory


def load_reward(path: str | Path, device: str | torch.device = "cpu") -> RewardNet:
    """The reward saved in a run directory (``RUN/reward``) or a reward directory, in eval mode."""
    path = Path(path)
    directory = path / REWARD_DIR if (path / REWARD_DIR / "config.json").exists() else path
    if not (directory / "config.json").exists():
        raise FileNotFoundError(f"{path}: no saved reward (expected {path / REWARD_DIR}/config.json; AIRL runs write it)")
    saved = json.loads((directory / "config.json").read_text())
    reward = RewardNet(RewardNetConfig(**saved["config"]))
    load_model(reward, str(directory / "model.safetensors"), device=str(device))
    return reward.to(device).eval()


__all__ = ["REWARD_DIR", "RewardNet", "RewardNetConfig", "load_reward"]
