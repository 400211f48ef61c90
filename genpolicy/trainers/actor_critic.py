"""What the offline actor-critic algorithms (IQL, CQL, TD3+BC, Diffusion-QL) share.

* a config with one sub-config per network (``actor`` policy settings, ``critic`` architecture)
  and one optimizer config per network (``actor_optim``, ``critic_optim``), so
  ``--set actor_optim.lr=1e-4 critic.arch=bronet`` reaches them;
* the data contract of offline RL: rewards must be present and finite (checked by the
  dataset) and not all zero (pure demonstrations carry no reward signal), terminations decide
  bootstrapping (truncations do not), and rewards are rescaled by the spread of episode
  returns so that one set of hyperparameters suits dense and sparse tasks alike;
* transitions in the actor's normalized units (observations standardized, actions in [-1, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.errors import DatasetError
from genpolicy.datasets.samplers import TransitionSampler
from genpolicy.models.base import Policy
from genpolicy.models.critics import CriticConfig, EnsembleCritic
from genpolicy.models.policies import MLPPolicyConfig
from genpolicy.trainers.base import AlgoConfig, OfflineAlgorithm, OptimizerConfig
from genpolicy.trainers.policy_setup import make_policy


@dataclass
class ActorCriticConfig(AlgoConfig):
    batch_size: int = 256
    steps: int = 20_000
    gamma: float = 0.99
    tau: float = 0.005  # Polyak rate of target networks
    # "return_range": r * 1000 / (max episode return - min episode return) (IQL's locomotion
    # rescaling); "none": raw rewards.
    reward_scale: Literal["return_range", "none"] = "return_range"
    actor: MLPPolicyConfig = field(default_factory=MLPPolicyConfig)
    actor_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))
    critic: CriticConfig = field(default_factory=CriticConfig)
    critic_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))


class LogScalar(nn.Module):
    """A learned log-coefficient (SAC's entropy temperature, CQL's Lagrange multiplier)."""

    def __init__(self, initial: float) -> None:
        super().__init__()
        self.initial = float(initial)
        self.log_value = nn.Parameter(torch.tensor(torch.log(torch.tensor(self.initial)).item()))

    @torch.no_grad()
    def reset_parameters(self) -> None:
        self.log_value.fill_(torch.log(torch.tensor(self.initial)).item())

    def forward(self) -> torch.Tensor:
        return self.log_value.exp()


def check_offline_rl_data(dataset: OfflineDataset, algo: str) -> str | None:
    """Refuse data offline RL cannot learn from; return a note for the log, if any."""
    source = dataset.metadata.get("source", "<memory>")
    if not bool((dataset.rewards != 0).any()):
        raise DatasetError(
            source, "rewards", None,
            f"every reward is 0: {algo} needs rewards (pure demonstrations have none; use an imitation "
            "algorithm such as bc or diffusion, or a dataset with rewards)",
        )
    if not bool(dataset.terminations.any()):
        return (f"{source}: no transition is terminal, so {algo} bootstraps through every step "
                "(right for tasks without terminal states, e.g. time-limited pendulum)")
    return None


def reward_scale(dataset: OfflineDataset, how: str) -> float:
    if how == "none":
        return 1.0
    returns = dataset.episode_returns()
    spread = float(returns.max() - returns.min())
    return 1000.0 / spread if spread > 1e-6 else 1.0


class ActorCritic(OfflineAlgorithm):
    """Base of the offline actor-critic algorithms: checks the data, builds the actor
    (``actor_policy`` names the registered policy) and offers normalized transitions."""

    config: ActorCriticConfig
    actor_policy = "bc-gaussian"

    def __init__(self, config: ActorCriticConfig, dataset: OfflineDataset) -> None:
        super().__init__(config, dataset)
        note = check_offline_rl_data(dataset, type(self).__name__)
        if note:
            print(note)
        self.reward_scale = reward_scale(dataset, config.reward_scale)

    # ------------------------------------------------------------- building
    def build_actor(self, **forced: Any) -> Policy:
        """The single-step actor for this dataset, actions min/max-normalized to [-1, 1]."""
        settings = {"obs_horizon": 1, "pred_horizon": 1, "action_horizon": 1, "action_norm": "minmax", **forced}
        return make_policy(self.actor_policy, self.config.actor, self.dataset, **settings)

    def build_critic(self, config: CriticConfig | None = None, with_action: bool = True) -> EnsembleCritic:
        data = self.dataset
        return EnsembleCritic(data.obs_dim, data.act_dim if with_action else 0, config or self.config.critic)

    def critic_probe(self, name: str = "critic"):
        """A forward pass of a Q critic on a batch (for the dormant-neuron monitor)."""
        return lambda batch: getattr(self, name)(*self.normalized_transitions(batch)[:2])

    # ---------------------------------------------------------------- data
    def make_sampler(self, dataset: OfflineDataset) -> TransitionSampler:
        return TransitionSampler(dataset, self.config.batch_size)

    def normalized_transitions(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``(obs, actions, rewards, next_obs, terminations)`` in the actor's units, rewards scaled."""
        actor = self.actor
        obs = actor.obs_normalizer.normalize(batch["observations"])
        next_obs = actor.obs_normalizer.normalize(batch["next_observations"])
        actions = actor.action_normalizer.normalize(batch["actions"]).clamp(-1.0, 1.0)
        return obs, actions, batch["rewards"] * self.reward_scale, next_obs, batch["terminations"]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["offline_rl"] = {"reward_scale": self.reward_scale}  # what an online start needs (warm_start.py)

    def export_policy(self) -> Policy:
        averaged = self.averaged("actor")
        return averaged if averaged is not None else self.actor
