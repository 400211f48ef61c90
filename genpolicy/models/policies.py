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
from torch import nn

from genpolicy.models.base import Policy, PolicyConfig, register_policy
from genpolicy.models.nets import ChunkGMMHead, activation_class, mlp

_LOG_STD_MIN, _LOG_STD_MAX = -5.0, 2.0


@dataclass
class MLPPolicyConfig(PolicyConfig):
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])
    dropout: float = 0.0
    layer_norm: bool = False
    tanh_squash: bool = False  # mse head: bound actions to [-1, 1] (actor-critic; action_norm minmax)
    activation: str = "mish"  # hidden-layer activation (nets.ACTIVATIONS); SAC's actor uses relu


class _MLPPolicy(Policy):
    """Shared trunk: normalized obs history -> MLP -> ``output_size()`` numbers per chunk step."""

    def __init__(self, config: MLPPolicyConfig) -> None:
        super().__init__(config)
        self.net = self.build_net(config.obs_horizon * config.obs_dim)

    def build_net(self, in_dim: int) -> nn.Module:
        c = self.config
        return mlp(in_dim, c.hidden_dims, self.net_output_dim(), activation=activation_class(c.activation),
                   layer_norm=c.layer_norm, dropout=c.dropout)

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

    def chunk(self, obs_norm: torch.Tensor) -> torch.Tensor:
        """``[B, To, obs_dim]`` normalized -> ``[B, Tp, act_dim]`` normalized actions."""
        out = self.features(obs_norm)
        return torch.tanh(out) if self.config.tanh_squash else out

    def loss(self, obs_norm: torch.Tensor, actions_norm: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": F.mse_loss(self.chunk(obs_norm), actions_norm)}

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        return self.action_normalizer.unnormalize(self.chunk(self._normalized(obs_history)))

    def mean_action(self, obs_norm: torch.Tensor) -> torch.Tensor:
        return self.chunk(obs_norm[:, None])[:, 0]


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
        # no argument/support validation: it costs ~5 % of a SAC update on a CPU, and a
        # saturated rsample (tanh rounding to exactly +-1 in float32) would fail it spuriously
        base = D.Independent(D.Normal(mean, log_std.exp(), validate_args=False), 1, validate_args=False)
        return D.TransformedDistribution(base, [D.TanhTransform(cache_size=1)], validate_args=False)

    def loss(self, obs_norm: torch.Tensor, actions_norm: torch.Tensor) -> dict[str, torch.Tensor]:
        # Keep targets strictly inside (-1, 1): atanh of an exact bound is infinite.
        target = actions_norm.clamp(-1 + 1e-4, 1 - 1e-4)
        log_prob = self.distribution(obs_norm).log_prob(target)
        return {"loss": -log_prob.mean(), "log_prob": log_prob.mean().detach()}

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        mean, _ = self.features(self._normalized(obs_history)).chunk(2, dim=-1)
        return self.action_normalizer.unnormalize(torch.tanh(mean))

    def rsample(self, obs_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        distribution = self.distribution(obs_norm[:, None])
        action = distribution.rsample()  # the tanh transform caches its pre-image: exact log_prob
        return action[:, 0], distribution.log_prob(action).sum(-1)

    def log_prob(self, obs_norm: torch.Tensor, actions_norm: torch.Tensor) -> torch.Tensor:
        target = actions_norm.clamp(-1 + 1e-4, 1 - 1e-4)[:, None]
        return self.distribution(obs_norm[:, None]).log_prob(target).sum(-1)

    def mean_action(self, obs_norm: torch.Tensor) -> torch.Tensor:
        mean, _ = self.features(obs_norm[:, None]).chunk(2, dim=-1)
        return torch.tanh(mean[:, 0])

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
    mode stays stochastic while the motion within a mode stays smooth. The MLP trunk ends in
    features; the shared :class:`ChunkGMMHead` (also under the GPT policy) maps them to the
    mixture, with component means started apart.
    """

    config_class = GMMPolicyConfig

    def build_net(self, in_dim: int) -> nn.Module:
        c = self.config
        activation = activation_class(c.activation)
        trunk = mlp(in_dim, c.hidden_dims[:-1], c.hidden_dims[-1], activation=activation, layer_norm=c.layer_norm,
                    dropout=c.dropout)
        self.head = ChunkGMMHead(c.hidden_dims[-1], c.pred_horizon * c.act_dim, c.num_modes, c.min_std)
        self.head.spread_means_()
        return nn.Sequential(trunk, activation())

    def distribution(self, obs_norm: torch.Tensor) -> D.MixtureSameFamily:
        return self.head(self._trunk(obs_norm))

    def loss(self, obs_norm: torch.Tensor, actions_norm: torch.Tensor) -> dict[str, torch.Tensor]:
        log_prob = self.distribution(obs_norm).log_prob(rearrange(actions_norm, "b t a -> b (t a)"))
        return {"loss": -log_prob.mean(), "log_prob": log_prob.mean().detach()}

    def _trunk(self, obs_norm: torch.Tensor) -> torch.Tensor:
        return self.net(rearrange(obs_norm, "b t d -> b (t d)"))

    def _to_chunk(self, flat: torch.Tensor) -> torch.Tensor:
        chunk = rearrange(flat, "b (t a) -> b t a", t=self.config.pred_horizon)
        return self.action_normalizer.unnormalize(chunk)

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        return self._to_chunk(self.head.sample_mode_mean(self._trunk(self._normalized(obs_history))))

    def sample_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        return self._to_chunk(self.distribution(self._normalized(obs_history)).sample())
