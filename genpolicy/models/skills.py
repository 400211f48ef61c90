"""Skills as plain torch: the skill discriminator q(z | s) and the skill-conditioned policy.

* `SkillDiscriminator`: an MLP from (chosen dimensions of) a state to K skill logits.
  ``dims`` restricts it to, e.g., the x-y position (DIAYN's "x-y prior"): skills must then
  differ in where they go, not in joint angles or velocities.
* `intrinsic_reward`: DIAYN's ``log q(z | s') - log p(z)`` with p uniform, i.e.
  ``log_softmax(logits)[z] + log K``: positive when the discriminator is surer of ``z`` than
  chance, 0 at chance, ``-inf`` never (log-softmax is finite).
* `SkillPolicy` (registered ``skill-conditioned``): what a skill learner exports. It takes the
  env's *own* observation and a skill, ``act(obs, skill=k)``, and appends the one-hot itself
  before calling the trained actor (which saw ``[obs, one_hot(z)]``, the skill wrapper's
  layout). Without ``skill`` it draws one per episode (``reset()`` redraws; under evaluation
  the draws follow the seeded torch RNG). ``sample(obs, N)`` gives futures under N skills
  (draw ``n`` runs skill ``n mod K``). It carries the discriminator, so a saved policy alone
  can be checked for producing the skill it is asked for (fresh-rollout accuracy).
  With a ``codebook`` (``[K, d]``) the code appended for skill ``k`` is ``codebook[k]``
  instead of the one-hot: a learner of continuous skills (METRA's unit directions) exports K
  chosen directions as K skills, so every skill measure applies to it unchanged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genpolicy.models.base import Policy, PolicyConfig, build_policy, register_policy
from genpolicy.models.nets import activation_class, mlp


@dataclass
class DiscriminatorConfig:
    """q(z | s): an MLP on the state dimensions ``dims`` (None: all of the env's own observation)."""

    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"
    dims: list[int] | None = None  # e.g. [0, 1]: the x-y prior


class SkillDiscriminator(nn.Module):
    """States ``[..., state_dim]`` (the env's own observation, no skill) -> logits ``[..., K]``."""

    def __init__(self, state_dim: int, num_skills: int, config: DiscriminatorConfig) -> None:
        super().__init__()
        dims = list(range(state_dim)) if config.dims is None else [int(d) for d in config.dims]
        if not dims or any(not 0 <= d < state_dim for d in dims):
            raise ValueError(f"discriminator.dims must index the env's observation [0, {state_dim}), got {config.dims}")
        self.state_dim, self.num_skills, self.config = state_dim, num_skills, config
        self.register_buffer("dims", torch.tensor(dims, dtype=torch.long), persistent=False)
        self._all_dims = dims == list(range(state_dim))  # nothing to select (saves a copy per call)
        self.net = mlp(len(dims), config.hidden_dims, num_skills, activation=activation_class(config.activation))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.net(states if self._all_dims else states.index_select(-1, self.dims))

    @torch.no_grad()
    def classify(self, states: torch.Tensor | np.ndarray) -> np.ndarray:
        """The most likely skill of each state (numpy in and out, for rollout checks)."""
        states_t = torch.as_tensor(np.asarray(states), dtype=torch.float32, device=self.dims.device)
        return self(states_t).argmax(-1).cpu().numpy()


def intrinsic_reward(logits: torch.Tensor, skills: torch.Tensor) -> torch.Tensor:
    """``log q(z | s') - log p(z)`` for uniform ``p``: ``log_softmax(logits)[z] + log K`` (``[B]``)."""
    log_q = F.log_softmax(logits, dim=-1).gather(-1, skills.long()[..., None])[..., 0]
    return log_q + math.log(logits.shape[-1])


@dataclass
class SkillPolicyConfig(PolicyConfig):
    """``obs_dim``: the env's own observation; the actor's is ``obs_dim + code_dim`` (the
    one-hot's ``num_skills``, or the codebook's width)."""

    num_skills: int = 0
    actor: str = "bc-gaussian"  # the registered policy the skill learner trained
    actor_config: dict[str, Any] = field(default_factory=dict)
    discriminator: DiscriminatorConfig | None = None
    codebook: list[list[float]] | None = None  # [K, d]: skill k appends codebook[k] (None: the one-hot)

    @property
    def code_dim(self) -> int:
        return self.num_skills if self.codebook is None else len(self.codebook[0])

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.discriminator, dict):  # read back from config.json
            self.discriminator = DiscriminatorConfig(**self.discriminator)


@register_policy("skill-conditioned")
class SkillPolicy(Policy):
    """See the module doc. ``actor`` / ``discriminator``: trained modules to use as they are
    (an export shares them with the learner); otherwise fresh ones are built from the config
    (`load_policy` then fills in their weights)."""

    config_class = SkillPolicyConfig

    def __init__(self, config: SkillPolicyConfig, actor: Policy | None = None,
                 discriminator: SkillDiscriminator | None = None) -> None:
        super().__init__(config)
        if config.num_skills < 1:
            raise ValueError(f"a skill-conditioned policy needs num_skills >= 1, got {config.num_skills}")
        if config.codebook is not None and (len(config.codebook) != config.num_skills
                                            or len({len(row) for row in config.codebook}) != 1):
            raise ValueError(f"codebook must be {config.num_skills} rows of one width, got "
                             f"{[len(row) for row in config.codebook]}")
        self.actor = actor if actor is not None else build_policy(config.actor, config.actor_config)
        if self.actor.config.obs_dim != config.obs_dim + config.code_dim:
            raise ValueError(f"the actor takes {self.actor.config.obs_dim} inputs, expected obs_dim {config.obs_dim} + "
                             f"{config.code_dim} skill code entries")
        codes = torch.eye(config.num_skills) if config.codebook is None else torch.tensor(config.codebook)
        self.register_buffer("codes", codes.to(torch.float32), persistent=False)
        if discriminator is None and config.discriminator is not None:
            discriminator = SkillDiscriminator(config.obs_dim, config.num_skills, config.discriminator)
        self.discriminator = discriminator
        self.skill: int | None = None  # a pinned skill (``use_skill``): every episode runs it
        self._skills: torch.Tensor | None = None  # [B] the skill each env runs in this episode
        self._active: torch.Tensor | None = None

    @classmethod
    def wrap(cls, actor: Policy, num_skills: int, discriminator: SkillDiscriminator | None = None,
             metadata: dict[str, Any] | None = None, codebook: np.ndarray | None = None) -> "SkillPolicy":
        """The skill-conditioned view of ``actor`` (trained on ``[obs, one_hot(z)]``, or on
        ``[obs, z]`` with ``codebook`` the K codes ``z`` to export as skills)."""
        inner = actor.config
        code_dim = num_skills if codebook is None else int(np.shape(codebook)[1])
        config = SkillPolicyConfig(
            obs_dim=inner.obs_dim - code_dim, act_dim=inner.act_dim, obs_norm="identity", action_norm="identity",
            action_low=inner.action_low, action_high=inner.action_high,
            metadata=dict(inner.metadata if metadata is None else metadata), num_skills=num_skills,
            actor=actor.name, actor_config=asdict(inner),
            discriminator=discriminator.config if discriminator is not None else None,
            codebook=None if codebook is None else np.asarray(codebook, dtype=np.float32).tolist())
        return cls(config, actor, discriminator).to(actor.device)

    # --------------------------------------------------------------- skills
    def use_skill(self, skill: int | None) -> "SkillPolicy":
        """Pin every episode to ``skill`` (None: draw one per episode again)."""
        if skill is not None and not 0 <= int(skill) < self.config.num_skills:
            raise ValueError(f"skill must be in [0, {self.config.num_skills}), got {skill}")
        self.skill = None if skill is None else int(skill)
        return self

    def code(self, skills: torch.Tensor) -> torch.Tensor:
        """``[B]`` skills -> ``[B, code_dim]`` the entries the actor saw for them."""
        return self.codes[skills.long()]

    def _draw(self, n: int) -> torch.Tensor:
        return torch.randint(self.config.num_skills, (n,), device=self.device)

    def skills_for(self, batch: int, skill: Any = None) -> torch.Tensor:
        """The skill of each of ``batch`` envs for this step: ``skill`` (an int or ``[B]``), the
        pinned one, or this episode's draw (drawn when the batch first appears)."""
        if skill is not None:
            return torch.as_tensor(np.asarray(skill), dtype=torch.long, device=self.device).expand(batch).clone()
        if self.skill is not None:
            return torch.full((batch,), self.skill, dtype=torch.long, device=self.device)
        if self._skills is None or self._skills.shape[0] != batch:
            self._skills = self._draw(batch)
        return self._skills

    def reset(self, mask: np.ndarray | torch.Tensor | None = None) -> None:
        """A new episode (in the envs where ``mask`` is True) runs a newly drawn skill."""
        super().reset(mask)
        if mask is None or self._skills is None:
            self._skills = None
            return
        mask_t = torch.as_tensor(np.asarray(mask), dtype=torch.bool, device=self.device)
        self._skills[mask_t] = self._draw(int(mask_t.sum()))

    # --------------------------------------------------------------- acting
    def act(self, obs: Any, skill: Any = None) -> np.ndarray:
        """Raw env observations (no skill) -> actions of skill ``skill`` (default: this episode's)."""
        obs_t, _ = self._prepare_obs(obs)
        self._active = self.skills_for(obs_t.shape[0], skill)
        try:
            return super().act(obs)
        finally:
            self._active = None

    def _with_skill(self, obs_history: torch.Tensor, skills: torch.Tensor) -> torch.Tensor:
        code = self.code(skills)[:, None].expand(-1, obs_history.shape[1], -1)
        return torch.cat([obs_history, code], dim=-1)

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        skills = self._active if self._active is not None else self.skills_for(obs_history.shape[0])
        return self.actor.predict_chunk(self._with_skill(obs_history, skills))

    @torch.no_grad()
    def sample(self, obs: Any, num_samples: int, skill: Any = None) -> torch.Tensor:
        """``[B, N, Tp, act_dim]``: draw ``n`` under skill ``n mod K`` (or all under ``skill``)."""
        obs_t, _ = self._prepare_obs(obs, allow_history=True)
        if obs_t.ndim == 2:
            obs_t = obs_t[:, None]
        batch = obs_t.shape[0]
        skills = (torch.arange(num_samples, device=self.device) % self.config.num_skills if skill is None
                  else torch.full((num_samples,), int(skill), dtype=torch.long, device=self.device))
        history = self._with_skill(obs_t.repeat_interleave(num_samples, dim=0), skills.repeat(batch))
        was_training = self.training
        self.eval()
        chunks = self._clip(self.actor.sample_chunk(history))
        self.train(was_training)
        return chunks.reshape(batch, num_samples, self.actor.config.pred_horizon, self.config.act_dim)


__all__ = ["DiscriminatorConfig", "SkillDiscriminator", "SkillPolicy", "SkillPolicyConfig", "intrinsic_reward"]

from genpolicy.models import greedy as _greedy  # noqa: E402,F401  registers 'greedy-q' (the skill chooser's policy)
