"""DAgger: Dataset Aggregation (Ross, Gordon & Bagnell, 2011), on the env collector.

    D <- demonstrations (``data=``, optional)
    for round i = 0 .. rounds-1:
        beta_i from the schedule                          (constant / linear / exponential)
        roll out pi_i = beta_i pi* + (1 - beta_i) pi_hat  for ``round_env_steps`` env steps
            (per step and sub-env: the expert's action with probability beta_i, else the learner's;
             fresh episodes at each round's start)
        label every visited state with the expert:  D <- D + {(s, pi*(s))}
        refit pi_hat on all of D (BC: ``updates_per_round`` updates of batches drawn uniformly from D)

The aggregate D is the collector's replay buffer (it stores the expert's labels in place of the
executed actions: the collector's ``label=``) plus the optional demonstrations; every round is
kept (``buffer_size`` must hold them all; it is checked). The learner is one BC policy
(``head``: mse, gaussian or gmm, as `genpolicy.trainers.bc`).

**Refit: continued, not re-initialized, by default.** The paper's pi_hat_{i+1} is "the best
policy on D", i.e. a fresh fit; training the same network on for ``updates_per_round`` more
updates on all of D minimizes the same aggregate loss from a warm start, with fewer updates (what
most implementations do, e.g. imitation's). ``reinitialize=true`` is the paper's literal version:
fresh weights and optimizer moments at each round's refit.

**Rounds are epochs.** One epoch is one round (``updates_per_epoch`` is set to
``updates_per_round``): a checkpoint and an evaluation after each refit, so ``eval_history`` is
the learning curve against expert labels (``round_env_steps`` per round). A run resumed from a
round's checkpoint continues exactly (buffer, mixing RNG, batch RNG, weights): rounds begin with
fresh episodes anyway, and the env-start seed is the collector's checkpointed counter.

Expert: ``expert`` names it (`genpolicy.trainers.labelers`): ``task`` (the built-in task's
scripted expert), a trained policy's directory, ``module:function``, or a `register_expert` name.
At the end of a run the aggregate is written to ``RUN/dagger/round_KK.hdf5`` (each round's own
labelled rollouts, D4RL HDF5 with next observations; `genpolicy.datasets.load_dataset` reads
them) and the demonstrations are left where they came from.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.replay import ReplayBuffer
from genpolicy.datasets.sources import Sources
from genpolicy.models.base import build_policy
from genpolicy.models.policies import GMMPolicyConfig
from genpolicy.trainers.base import Algorithm, OptimizerConfig
from genpolicy.trainers.collection import CollectionConfig
from genpolicy.trainers.labelers import Labeler, resolve_expert

Schedule = Literal["constant", "linear", "exponential"]
_HEADS = {"mse": "bc-mse", "gaussian": "bc-gaussian", "gmm": "bc-gmm"}
EXPORT_DIR = "dagger"


def beta_at(schedule: Schedule, round_index: int, beta: float, beta_rounds: int) -> float:
    """The expert's share of the executed actions in round ``round_index`` (0-based).

    ``constant``: ``beta`` every round. ``linear``: 1 at round 0 down to 0 at round
    ``beta_rounds``, then 0. ``exponential``: ``beta ** i`` (1 at round 0; ``beta=0`` is the
    paper's best setting, the expert alone in round 0 and the learner alone afterwards).
    """
    if schedule == "constant":
        return float(beta)
    if schedule == "linear":
        return max(0.0, 1.0 - round_index / max(beta_rounds, 1))
    if schedule == "exponential":
        return float(beta) ** round_index
    raise ValueError(f"unknown beta schedule {schedule!r}; choose constant, linear or exponential")


@dataclass
class DAggerConfig(CollectionConfig):
    expert: str = "task"  # who labels: task | RUN_DIR | module:function | a register_expert name
    rounds: int = 10
    round_env_steps: int = 1_000  # env steps (= expert labels) collected per round
    updates_per_round: int = 500  # BC updates on the aggregate after each round's collection
    reinitialize: bool = False  # fresh learner weights at each refit (the paper's literal version)
    beta_schedule: Schedule = "exponential"
    beta: float = 0.0  # constant: the share; exponential: the base (0: expert in round 0 only)
    beta_rounds: int = 5  # linear: rounds until beta reaches 0
    head: Literal["mse", "gaussian", "gmm"] = "mse"
    policy: GMMPolicyConfig = field(default_factory=GMMPolicyConfig)  # the learner (num_modes: gmm only)
    optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-3))
    export: bool = True  # write each round's labelled data to RUN/dagger/ at the end
    # collection settings that mean something else here (see the module doc)
    steps: int = 0  # 0: rounds * updates_per_round; else rounds = steps / updates_per_round
    warmup_steps: int = 0
    buffer_size: int = 200_000
    snapshot_every: int = 0

    def __post_init__(self) -> None:
        if self.steps:
            if self.steps % self.updates_per_round:
                raise ValueError(f"steps ({self.steps}) must be a multiple of updates_per_round "
                                 f"({self.updates_per_round}): DAgger trains in whole rounds")
            self.rounds = self.steps // self.updates_per_round
        self.steps = self.rounds * self.updates_per_round
        self.updates_per_epoch = self.updates_per_round  # one epoch = one round
        self.updates_per_step = math.gcd(self.updates_per_step, self.updates_per_round)
        super().__post_init__()
        if self.rounds < 1 or self.round_env_steps < 1 or self.updates_per_round < 1:
            raise ValueError("rounds, round_env_steps and updates_per_round must be >= 1")
        if self.warmup_steps:
            raise ValueError("DAgger has no random warm-up (warmup_steps must be 0): round 0 is the expert's")
        if self.rounds * self.round_env_steps > self.buffer_size:
            raise ValueError(f"buffer_size ({self.buffer_size}) must hold every round: rounds x round_env_steps = "
                             f"{self.rounds * self.round_env_steps}")
        if self.head not in _HEADS:
            raise ValueError(f"unknown head {self.head!r}; choose from {sorted(_HEADS)}")
        beta_at(self.beta_schedule, 0, self.beta, self.beta_rounds)  # a clear error for an unknown schedule

    # the round structure, in the collection core's terms: round k's labels come before its updates
    def env_steps_for(self, updates: int) -> int:
        return math.ceil(updates / self.updates_per_round) * self.round_env_steps if updates > 0 else 0

    def updates_at_env_step(self, env_step: int) -> int:
        return env_step // self.round_env_steps * self.updates_per_round


class AggregateSampler:
    """Batches drawn uniformly from the union of the demonstrations and the labelled buffer."""

    def __init__(self, data: OfflineDataset | None, buffer: ReplayBuffer, batch_size: int) -> None:
        self.data, self.buffer, self.batch_size = data, buffer, batch_size

    def sample(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        n_data = len(self.data) if self.data is not None else 0
        n = n_data + len(self.buffer)
        index = torch.randint(n, (self.batch_size,), device=self.buffer.device, generator=generator)
        obs = self.buffer.observations[(index - n_data).clamp(min=0)]
        actions = self.buffer.actions[(index - n_data).clamp(min=0)]
        if n_data:
            from_data = (index < n_data)[:, None]
            rows = index.clamp(max=n_data - 1)
            obs = torch.where(from_data, self.data.observations[rows], obs)
            actions = torch.where(from_data, self.data.actions[rows], actions)
        return {"observations": obs, "actions": actions}


class DAgger(Algorithm):
    config: DAggerConfig
    data_source = "data"  # optional demonstrations: part of the aggregate from the start
    data_required = False
    needs_env = True

    def __init__(self, config: DAggerConfig, sources: Sources) -> None:
        super().__init__(config, sources)
        spec = self.spec
        # observations standardized on round 0's aggregate (fitted at the first refit, then kept)
        norm = "minmax" if config.head == "gaussian" else "standard"
        settings = {**asdict(config.policy), **spec.policy_fields(), "obs_norm": "standard", "action_norm": norm}
        policy = build_policy(_HEADS[config.head], settings)
        if norm == "minmax":  # tanh-Gaussian: actions in [-1, 1] from the env's bounds
            policy.action_normalizer.fit(torch.tensor(np.stack([spec.action_low, spec.action_high]), dtype=torch.float32))
        self.add_network("policy", policy, config.optim)
        collector = self.collector
        self.expert: Labeler = resolve_expert(config.expert, collector.metadata, spec.obs_layout, config.seed)
        collector.label = self.label  # store the expert's action at every visited state
        self._mixing = torch.Generator().manual_seed(config.seed * 7_919 + 17)
        self._beta = 1.0
        self._cache: tuple[Any, np.ndarray] | None = None
        self._fresh_episodes = False
        if self.sources.has_dataset("data"):
            data = self.sources.dataset("data")
            if (data.obs_dim, data.act_dim) != (spec.obs_dim, spec.act_dim):
                raise ValueError(f"demonstrations have obs_dim={data.obs_dim}, act_dim={data.act_dim}; the env has "
                                 f"obs_dim={spec.obs_dim}, act_dim={spec.act_dim}")

    # ------------------------------------------------------------- acting
    def expert_actions(self, obs: np.ndarray) -> np.ndarray:
        """The expert's actions at ``obs`` (asked once per env step: acting and labelling share it)."""
        if self._cache is None or self._cache[0] is not obs:
            self._cache = (obs, np.asarray(self.expert(obs), dtype=np.float32).reshape(len(obs), -1))
        return self._cache[1]

    def label(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return self.expert_actions(obs)

    @torch.no_grad()
    def explore(self, obs: np.ndarray) -> np.ndarray:
        """pi_i = beta pi* + (1 - beta) pi_hat, drawn per env step and sub-env."""
        beta = self._beta
        if beta >= 1.0:
            return self.expert_actions(obs)
        learner = self.policy.act(obs)
        if beta <= 0.0:
            return learner
        use_expert = (torch.rand(len(obs), generator=self._mixing) < beta).numpy()[:, None]
        return np.where(use_expert, self.expert_actions(obs), learner).astype(np.float32)

    # --------------------------------------------------------- collecting
    def on_train_start(self) -> None:
        super().on_train_start()
        self._fresh_episodes = True  # the collector just began fresh episodes

    def collect(self, until_env_steps: int) -> None:
        """Round starts: fresh episodes, beta from the schedule; after the round's rollouts,
        the first refit fits the normalizers and ``reinitialize`` resets the learner."""
        cfg, collector = self.config, self.collector
        if collector.env_steps >= until_env_steps:
            return
        round_index = until_env_steps // cfg.round_env_steps - 1
        if collector.env_steps == round_index * cfg.round_env_steps and round_index > 0 and not self._fresh_episodes:
            collector.buffer.end_running_episodes()  # the last round's episodes end here (truncated)
            collector.start()
        self._fresh_episodes = False
        self._beta = beta_at(cfg.beta_schedule, round_index, cfg.beta, cfg.beta_rounds)
        collector.collect(until_env_steps, self.explore, random_until=0, should_stop=self.should_stop_now)
        self._cache = None
        if collector.env_steps < until_env_steps:
            return  # stopped mid-round (resumed later)
        if int(self.num_updates) == 0:
            self.fit_normalizers()
        elif cfg.reinitialize:
            self.reset_network("policy")

    @torch.no_grad()
    def fit_normalizers(self) -> None:
        """Standardize with round 0's aggregate (demonstrations + round 0's labelled states)."""
        buffer = self.collector.buffer
        obs, actions = buffer.observations[: len(buffer)], buffer.actions[: len(buffer)]
        if self.sources.has_dataset("data"):
            data = self.sources.dataset("data").to(buffer.device)
            obs, actions = torch.cat([data.observations, obs]), torch.cat([data.actions, actions])
        self.policy.obs_normalizer.fit(obs)
        if self.config.head != "gaussian":
            self.policy.action_normalizer.fit(actions)

    # ------------------------------------------------------------ learning
    def make_sampler(self) -> AggregateSampler:
        data = self.sources.dataset("data") if self.sources.has_dataset("data") else None
        return AggregateSampler(data, self.collector.buffer, self.config.batch_size)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        policy = self.policy
        obs = policy.obs_normalizer.normalize(batch["observations"])[:, None]
        actions = policy.action_normalizer.normalize(batch["actions"])[:, None]
        losses = policy.loss(obs, actions)
        self.step("policy", losses["loss"])
        return {**{k: v.detach() for k, v in losses.items()}, "dagger/beta": torch.tensor(self._beta),
                "dagger/labels": torch.tensor(float(self.labels))}

    @property
    def labels(self) -> int:
        """Expert labels in the aggregate (demonstrations included)."""
        data = len(self.sources.dataset("data")) if self.sources.has_dataset("data") else 0
        return data + len(self.collector.buffer)

    # --------------------------------------------------------- checkpoint
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["dagger"] = {"mixing": self._mixing.get_state(), "beta": self._beta}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get("dagger")
        if state is not None:
            self._mixing.set_state(state["mixing"])
            self._beta = float(state["beta"])

    def on_train_end(self) -> None:
        """A finished run writes each round's labelled rollouts to ``RUN/dagger/``."""
        if self.config.export and int(self.num_updates) >= self.config.steps and self.trainer.is_global_zero:
            export_rounds(self.collector.buffer, self.config.round_env_steps, Path(self.trainer.default_root_dir) / EXPORT_DIR,
                          {**self.collector.metadata, "source": f"dagger:{self.config.expert}"})


def round_datasets(buffer: ReplayBuffer, round_env_steps: int, metadata: dict[str, Any] | None = None) -> list[OfflineDataset]:
    """Each round's transitions (insertion numbers ``[k R, (k+1) R)``) as its own dataset."""
    rows = buffer.chronological()
    order = buffer.order[rows]
    datasets = []
    for k in range(math.ceil(int(buffer.added) / round_env_steps)):
        mine = rows[(order >= k * round_env_steps) & (order < (k + 1) * round_env_steps)]
        if len(mine) == 0:
            continue
        part = ReplayBuffer(len(mine), buffer.obs_dim, buffer.act_dim, "cpu", buffer.obs_layout)
        part.add(buffer.observations[mine].cpu(), buffer.actions[mine].cpu(), buffer.rewards[mine].cpu(),
                 buffer.next_observations[mine].cpu(), buffer.terminations[mine].cpu(), buffer.truncations[mine].cpu(),
                 env_ids=buffer.env_ids[mine].cpu())
        datasets.append(part.to_dataset({**(metadata or {}), "dagger_round": k}))
    return datasets


def export_rounds(buffer: ReplayBuffer, round_env_steps: int, directory: Path, metadata: dict[str, Any]) -> list[Path]:
    """Write `round_datasets` as ``directory/round_KK.hdf5``."""
    from genpolicy.datasets.d4rl_io import write_d4rl_hdf5

    directory.mkdir(parents=True, exist_ok=True)
    return [write_d4rl_hdf5(directory / f"round_{data.metadata['dagger_round']:02d}.hdf5", data, overwrite=True)
            for data in round_datasets(buffer, round_env_steps, metadata)]


__all__ = ["AggregateSampler", "DAgger", "DAggerConfig", "beta_at", "export_rounds", "round_datasets"]
