"""Double DQN over K discrete choices on the online core: the skill chooser of a skill hierarchy.

    env: a Box(K) action space whose argmax is the choice (the ``skill-options`` wrapper)
    explore: epsilon-greedy, epsilon linear from epsilon_start to epsilon_end over epsilon_decay_steps env
             steps after the warm-up (uniform random scores during the warm-up: a uniform random choice)
    for each update:
        (s, a, r, s', d) ~ replay buffer;   k = argmax a   (the choice the stored scores made)
        y = r + gamma (1 - d) Q_target(s', argmax_k' Q(s', k'))      (Double DQN: online picks, target values)
        L = Huber(Q(s, k) - y)
        Q_target <- (1 - tau) Q_target + tau Q

Why a discrete learner: a high-level SAC over the K scores (argmax relaxation) sees a Q that is
piecewise constant in its action, and its actor climbs the critic's extrapolation into score
vectors never tried (measured in docs/skills.md: its Q estimates ran to 25 on returns <= 1).
DQN values exactly the K choices. The Q-network is the exported policy (`GreedyQPolicy`,
``greedy-q``: acts ``+1`` on the greedy choice, ``-1`` elsewhere), so evaluation and the
recorded wrappers work as for any policy. Rewards come from the reward source (``env``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from genpolicy.models.greedy import GreedyQPolicy
from genpolicy.models.policies import MLPPolicyConfig
from genpolicy.trainers.actor_critic import ActorCritic, ActorCriticConfig, RewardConfig
from genpolicy.trainers.base import OptimizerConfig
from genpolicy.trainers.collection import CollectionConfig
from genpolicy.trainers.policy_algorithm import make_env_policy


@dataclass
class SkillDQNConfig(CollectionConfig, ActorCriticConfig):
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    q: MLPPolicyConfig = field(default_factory=lambda: MLPPolicyConfig(hidden_dims=[128, 128], activation="relu"))
    q_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 1_000  # env steps (of the wrapped env) after the warm-up
    reward: RewardConfig = field(default_factory=lambda: RewardConfig(normalize="none"))


class SkillDQN(ActorCritic):
    """See the module doc."""

    config: SkillDQNConfig
    data_source = None
    data_required = False
    needs_env = True

    def __init__(self, config: SkillDQNConfig, sources) -> None:
        super().__init__(config, sources)
        q = make_env_policy("greedy-q", config.q, self.spec, obs_horizon=1, pred_horizon=1, action_horizon=1)
        self.add_network("q", q, config.q_optim, target=True)
        self.num_choices = int(self.spec.act_dim)

    def epsilon(self) -> float:
        cfg = self.config
        progress = (self.env_steps - cfg.warmup_steps) / max(cfg.epsilon_decay_steps, 1)
        return float(cfg.epsilon_start + (cfg.epsilon_end - cfg.epsilon_start) * min(max(progress, 0.0), 1.0))

    @torch.no_grad()
    def explore(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        greedy = self.q.q_values(self.q.obs_normalizer.normalize(obs_t)).argmax(-1)
        generator = self.generator
        n = greedy.shape[0]
        random = torch.randint(self.num_choices, (n,), generator=generator, device=generator.device).to(greedy.device)
        explore = torch.rand(n, generator=generator, device=generator.device).to(greedy.device) < self.epsilon()
        choice = torch.where(explore, random, greedy)
        return (2.0 * F.one_hot(choice, self.num_choices).float() - 1.0).cpu().numpy()

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        q_net, normalize = self.q, self.q.obs_normalizer.normalize
        obs, next_obs = normalize(batch["observations"]), normalize(batch["next_observations"])
        choices = batch["actions"].argmax(-1)
        with torch.no_grad():
            next_choice = q_net.q_values(next_obs).argmax(-1, keepdim=True)
            next_value = self.target("q").q_values(next_obs).gather(-1, next_choice)[:, 0]
            target = batch["rewards"] + cfg.gamma * (1.0 - batch["terminations"].float()) * next_value
        q = q_net.q_values(obs).gather(-1, choices[:, None])[:, 0]
        loss = F.smooth_l1_loss(q, target)
        self.step("q", loss)
        self.soft_update("q", cfg.tau)
        return {"q_loss": loss.detach(), "q": q.mean().detach(), "epsilon": torch.tensor(self.epsilon())}

    def export_policy(self) -> GreedyQPolicy:
        return self.q


__all__ = ["SkillDQN", "SkillDQNConfig"]
