"""Discriminators of adversarial imitation (GAIL / DAC), in plain torch.

``Discriminator(obs_dim, act_dim, config)`` scores state-action pairs with one logit
``l(s, a)``; ``D = sigmoid(l)`` is its belief that ``(s, a)`` came from the expert. Inputs
are put in fixed units first (observations standardized with statistics handed in, e.g. the
expert data's; actions min/max-scaled to [-1, 1] from the env's bounds), so one learning
rate suits any env and the gradient penalty measures slopes in those units.

Two pieces of math sit beside it, each a function with a hand-checked test:

* `gradient_penalty`: ``E[(||grad_x l(x_hat)||_2 - 1)^2]`` at random interpolates ``x_hat``
  of expert and policy inputs (the WGAN-GP form DAC uses for its discriminator, lambda = 10).
  It keeps the discriminator from becoming a step function whose reward has no slope for the
  policy to climb, the collapse that makes adversarial imitation brittle.
* `reward_from_logits`: the learner's reward from the logit, in three forms (see
  `REWARD_FORMS`). Their sign is what matters on tasks that can end early: a reward that is
  always positive pays for surviving, an always negative one for dying early (the "survival
  bias" that absorbing states remove).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn

RewardForm = Literal["positive", "logit", "negative"]

# name -> (formula, what it is)
REWARD_FORMS: dict[str, str] = {
    "positive": "-log(1 - D) = softplus(l) >= 0 (GAIL's original generator reward; pays for survival)",
    "logit": "log D - log(1 - D) = l (DAC's default, AIRL's form; either sign)",
    "negative": "log D = -softplus(-l) <= 0 (pays for ending episodes early)",
}


@dataclass
class DiscriminatorConfig:
    """An MLP on ``[normalized obs, normalized action]`` giving one logit."""

    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])
    activation: Literal["relu", "tanh"] = "tanh"  # DAC uses tanh; smooth slopes suit the gradient penalty
    spectral_norm: bool = False  # spectral normalization of every linear layer (another Lipschitz control)


class Discriminator(nn.Module):
    """``l(s, a)``: the logit of "this pair is the expert's" (see the module doc).

    ``obs_mean`` / ``obs_std``: observation statistics (default 0 / 1); ``action_low`` /
    ``action_high``: the env's action bounds (default -1 / 1). They are buffers: saved with
    the weights, kept by a re-initialization.
    """

    def __init__(self, obs_dim: int, act_dim: int, config: DiscriminatorConfig | None = None, *,
                 obs_mean: torch.Tensor | None = None, obs_std: torch.Tensor | None = None,
                 action_low: torch.Tensor | None = None, action_high: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config or DiscriminatorConfig()
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        as_row = lambda value, default, size: (torch.full((size,), default) if value is None  # noqa: E731
                                               else torch.as_tensor(value, dtype=torch.float32).reshape(size))
        self.register_buffer("obs_mean", as_row(obs_mean, 0.0, obs_dim))
        self.register_buffer("obs_std", as_row(obs_std, 1.0, obs_dim).clamp_min(1e-3))
        self.register_buffer("action_low", as_row(action_low, -1.0, act_dim))
        self.register_buffer("action_high", as_row(action_high, 1.0, act_dim))
        activation = {"relu": nn.ReLU, "tanh": nn.Tanh}[self.config.activation]
        layers: list[nn.Module] = []
        width = obs_dim + act_dim
        for hidden in self.config.hidden_dims:
            layers += [self._linear(width, hidden), activation()]
            width = hidden
        layers.append(self._linear(width, 1))
        self.net = nn.Sequential(*layers)

    def _linear(self, n_in: int, n_out: int) -> nn.Module:
        layer = nn.Linear(n_in, n_out)
        return nn.utils.parametrizations.spectral_norm(layer) if self.config.spectral_norm else layer

    def inputs(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``[B, obs_dim + act_dim]``: the pair in the network's units."""
        obs = (obs - self.obs_mean) / self.obs_std
        span = (self.action_high - self.action_low).clamp_min(1e-6)
        actions = 2.0 * (actions - self.action_low) / span - 1.0
        return torch.cat([obs, actions], dim=-1)

    def logits_of_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``[B]`` logits of inputs already in the network's units (what the penalty differentiates)."""
        return self.net(x).squeeze(-1)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.logits_of_inputs(self.inputs(obs, actions))


def gradient_penalty(logits: Callable[[torch.Tensor], torch.Tensor], expert: torch.Tensor, policy: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """``E[(||grad l(x_hat)||_2 - 1)^2]``, ``x_hat = eps x_E + (1 - eps) x_pi``, ``eps ~ U(0, 1)``
    per row (expert and policy rows paired in order; the batches must have the same size).

    The graph is kept (``create_graph``) so the penalty's own gradient reaches the weights.
    """
    if expert.shape != policy.shape:
        raise ValueError(f"gradient_penalty pairs expert and policy rows: shapes {tuple(expert.shape)} and "
                         f"{tuple(policy.shape)} differ")
    eps = torch.rand((expert.shape[0], 1), generator=generator, device=expert.device, dtype=expert.dtype)
    mixed = (eps * expert.detach() + (1.0 - eps) * policy.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(logits(mixed).sum(), mixed, create_graph=True)
    return (grad.norm(dim=-1) - 1.0).square().mean()


def reward_from_logits(logits: torch.Tensor, form: RewardForm = "logit") -> torch.Tensor:
    """The learner's reward from discriminator logits ``l`` (``D = sigmoid(l)``), numerically
    stable: ``-log(1 - D) = softplus(l)``, ``log D = -softplus(-l)``."""
    if form == "positive":
        return F.softplus(logits)
    if form == "logit":
        return logits
    if form == "negative":
        return -F.softplus(-logits)
    raise ValueError(f"unknown reward form {form!r}; known: {', '.join(REWARD_FORMS)}")


def discriminator_loss(expert_logits: torch.Tensor, policy_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with expert = 1, policy = 0: ``E_E[softplus(-l)] + E_pi[softplus(l)]``."""
    return F.softplus(-expert_logits).mean() + F.softplus(policy_logits).mean()


__all__ = ["Discriminator", "DiscriminatorConfig", "REWARD_FORMS", "RewardForm", "discriminator_loss",
           "gradient_penalty", "reward_from_logits"]


class ShapedReward(nn.Module):
    """AIRL's ``f(s, a, s') = g(s[, a]) + gamma h(s') - h(s)`` (Fu et al., 2018).

    ``g`` is the reward that is kept (state-only by default: then, for deterministic dynamics,
    it recovers the true reward up to a constant, the "disentangled" reward); ``h`` is a
    potential whose shaping term ``gamma h(s') - h(s)`` absorbs what depends on the dynamics,
    so that it is not baked into ``g``. Both are modules taking ``(obs[, actions])`` -> ``[B]``.
    ``terminal`` (1 at a true termination) drops ``h(s')``: after the end there is no potential.
    """

    def __init__(self, g: nn.Module, h: nn.Module, gamma: float) -> None:
        super().__init__()
        self.g, self.h, self.gamma = g, h, float(gamma)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor,
                terminal: torch.Tensor | None = None) -> torch.Tensor:
        g = self.g(obs, actions) if getattr(self.g, "config", None) is not None and self.g.config.act_dim else self.g(obs)
        h_next = self.h(next_obs)
        if terminal is not None:
            h_next = h_next * (1.0 - terminal.float())
        return g + self.gamma * h_next - self.h(obs)


__all__ += ["ShapedReward"]
