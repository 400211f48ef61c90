"""Offline DIAYN: K skills discovered in a fixed dataset, learned with IQL (no env interaction).

Online DIAYN (`genpolicy.trainers.diayn`) trains its discriminator q(z | s') on the states its
own skills visit. Offline there are no such states: every s' is a dataset state, produced by
whoever collected the data, and nothing says which skill "visited" it. Labelling each dataset
transition with the skill drawn for it in the batch would teach q nothing (the draw is
independent of s'). So q is trained on the dataset's next states with *soft* labels, the
posterior over which skill would have taken the transition's action (an EM-like scheme, the
E-step of a mixture of K skill policies over the data's actions, cf. mixture-of-experts
imitation and the latent-skill posteriors of offline skill discovery):

    for each update:
        (s, a, s') ~ D;  z ~ uniform{0..K-1} per transition;  obs = [s, one_hot(z)]
        r = log q(z | s') - log p(z)                                  the reward source (SkillReward)
        IQL update on r      (V expectile, Q backup through V(s'), AWR actor: never an action D lacks)
        w(z' | s, a) ∝ exp(log pi(a | s, z') / T), z' = 0..K-1        soft labels from the actor (Gaussian)
          [optional: Sinkhorn balance of w over the batch, every skill holding 1/K of the mass]
          w <- (1 - floor) w + floor / K                              a uniform floor
        q:  L_q = -E[ sum_z' w(z' | s, a) log q(z' | s') ]            cross-entropy on dataset states

Why this scheme: every quantity lives on the data. q is only ever trained on dataset states
(it cannot be fooled by states the data never reached), IQL's advantage-weighted regression
only re-weights the dataset's actions, so each skill's policy is a re-weighting of the data's
behaviour (it stays in the data's support), and the two steps pull together: the actor for z
is pulled toward the dataset actions whose next states q attributes to z, and q attributes to
z the next states of the actions the actor for z would take. The fixed point where every skill
is the same policy (w uniform, q uniform, r = 0) is a solution too: symmetry is broken by the
random initialisation of the skill inputs and amplified by that positive feedback, but with
the plain posterior (T = 1) it is not: measured on point2d, the labels stayed uniform and every
skill cloned the same behaviour. Hence the defaults: ``label_temperature`` 0.02 sharpens the
posterior (deterministic annealing / hard EM in the limit), and ``label_balance`` (3
Sinkhorn-Knopp iterations, as in balanced clustering, e.g. SwAV) keeps every skill's share of
each batch at 1 / K so that sharp labels cannot collapse onto a few skills. Logged under ``reward/``: q's accuracy
against the drawn z (chance 1 / K), the intrinsic reward, q's entropy, the label entropy per
transition, the labels' marginal entropy (log K: balanced; 0: every transition one skill) and
the largest skill share of q's argmax over the batch's next states (the collapse check).

The skill sits in the observation exactly where the online skill wrapper puts it (after the
env's own entries), so the exported policy is genpolicy's `SkillPolicy`
(``SkillPolicy.wrap(actor, K, discriminator)``: ``act(obs, skill=k)`` on the env's own
observation) and the same measures (`genpolicy.evaluation.skills`, `skill_holdout`) apply.
Networks are sized from a "skill view" of the dataset (its observations with K zero columns
appended): the actor's observation normalizer then standardizes the state dims with the data's
statistics and passes the one-hot through unchanged. Batches come from the dataset itself with
z drawn per transition by the module's generator (checkpointed: a resumed run draws the same
batches). The data's own rewards are never read (the reward source is the discriminator's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.samplers import transitions_at
from genpolicy.datasets.sources import DatasetSource, Sources
from genpolicy.models.skills import DiscriminatorConfig, SkillDiscriminator, SkillPolicy
from genpolicy.trainers.actor_critic import RewardConfig
from genpolicy.trainers.base import OptimizerConfig
from genpolicy.trainers.diayn import SkillReward, skill_checks
from genpolicy.trainers.iql import IQL, IQLConfig
from genpolicy.trainers.rewards import register_reward_source

REWARD_NAME = "offline-diayn"
TRANSITIONS = "transitions"  # the source name of the dataset as given (batches are drawn from it)


@dataclass
class OfflineDIAYNConfig(IQLConfig):
    skills: int = 16  # K
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)  # dims None: all state dims
    discriminator_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))
    reward: RewardConfig = field(default_factory=lambda: RewardConfig(name=REWARD_NAME, normalize="none"))
    # w ∝ exp(log pi / T). T = 1 (the plain posterior) stays at the symmetric fixed point on point2d
    # (label entropy 2.768 of log 16 = 2.773 after 2,000 updates, every skill the same): T = 0.02
    # sharpens the small differences of the freshly initialised skill inputs into labels.
    label_temperature: float = 0.02
    label_floor: float = 0.0  # mix the labels with uniform: (1 - floor) w + floor / K
    label_balance: int = 3  # Sinkhorn iterations balancing skill shares over the batch (0: off)
    skill_eval_every: int = 1  # epochs between fresh-rollout skill checks (skills/ logs; 0: off)
    skill_eval_episodes: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.skills < 2:
            raise ValueError(f"offline-diayn needs skills >= 2, got {self.skills}")
        if self.label_temperature <= 0:
            raise ValueError(f"label_temperature must be > 0, got {self.label_temperature}")
        if not 0.0 <= self.label_floor <= 1.0:
            raise ValueError(f"label_floor must be in [0, 1], got {self.label_floor}")


def skill_view(dataset: OfflineDataset, num_skills: int) -> OfflineDataset:
    """``dataset`` with ``num_skills`` zero columns appended to (next) observations: what the
    networks are sized and normalized from (zero columns get shift 0, scale 1: the one-hot passes
    the normalizer unchanged). Its rewards are the data's (never read: the reward is intrinsic)."""
    zeros = torch.zeros(len(dataset), num_skills, dtype=dataset.observations.dtype, device=dataset.device)
    metadata = dict(dataset.metadata)
    layout = metadata.get("obs_layout")
    if layout:
        metadata["obs_layout"] = {**layout, "skill": [dataset.obs_dim, dataset.obs_dim + num_skills]}
    return OfflineDataset(torch.cat([dataset.observations, zeros], 1), dataset.actions, dataset.rewards,
                          dataset.terminations, dataset.truncations, torch.cat([dataset.next_observations, zeros], 1),
                          metadata=metadata)


class SkillTransitionSampler:
    """Uniform transitions of ``dataset``, each with a uniformly drawn skill appended as a one-hot
    to ``observations`` and ``next_observations`` (the skill wrapper's layout ``[s, one_hot(z)]``)."""

    def __init__(self, dataset: OfflineDataset, num_skills: int, batch_size: int) -> None:
        self.dataset, self.num_skills, self.batch_size = dataset, num_skills, batch_size

    def sample(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        data = self.dataset
        index = torch.randint(len(data), (self.batch_size,), device=data.device, generator=generator)
        skills = torch.randint(self.num_skills, (self.batch_size,), device=data.device, generator=generator)
        batch = transitions_at(data, index)
        code = F.one_hot(skills, self.num_skills).to(batch["observations"].dtype)
        batch["observations"] = torch.cat([batch["observations"], code], 1)
        batch["next_observations"] = torch.cat([batch["next_observations"], code], 1)
        return batch


def skill_posterior(log_probs: torch.Tensor, temperature: float = 1.0, floor: float = 0.0,
                    balance: int = 0) -> torch.Tensor:
    """Soft labels ``[B, K]`` from ``log pi(a | s, z)`` ``[B, K]``: ``softmax(log_probs / T)`` over
    skills; ``balance`` Sinkhorn-Knopp iterations (each skill's column rescaled to a share 1/K of
    the batch, then each row back to a distribution); then ``(1 - floor) w + floor / K``."""
    num_skills = log_probs.shape[-1]
    weights = F.softmax(log_probs / temperature, dim=-1)
    for _ in range(int(balance)):
        weights = weights / weights.sum(0, keepdim=True).clamp_min(1e-12) * (weights.shape[0] / num_skills)
        weights = weights / weights.sum(1, keepdim=True).clamp_min(1e-12)
    return (1.0 - floor) * weights + floor / num_skills if floor else weights


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) over the last dimension."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1)


class OfflineSkillReward(SkillReward):
    """DIAYN's reward source (``log q(z | s') - log p(z)``, z read from the observation), whose
    discriminator is trained with soft labels on dataset states instead of the drawn skill."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label_metrics: dict[str, torch.Tensor] = {}  # of the last soft_loss (the update logs them)

    def soft_loss(self, next_obs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``-E[sum_z w(z) log q(z | s')]`` (the reward's forward pass reused on its own batch)."""
        cache, self._cache = self._cache, None
        logits = cache[1] if cache is not None and cache[0] is next_obs else self.discriminator(next_obs[:, :self.state_dim])
        with torch.no_grad():
            share = torch.bincount(logits.argmax(-1), minlength=self.num_skills).float() / logits.shape[0]
            self.label_metrics = {"label_entropy": entropy(labels).mean(), "label_marginal_entropy": entropy(labels.mean(0)),
                                  "discriminator_max_share": share.max()}
        return -(labels * F.log_softmax(logits, -1)).sum(-1).mean()


def offline_skill_reward_source(scale: float, algo: Any) -> OfflineSkillReward:
    """``reward.name=offline-diayn``: q on the env's own state dims of the skill view."""
    config = algo.config
    num_skills = int(getattr(config, "skills", 0))
    if algo.collector is not None or num_skills < 1 or not algo.sources.has_dataset(TRANSITIONS):
        raise ValueError("reward.name=offline-diayn is offline-diayn's reward (a dataset, skills >= 1, no env)")
    state_dim = algo.spec.obs_dim - num_skills
    discriminator = SkillDiscriminator(state_dim, num_skills, config.discriminator)
    return OfflineSkillReward(discriminator, state_dim, scale, 0.0, config.discriminator_optim)


register_reward_source(REWARD_NAME, offline_skill_reward_source)


class OfflineDIAYN(IQL):
    """See the module doc: IQL on the dataset's transitions with skills drawn per transition and
    the discriminator's reward; q trained on dataset states with the actor's skill posterior."""

    config: OfflineDIAYNConfig

    def __init__(self, config: OfflineDIAYNConfig, sources: Sources | OfflineDataset) -> None:
        given = Sources.coerce(sources)
        data = given.dataset("data", needed_by=type(self).__name__)
        others = {name: source for name, source in given.items() if name != "data"}
        super().__init__(config, Sources({"data": DatasetSource(skill_view(data, config.skills)),
                                          TRANSITIONS: DatasetSource(data), **others}))

    def configure_callbacks(self) -> list[L.Callback]:
        return [*super().configure_callbacks(), *skill_checks(self)]

    def make_sampler(self) -> SkillTransitionSampler:
        return SkillTransitionSampler(self.sources.dataset(TRANSITIONS), self.config.skills, self.config.batch_size)

    @torch.no_grad()
    def skill_log_probs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``log pi(a | s, z')`` for every skill z' ``[B, K]`` (the actor on the batch's actions)."""
        num_skills, state_dim = self.config.skills, self.reward.state_dim
        states, actions = batch["observations"][:, :state_dim], batch["actions"]
        size = states.shape[0]
        codes = torch.eye(num_skills, dtype=states.dtype, device=states.device)
        obs = torch.cat([states.repeat_interleave(num_skills, 0), codes.repeat(size, 1)], 1)
        obs_norm = self.actor.obs_normalizer.normalize(obs)
        actions_norm = self.actor.action_normalizer.normalize(actions).clamp(-1.0, 1.0).repeat_interleave(num_skills, 0)
        return self.actor_log_likelihood(obs_norm, actions_norm).reshape(size, num_skills)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        metrics = super().update(batch)  # IQL on the intrinsic rewards of this batch
        labels = skill_posterior(self.skill_log_probs(batch), cfg.label_temperature, cfg.label_floor, cfg.label_balance)
        discriminator_loss = self.reward.soft_loss(batch["next_observations"], labels)
        self.step("reward", discriminator_loss)
        return {**metrics, "discriminator_loss": discriminator_loss.detach(), **self.reward.label_metrics}

    def export_policy(self) -> SkillPolicy:
        """The actor as a `SkillPolicy` on the env's own observation, carrying q."""
        averaged = self.averaged("actor")
        actor = averaged if averaged is not None else self.actor
        return SkillPolicy.wrap(actor, self.config.skills, self.reward.discriminator, dict(actor.config.metadata))


__all__ = ["OfflineDIAYN", "OfflineDIAYNConfig", "OfflineSkillReward", "SkillTransitionSampler",
           "offline_skill_reward_source", "skill_posterior", "skill_view"]
