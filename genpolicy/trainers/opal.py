"""OPAL-style skills from offline data (Ajay et al., 2021, "OPAL: Offline primitive discovery").

    for each update:
        tau = (s_t..s_{t+c-1}, a_t..a_{t+c-1}) ~ D          # whole segments, c = 10
        mu, log sigma^2 = q(z | tau)                         # bidirectional GRU encoder
        z = mu + sigma * eps
        loss = -sum_t log pi(a_t | s_t, z)                   # the primitive reproduces the segment
               + beta * KL(q(z | tau) || rho(z | s_t))       # beta = 0.1, a learned prior
    export: K skills = k-means centres of the posterior means of dataset segments

No env interaction while learning: the data alone decides what a skill is. Why OPAL (a latent
generative model over segments) and not a DIAYN-style discriminator offline: a discriminator's
reward needs states the *policy* visits, which offline data does not have, while a segment
model only needs the data, and its primitive pi(a | s, z) is fitted by likelihood on dataset
actions, so each skill stays in the data's support by construction. The paper's settings are
kept where they are stated (c = 10, latent dim 8, beta = 0.1, GRU encoder, learned prior).

Exporting K *discrete* skills: OPAL hands its continuous z to a downstream high-level policy; a
skill learner here exports `SkillPolicy` (``act(obs, skill=k)``, the layout of DIAYN / METRA),
so that the same fresh-rollout, coverage and held-out checks compare online and offline skills.
The K latents are the k-means centres of mu(tau) over up to ``codebook_segments`` dataset
segments (seeded: the same run exports the same codebook): each stands for a common kind of
segment in the data. A skill holds its z for the whole episode (OPAL's high level re-chooses
z every c steps; ``genpolicy fit skill-dqn`` can play that role on top).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.samplers import SegmentSampler
from genpolicy.datasets.sources import Sources, dataset_spec
from genpolicy.models.cvae import reparameterize
from genpolicy.models.latent_skills import LatentSkillPolicy, LatentSkillPolicyConfig, SegmentModel, gaussian_kl_between, kmeans
from genpolicy.models.skills import SkillPolicy
from genpolicy.trainers.base import AlgoConfig, Algorithm, OptimizerConfig


@dataclass
class OPALConfig(AlgoConfig):
    skills: int = 16  # K skills exported (k-means centres of the segment latents)
    segment: int = 10  # c, steps per segment (the paper's)
    latent_dim: int = 8  # the paper's
    kl_weight: float = 0.1  # beta (the paper's)
    encoder_hidden: int = 128  # GRU width, each direction
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])  # primitive and prior MLPs
    optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-3))
    codebook_segments: int = 20_000  # dataset segments whose posterior means k-means sees

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.skills < 1 or self.segment < 1 or self.latent_dim < 1:
            raise ValueError(f"skills, segment and latent_dim must be >= 1, got {self.skills}, {self.segment}, "
                             f"{self.latent_dim}")


class OPAL(Algorithm):
    """See the module doc. One network ``model`` (encoder, prior, primitive) and one loss."""

    config: OPALConfig

    def __init__(self, config: OPALConfig, sources: Sources | OfflineDataset) -> None:
        super().__init__(config, sources)
        dataset = self.dataset
        fields = dataset_spec(dataset).policy_fields()
        policy = LatentSkillPolicy(LatentSkillPolicyConfig(
            **{**fields, "obs_dim": dataset.obs_dim + config.skills, "obs_layout": None, "obs_norm": "standard",
               "action_norm": "minmax"},
            num_skills=config.skills, latent_dim=config.latent_dim, hidden_dims=list(config.hidden_dims)))
        observations = dataset.observations.float()
        policy.obs_normalizer.fit(torch.cat([observations, observations.new_zeros(len(observations), config.skills)], -1))
        policy.action_normalizer.fit(dataset.actions.float())
        self.add_network("model", SegmentModel(policy, config.encoder_hidden, list(config.hidden_dims)), config.optim)

    def make_sampler(self) -> SegmentSampler:
        return SegmentSampler(self.dataset, self.config.batch_size, self.config.segment)

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalized ``(states, actions)`` of a segment batch and the encoder's ``(mean, logvar)``."""
        policy = self.model.policy
        states = policy.normalize_states(batch["observations"])
        actions = policy.action_normalizer.normalize(batch["actions"])
        mean, logvar = self.model.encoder(torch.cat([states, actions], dim=-1))
        return states, actions, mean, logvar

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        states, actions, mean, logvar = self.encode(batch)
        z = reparameterize(mean, logvar)
        nll = -self.model.policy.segment_log_prob(states, actions, z).mean()
        prior_mean, prior_logvar = self.model.prior(states[:, 0])
        kl = gaussian_kl_between(mean, logvar, prior_mean, prior_logvar).mean()
        loss = nll + self.config.kl_weight * kl
        self.step("model", loss)
        return {"loss": loss.detach(), "nll": nll.detach(), "kl": kl.detach(),
                "posterior_std": (0.5 * logvar).exp().mean().detach()}

    @torch.no_grad()
    def codebook(self) -> torch.Tensor:
        """``[K, latent_dim]``: k-means centres of the posterior means of dataset segments."""
        cfg = self.config
        sampler = self.make_sampler()
        generator = torch.Generator(device=sampler.starts.device).manual_seed(cfg.seed)
        count = min(cfg.codebook_segments, len(sampler.starts))
        starts = sampler.starts[torch.randperm(len(sampler.starts), generator=generator, device=sampler.starts.device)[:count]]
        if count < cfg.skills:
            raise ValueError(f"{count} dataset segments cannot make {cfg.skills} skills")
        was_training = self.model.training
        self.model.eval()
        means = torch.cat([self.encode(sampler.segments(chunk))[2] for chunk in starts.split(4096)])
        self.model.train(was_training)
        return kmeans(means, cfg.skills, generator)

    def export_policy(self) -> SkillPolicy:
        actor = copy.deepcopy(self.model.policy)
        actor.codebook.copy_(self.codebook())
        return SkillPolicy.wrap(actor, self.config.skills)


__all__ = ["OPAL", "OPALConfig"]
