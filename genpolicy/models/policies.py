"""Behaviour-cloning policies: deterministic (MSE), tanh-Gaussian and Gaussian mixture.

All three predict a chunk of ``pred_horizon`` actions from a flattened observation history,
so with To = Tp = 1 they are the classic single-step BC policies and with longer horizons
they are the "BC with action chunking" baselines. Each exposes ``loss(obs, actions)`` on
*normalized* tensors so the trainer stays algorithm-agnostic about heads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import distributions as D

from genpolicy.models.base import Policy, PolicyConfig, register_policy
from genpolicy.models.nets import mlp

_LOG_STD_MIN, _LOG_STD_MAX = -5.0, 2.0


@dataclass
class MLPPolicyConfig(PolicyConfig):
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])
    dropout: float = 0.0
    layer_norm: bool = False


class _MLPPolicy(Policy):
    """Shared trunk: normalized obs history -> MLP -> ``output_size()`` numbers per chunk step."""

    def __init__(self, config: MLPPolicyConfig) -> None:
        super().__init__(config)
        in_dim = config.obs_horizon * config.obs_dim
        self.net = mlp(in_dim, config.hidden_dims, self.net_output_dim(), layer_norm=config.layer_norm, dropout=config.dropout)

    def net_output_dim(self) -> int:
        return self.config.pred_horizon * self.output_size()

    def output_size(self) -> int:
        return self.config.act_dim

    def features(self, obs_norm: torch.Tensor) -> torch.Tensor:
        """``[B, To, obs_dim]`` normalized -> ``[B, Tp, output_size]``."""
        out = self.net(rearrange(obs_norm, "b t d -> b (t d)"))
        return rearrange(out, "b (t k) -> b t k", t=self.config.pred_horizon)

    def _normalized(self, obs_history: torch.Tensor) -> torch.Tensor:
        return self.obs_normalizer.normalize(obs_history)


@register_policy("bc-mse")
class DeterministicPolicy(_MLPPolicy):
    """Regresses the mean action: the baseline that averages a multimodal demonstrator."""

    config_class = MLPPolicyConfig

    def loss(self, obs_norm: torch.Tensor, actions_norm: torch.Tensor) -> dict[str, torch.Tensor]:
        prediction = self.features(obs_norm)
        return {"loss": F.mse_loss(prediction, actions_norm)}

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        return self.action_normalizer.unnormalize(self.features(self._normalized(obs_history)))


@register_policy("bc-gaussian")
class GaussianPolicy(_MLPPolicy):
    """Diagonal Gaussian in normalized action space, squashed by tanh.

    Actions are normalized to [-1, 1] (``action_norm="minmax"``) so tanh covers exactly the
    valid range; the likelihood includes the tanh change of variables.
    """

    config_class = MLPPolicyConfig

    def output_size(self) -> int:
        return 2 * self.config.act_dim

    def distribution(self, obs_norm: torch.Tensor) -> D.Distribution:
        mean, log_std = self.features(obs_norm).chunk(2, dim=-1)
        log_std = log_std.clamp(_LOG_STD_MIN, _LOG_STD_MAX)
        base = D.Independent(D.Normal(mean, log_std.exp()), 1)
        return D.TransformedDistribution(base, [D.TanhTransform(cache_size=1)])

    def loss(self, obs_norm: torch.Tensor, actions_norm: torch.Tensor) -> dict[str, torch.Tensor]:
        # Keep targets strictly inside (-1, 1): atanh of an exact bound is infinite.
        target = actions_norm.clamp(-1 + 1e-4, 1 - 1e-4)
        log_prob = self.distribution(obs_norm).log_prob(target)
        return {"loss": -log_prob.mean(), "log_prob": log_prob.mean().detach()}

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        mean, _ = self.features(self._normalized(obs_history)).chunk(2, dim=-1)
        return self.action_normalizer.unnormalize(torch.tanh(mean))

    def sample_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        draw = self.distribution(self._normalized(obs_history)).sample()
        return self.action_normalizer.unnormalize(draw)


@dataclass
class GMMPolicyConfig(MLPPolicyConfig):
    num_modes: int = 5
    min_std: float = 1e-4


@register_policy("bc-gmm")
class GMMPolicy(_MLPPolicy):
    """Mixture of diagonal Gaussians over whole action chunks (robomimic's GMM head).

    A component is a full ``[Tp, act_dim]`` chunk, so one draw never mixes two ways around an
    obstacle. Control samples a component by its weight and executes its mean: the choice of
    mode stays stochastic while the motion within a mode stays smooth.
    """

    config_class = GMMPolicyConfig

    def net_output_dim(self) -> int:
        chunk = self.config.pred_horizon * self.config.act_dim
        return self.config.num_modes * (2 * chunk + 1)

    def _params(self, obs_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        k = self.config.num_modes
        out = self.net(rearrange(obs_norm, "b t d -> b (t d)"))
        logits, rest = out[:, :k], out[:, k:]
        mean, raw_std = rearrange(rest, "b (two k c) -> two b k c", two=2, k=k)
        return logits, mean, F.softplus(raw_std) + self.config.min_std

    def distribution(self, obs_norm: torch.Tensor) -> D.MixtureSameFamily:
        logits, mean, std = self._params(obs_norm)
        components = D.Independent(D.Normal(mean, std), 1)
        return D.MixtureSameFamily(D.Categorical(logits=logits), components)

    def loss(self, obs_norm: torch.Tensor, actions_norm: torch.Tensor) -> dict[str, torch.Tensor]:
        log_prob = self.distribution(obs_norm).log_prob(rearrange(actions_norm, "b t a -> b (t a)"))
        return {"loss": -log_prob.mean(), "log_prob": log_prob.mean().detach()}

    def _to_chunk(self, flat: torch.Tensor) -> torch.Tensor:
        chunk = rearrange(flat, "b (t a) -> b t a", t=self.config.pred_horizon)
        return self.action_normalizer.unnormalize(chunk)

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        logits, mean, _ = self._params(self._normalized(obs_history))
        mode = D.Categorical(logits=logits).sample()
        return self._to_chunk(mean[torch.arange(mean.shape[0], device=mean.device), mode])

    def sample_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        return self._to_chunk(self.distribution(self._normalized(obs_history)).sample())
