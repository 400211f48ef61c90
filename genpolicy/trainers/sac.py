"""Soft Actor-Critic (Haarnoja et al., 2018) online, and BRO as a configuration of it.

    for each update:
        (s, a, r, s', d) ~ replay buffer            (r from the reward source, d = terminated)
        a' ~ pi(s')
        Q backup:  y = r + gamma (1 - d) [reduce_i Qtarget_i(s', a') - alpha log pi(a'|s')]
        critic:    L_Q = sum_i E[(Q_i(s, a) - y)^2]        (quantile critics: quantile Huber loss)
        actor:     L_pi = E[alpha log pi(a~|s) - reduce_i Q_i(s, a~)],   a~ ~ pi(s) (reparameterized)
        temperature: L_alpha = -E[log alpha (log pi(a~|s) + target_entropy)]
        Qtarget <- (1 - tau) Qtarget + tau Q

``reduce`` combines the ensemble: ``min`` (clipped double Q, SAC), ``mean``, or ``pessimistic``
``mean - pessimism * std`` (BRO; pessimism 0 is the mean, a negative one is optimistic).
Terminations stop the bootstrap, truncations do not (`td_target`).

SAC is an `ActorCritic` whose sources hold an env collector (``"env"``; an optional ``"data"``
is mixed into every batch, RLPD's symmetric sampling), with the collection settings of
`CollectionConfig`. The actor is the registered ``bc-gaussian`` policy (tanh-Gaussian,
``rsample`` / ``log_prob``): actions min/max-normalized from the env's action bounds to [-1, 1],
observations not normalized (identity: online data has no fixed statistics). Critics are
`EnsembleCritic` (MLP or BroNet, optionally quantile heads), the same networks as the offline
critics.

**BRO** (Nauman et al., 2024; ``genpolicy fit bro``) is this update with: BroNet critics
(512 wide, 2 residual blocks), quantile critics, the non-pessimistic ensemble mean for the
backup and the actor, replay ratio 10 (``bro-fast``: 2), batch 128, AdamW weight decay, target
entropy -|A|/2, and full resets of actor, critic (+ target), temperature and their optimizer
moments at fixed env steps while the replay buffer is kept (`NetworkResets`, a marker
``reset/<network>`` in the logs). The dormant-neuron fraction is logged (`DormantMonitor`).
Optimistic exploration (``optimistic_actor``): a second tanh-Gaussian actor collects the data;
it climbs the ensemble's upper bound ``mean + optimism * std`` while a dual-adjusted weight keeps
its KL to the main actor near ``target_kl`` (BRO's dual-actor scheme; the settings here are
this implementation's, not checked against the BRO code).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

import lightning as L
import torch

from genpolicy.datasets.sources import Sources
from genpolicy.models.base import Policy
from genpolicy.models.critics import CriticConfig, quantile_huber_loss, reduce_ensemble, td_target
from genpolicy.models.policies import MLPPolicyConfig
from genpolicy.trainers.actor_critic import ActorCritic, ActorCriticConfig, LogScalar, RewardConfig, temperature_objective
from genpolicy.trainers.base import OptimizerConfig
from genpolicy.trainers.collection import CollectionConfig
from genpolicy.trainers.network_callbacks import DormantMonitor, NetworkResets
from genpolicy.trainers.warm_start import WarmStart, load_warm_start

Reduction = Literal["min", "mean", "pessimistic"]


@dataclass
class SACConfig(CollectionConfig, ActorCriticConfig):
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    # ReLU as in SAC, SB3 and the BRO code (and ~30x cheaper than Mish on a CPU core)
    actor: MLPPolicyConfig = field(default_factory=lambda: MLPPolicyConfig(activation="relu"))
    actor_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))
    critic: CriticConfig = field(default_factory=CriticConfig)
    critic_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))
    reward: RewardConfig = field(default_factory=lambda: RewardConfig(normalize="none"))  # online: no fixed returns
    temperature_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))
    initial_temperature: float = 1.0
    target_entropy: float | None = None  # None: -target_entropy_scale * act_dim
    target_entropy_scale: float = 1.0
    target_reduction: Reduction = "min"  # ensemble -> backup value
    actor_reduction: Reduction = "min"  # ensemble -> value the actor climbs
    pessimism: float = 1.0  # k of "pessimistic": mean - k std
    backup_entropy: bool = True  # subtract alpha log pi(a'|s') in the backup (soft Q)
    resets_at: list[int] = field(default_factory=list)  # env steps at which every network is reset
    # BRO's optimistic exploration: a second actor ("explorer") climbs mean + optimism * std of
    # the ensemble while a dual-adjusted weight holds KL(explorer || actor) near target_kl;
    # the explorer collects the data, the actor is what is evaluated and exported.
    optimistic_actor: bool = False
    optimism: float = 1.0
    target_kl: float = 0.25
    kl_weight_optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=3e-4))
    dormant_every: int = 0  # updates between dormant-neuron measurements (0: off)
    # Offline-to-online: a finished iql/cql/sac run directory whose actor, critics, temperature
    # and reward scale this run starts from (warm_start.py); its critic architecture replaces
    # ``critic``. Warm-up steps then act with that actor instead of at random.
    init: str = ""
    # Updates at the start in which only the critics learn (actor, temperature and explorer
    # wait). After ``init`` the offline critic has only been checked on the data's actions; the
    # actor climbing it at once is the offline-to-online dip. Letting the critic first fit the
    # started actor's own warm-up data is the fix tried here (0: off).
    critic_warmup_updates: int = 0


class SAC(ActorCritic):
    config: SACConfig
    actor_policy = "bc-gaussian"
    needs_env = True  # sources: "env" (a collector) and, optionally, "data" mixed into every batch
    data_required = False

    def __init__(self, config: SACConfig, sources: Sources) -> None:
        start = load_warm_start(config.init) if config.init else None
        if start is not None:
            config.critic = start.critic_config
        super().__init__(config, sources, reward_factor=start.reward_scale if start else 1.0)
        if start is not None:
            self.check_warm_start(start)
            self.warm_started = True
        self.add_network("actor", start.actor if start else self.build_actor(), config.actor_optim,
                         probe=lambda batch: self.actor.rsample(self.normalized_transitions(batch)[0]))
        self.add_network("critic", self.build_critic(), config.critic_optim, target=True, probe=self.critic_probe())
        temperature = start.temperature if start and start.temperature is not None else config.initial_temperature
        self.add_network("temperature", LogScalar(temperature), config.temperature_optim)
        if start is not None:
            self.critic.load_state_dict(start.critic_state)
            self.critic_target.load_state_dict(start.critic_target_state or start.critic_state)
            print(f"init: actor and critics of the {start.algo} run {start.run_dir} (temperature {temperature:g}, "
                  f"rewards x {start.reward_scale:.4g} as its critic saw them); warm-up acts with that actor")
        if config.optimistic_actor:
            # the explorer acts on the actor's normalized units: a started run's explorer is a
            # copy of the started actor (same normalizers), a fresh run's a fresh actor
            self.add_network("explorer", copy.deepcopy(start.actor) if start else self.build_actor(), config.actor_optim)
            self.add_network("kl_weight", LogScalar(1.0), config.kl_weight_optim)
        self.target_entropy = (config.target_entropy if config.target_entropy is not None
                               else -config.target_entropy_scale * float(self.spec.act_dim))

    # ------------------------------------------------------------- building
    def check_warm_start(self, start: WarmStart) -> None:
        """The run to start from must act in this env: same observation and action sizes."""
        config = start.actor.config
        spec = self.spec
        if (config.obs_dim, config.act_dim) != (spec.obs_dim, spec.act_dim):
            raise ValueError(f"--init {start.run_dir}: its actor takes obs_dim={config.obs_dim}, act_dim={config.act_dim}; "
                             f"{spec.metadata.get('env_id', 'the env')} has obs_dim={spec.obs_dim}, act_dim={spec.act_dim}")

    def configure_callbacks(self) -> list[L.Callback]:
        callbacks = super().configure_callbacks()
        cfg = self.config
        if cfg.resets_at:
            at = [cfg.updates_at_env_step(step) for step in cfg.resets_at]
            callbacks.append(NetworkResets(self.network_names, [u for u in at if 0 < u <= cfg.steps]))
        if cfg.dormant_every > 0:
            callbacks.append(DormantMonitor(every=cfg.dormant_every))
        return callbacks

    def exploration_actor(self) -> Policy:
        return self.explorer if self.config.optimistic_actor else self.actor

    # --------------------------------------------------------------- update
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        obs, actions, rewards, next_obs, terminations = self.normalized_transitions(batch)
        alpha = self.temperature().detach()
        distributional = cfg.critic.num_quantiles > 1

        # critic
        with torch.no_grad():
            next_actions, next_log_probs = self.actor.rsample(next_obs)
            next_values = reduce_ensemble(self.critic_target(next_obs, next_actions), cfg.target_reduction, cfg.pessimism)
            if cfg.backup_entropy:
                entropy_term = alpha * next_log_probs
                next_values = next_values - (entropy_term[:, None] if distributional else entropy_term)
            target = td_target(rewards, next_values, terminations, cfg.gamma)
        q = self.critic(obs, actions)  # [E, B] or [E, B, Nq]
        if distributional:
            critic_loss = quantile_huber_loss(q, target) * q.shape[0]
        else:
            critic_loss = (q - target).square().mean(1).sum()
        self.step("critic", critic_loss)
        self.soft_update("critic", cfg.tau)
        q_mean = q.mean(-1) if distributional else q
        metrics = {"critic_loss": critic_loss.detach(), "q": q_mean.mean().detach()}
        if self.update_index < cfg.critic_warmup_updates:
            return metrics

        # actor
        new_actions, log_probs = self.actor.rsample(obs)
        with self.frozen("critic"):
            q_new = reduce_ensemble(self.critic.q_value(obs, new_actions), cfg.actor_reduction, cfg.pessimism)
        actor_loss = (alpha * log_probs - q_new).mean()
        self.step("actor", actor_loss)

        # temperature
        temperature_loss = temperature_objective(self.temperature.log_value, log_probs, self.target_entropy)
        self.step("temperature", temperature_loss)

        if cfg.optimistic_actor:
            metrics.update(self.update_explorer(obs))
        return {**metrics, "actor_loss": actor_loss.detach(), "temperature_loss": temperature_loss.detach(),
                "temperature": alpha, "entropy": -log_probs.mean().detach()}

    def update_explorer(self, obs: torch.Tensor) -> dict[str, torch.Tensor]:
        """The optimistic actor: ``L = E[w KL(pi_o || pi)(s) - (mean_i Q_i + optimism std_i Q_i)(s, a_o)]``,
        ``a_o ~ pi_o(s)``, KL estimated from the same draw; ``w`` grows while the KL exceeds
        ``target_kl`` and shrinks below it (``L_w = -log w (KL - target_kl)``)."""
        cfg = self.config
        actions, log_probs = self.explorer.rsample(obs)
        with self.frozen("critic", "actor"):
            upper = reduce_ensemble(self.critic.q_value(obs, actions), "pessimistic", -cfg.optimism)
            kl = log_probs - self.actor.log_prob(obs, actions)
        weight = self.kl_weight().detach()
        explorer_loss = (weight * kl - upper).mean()
        self.step("explorer", explorer_loss)
        kl_weight_loss = -(self.kl_weight.log_value * (kl.detach().mean() - cfg.target_kl))
        self.step("kl_weight", kl_weight_loss)
        return {"explorer_loss": explorer_loss.detach(), "explorer_kl": kl.mean().detach(), "kl_weight": weight}

    def export_policy(self) -> Policy:
        return self.actor


# BRO's reset points in env steps (the BRO code's schedule: two early resets against primacy
# bias, then every 250k steps).
BRO_RESETS = [15_000, 50_000, 250_000, 500_000, 750_000]

BRO = {
    "critic.arch": "bronet", "critic.width": 512, "critic.blocks": 2, "critic.ensemble": 2,
    "critic.num_quantiles": 100, "target_reduction": "pessimistic", "actor_reduction": "pessimistic",
    "pessimism": 0.0, "replay_ratio": 10.0, "batch_size": 128, "actor.layer_norm": True,
    "critic_optim.weight_decay": 1e-4, "actor_optim.weight_decay": 1e-4, "target_entropy_scale": 0.5,
    "resets_at": BRO_RESETS, "dormant_every": 1_000, "warmup_steps": 2_500, "optimistic_actor": True,
}
BRO_FAST = {**BRO, "replay_ratio": 2.0}

__all__ = ["BRO", "BRO_FAST", "BRO_RESETS", "SAC", "SACConfig", "temperature_objective"]
