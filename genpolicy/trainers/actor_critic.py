"""What the actor-critic algorithms (SAC, IQL, CQL, TD3+BC, Diffusion-QL) share.

Online vs offline is a matter of sources, not of class lineage: with a dataset alone
(``{"data": ...}``) the algorithm learns offline; with an env collector it collects as it
learns (SAC, BRO; a dataset beside it is mixed into every batch, RLPD's symmetric sampling).

* a config with one sub-config per network (``actor`` policy settings, ``critic`` architecture)
  and one optimizer config per network (``actor_optim``, ``critic_optim``), so
  ``--set actor_optim.lr=1e-4 critic.arch=bronet`` reaches them, and the reward's own config
  (``reward.name``, ``reward.scale``, ``reward.normalize``);
* the actor built from the sources: from a dataset, observations standardized and actions
  min/max-normalized with the data's statistics; from an env, observations unnormalized
  (online data has no fixed statistics) and actions min/max-normalized from the env's bounds;
* the data contract of offline RL: rewards must be present and finite (checked by the
  dataset) and not all zero (pure demonstrations carry no reward signal), terminations decide
  bootstrapping (truncations do not), and rewards are rescaled by the spread of episode
  returns so that one set of hyperparameters suits dense and sparse tasks alike;
* rewards from a reward source (`genpolicy.trainers.rewards`), computed when a batch is drawn
  (a learned reward is a registered network; its ``metrics()`` are logged under ``reward/``);
* transitions in the actor's normalized units (``normalized_transitions``), SAC's temperature
  objective and acting for collection (``explore``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.errors import DatasetError
from genpolicy.datasets.replay import ReplaySampler, symmetric_sampler
from genpolicy.datasets.samplers import TransitionSampler
from genpolicy.datasets.sources import Sources
from genpolicy.models.base import Policy
from genpolicy.models.critics import CriticConfig, EnsembleCritic
from genpolicy.models.policies import MLPPolicyConfig
from genpolicy.trainers.base import AlgoConfig, Algorithm, OptimizerConfig
from genpolicy.trainers.policy_algorithm import make_env_policy, make_policy
from genpolicy.trainers.rewards import RewardSource, make_reward_source


@dataclass
class RewardConfig:
    """Where the reward a learner trains on comes from (`genpolicy.trainers.rewards`)."""

    name: str = "env"  # a registered reward source: "env", or a learned / intrinsic reward
    scale: float = 1.0  # a plain factor on the source's reward
    # "return_range": times 1000 / (max - min episode return) of the dataset (IQL's locomotion
    # rescaling; offline only); "none": no rescaling.
    normalize: Literal["return_range", "none"] = "return_range"
    path: str = ""  # reward.name=saved: a saved reward (a run dir with reward/, or the reward dir itself)


@dataclass
class ActorCriticConfig(AlgoConfig):
    batch_size: int = 256
    steps: int = 20_000
    gamma: float = 0.99
    tau: float = 0.005  # Polyak rate of target networks
    reward: RewardConfig = field(default_factory=RewardConfig)
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


def return_range_scale(dataset: OfflineDataset) -> float:
    """``1000 / (max - min episode return)`` (1 when every episode returns the same)."""
    returns = dataset.episode_returns()
    spread = float(returns.max() - returns.min())
    return 1000.0 / spread if spread > 1e-6 else 1.0


def reward_scale(dataset: OfflineDataset | None, config: RewardConfig) -> float:
    """The factor on a reward source's rewards: ``config.scale``, times the return-range factor."""
    if config.normalize == "none":
        return config.scale
    if dataset is None:
        raise ValueError("reward.normalize=return_range rescales by a dataset's returns; an online learner has "
                         "none (use reward.normalize=none, the default of sac/bro)")
    return config.scale * return_range_scale(dataset)


def temperature_objective(log_alpha: torch.Tensor, log_probs: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """SAC's ``-E[log alpha (log pi(a|s) + target_entropy)]``: alpha grows while the policy's
    entropy ``-E[log pi]`` is below the target and shrinks above it."""
    return -(log_alpha * (log_probs.detach() + target_entropy)).mean()


class ActorCritic(Algorithm):
    """Base of the actor-critic algorithms (see the module doc). ``actor_policy`` names the
    registered policy ``build_actor`` builds; ``reward_factor`` multiplies the reward scale
    (a warm start continues on the scale its critic saw)."""

    config: ActorCriticConfig
    actor_policy = "bc-gaussian"

    def __init__(self, config: ActorCriticConfig, sources: Sources | OfflineDataset, reward_factor: float = 1.0) -> None:
        super().__init__(config, sources)
        if self.collector is None and config.reward.name == "env":  # the data's rewards are what it learns from
            note = check_offline_rl_data(self.dataset, type(self).__name__)
            if note:
                print(note)
        self.reward_source: RewardSource = make_reward_source(
            config.reward.name, reward_scale(self.dataset if self.collector is None else None, config.reward) * reward_factor,
            algo=self)
        if isinstance(self.reward_source, nn.Module):  # a learned reward: trained, checkpointed, reset like any network
            self.add_network("reward", self.reward_source, getattr(self.reward_source, "optim", None))

    @property
    def reward_scale(self) -> float:
        """The factor the critic sees rewards multiplied by (recorded in the checkpoint)."""
        return float(getattr(self.reward_source, "scale", 1.0))

    # ------------------------------------------------------------- building
    def build_actor(self, **forced: Any) -> Policy:
        """The single-step actor for these sources, actions min/max-normalized to [-1, 1]."""
        settings = {"obs_horizon": 1, "pred_horizon": 1, "action_horizon": 1, "action_norm": "minmax", **forced}
        if self.collector is None:
            return make_policy(self.actor_policy, self.config.actor, self.dataset, **settings)
        return make_env_policy(self.actor_policy, self.config.actor, self.spec, **settings)

    def build_critic(self, config: CriticConfig | None = None, with_action: bool = True) -> EnsembleCritic:
        return EnsembleCritic(self.spec.obs_dim, self.spec.act_dim if with_action else 0, config or self.config.critic)

    def critic_probe(self, name: str = "critic"):
        """A forward pass of a Q critic on a batch (for the dormant-neuron monitor)."""
        return lambda batch: getattr(self, name)(*self.normalized_transitions(batch)[:2])

    # ---------------------------------------------------------------- data
    def make_sampler(self) -> Any:
        batch_size = self.config.batch_size
        if self.collector is None:
            return TransitionSampler(self.dataset, batch_size)
        if self.dataset is not None:  # offline data beside the env: half of every batch (RLPD)
            return symmetric_sampler(self.dataset, self.collector.buffer, batch_size)
        return ReplaySampler(self.collector.buffer, batch_size)

    def sample_batch(self) -> dict[str, torch.Tensor]:
        """A batch with ``rewards`` from the reward source (``env_rewards``: the stored ones)."""
        batch = super().sample_batch()
        batch["env_rewards"] = batch["rewards"]
        batch["rewards"] = self.reward_source(batch["observations"], batch["actions"], batch["next_observations"],
                                              batch["env_rewards"])
        metrics = getattr(self.reward_source, "metrics", None)
        if metrics is not None:
            self._accumulate({f"reward/{key}": value for key, value in metrics().items()})
        return batch

    def normalized_transitions(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``(obs, actions, rewards, next_obs, terminations)`` in the actor's units."""
        actor = self.actor
        obs = actor.obs_normalizer.normalize(batch["observations"])
        next_obs = actor.obs_normalizer.normalize(batch["next_observations"])
        actions = actor.action_normalizer.normalize(batch["actions"]).clamp(-1.0, 1.0)
        return obs, actions, batch["rewards"], next_obs, batch["terminations"]

    # --------------------------------------------------------------- acting
    def exploration_actor(self) -> Policy:
        """The actor that collects (SAC/BRO: an optimistic explorer when configured)."""
        return self.actor

    @torch.no_grad()
    def explore(self, obs: np.ndarray) -> np.ndarray:
        actor = self.exploration_actor()
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        action, _ = actor.rsample(actor.obs_normalizer.normalize(obs_t))
        raw = actor.action_normalizer.unnormalize(action)
        return actor._clip(raw).cpu().numpy()

    # ----------------------------------------------------------- checkpoint
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["offline_rl"] = {"reward_scale": self.reward_scale}  # what an online start needs (warm_start.py)

    def export_policy(self) -> Policy:
        averaged = self.averaged("actor")
        return averaged if averaged is not None else self.actor
