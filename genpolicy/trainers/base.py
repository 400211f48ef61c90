"""The algorithm core: one LightningModule base for every offline (and later online) learner.

An algorithm file holds only its science: it registers its networks and writes ``update``.
Everything else lives here, once:

* **Networks and optimizers, by name.** ``add_network("critic", module, optim=OptimizerConfig(...),
  target=True)`` registers a trainable network with its own learning rate, weight decay,
  gradient clip and learning-rate schedule, plus an optional frozen target copy (Polyak,
  ``soft_update``) and/or an EMA copy (warm-up decay, updated after every update). ``step(name,
  loss)`` is zero_grad -> backward -> clip -> optimizer step -> schedule step for that network.
  ``reset_network(name)`` re-initializes a network, its optimizer moments and its copies (BRO /
  primacy-bias resets; called by a scheduled callback, not from inside ``update``).
* **The update loop.** ``updates_per_step`` updates run inside one Lightning step (amortizing
  Lightning's per-step overhead); ``self.update_index`` is the index of the update being run
  (policy delay, target period); metrics stay tensors and are averaged per key over the updates
  that reported them (keys may differ between updates); logs are written against the update
  count, not Lightning's optimizer-step counter. A chunk stops early when the trainer is asked
  to stop (SIGTERM, Ctrl-C), and the next chunk catches up, so totals stay exact on resume.
* **Data.** Sources are objects handed to the algorithm by name (`genpolicy.datasets.sources`):
  ``Algo(config, sources)`` with a fixed dataset (``"data"``), an env collector with its replay
  buffer (``"env"``), several at once (GAIL's ``"expert"`` + ``"env"``); an `OfflineDataset`
  alone means ``{"data": it}``. They live on the training device; batches are drawn by index
  with the module's ``torch.Generator`` from the samplers ``make_sampler`` builds on them (the
  DataLoader only counts steps). Networks are sized from ``self.sources.spec``.
* **Collecting.** When one source is an env collector, every chunk first steps its env until
  ``config.env_steps_for(updates at the chunk's end)`` transitions are stored (uniform random
  actions during the warm-up, then ``explore``), then runs the chunk's updates: online vs
  offline is a matter of sources, not of class lineage (`genpolicy.trainers.collection`).
* **Exact resume.** The checkpoint carries weights, optimizers and schedules (Lightning), loop
  position (Lightning), every rank's batch generator, torch's CPU/CUDA RNG states and every
  source's own state (a collector's buffer and counters) (here).
* **Lightning at arm's length.** What the core takes from Lightning's internals (the direct
  optimizer step, the step counter) is in `genpolicy.trainers.lightning_adapter`.
"""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Literal

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.sources import Source, Sources
from genpolicy.models.base import Policy
from genpolicy.trainers import lightning_adapter


@dataclass
class OptimizerConfig:
    """AdamW settings of one network (each network of an algorithm has its own)."""

    lr: float = 3e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 0.0  # max global gradient norm; 0 disables clipping
    schedule: Literal["constant", "cosine"] = "constant"  # cosine decays to 0 at the last update
    warmup_steps: int = 0  # linear warm-up of the learning rate (both schedules)

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")


@dataclass
class AlgoConfig:
    """Loop settings every algorithm shares; algorithms subclass it with their own."""

    batch_size: int = 256
    steps: int = 10_000  # gradient updates in total
    updates_per_step: int = 20  # gradient updates per Lightning step
    updates_per_epoch: int = 1_000  # an epoch = one checkpoint/eval interval
    log_every: int = 100  # updates between logged metric averages
    seed: int = 0

    def __post_init__(self) -> None:
        if self.updates_per_epoch % self.updates_per_step:
            raise ValueError(
                f"updates_per_epoch ({self.updates_per_epoch}) must be a multiple of "
                f"updates_per_step ({self.updates_per_step})"
            )

    @property
    def epochs(self) -> int:
        return math.ceil(self.steps / self.updates_per_epoch)


@dataclass
class _Slot:
    """What the core knows of one named network."""

    optim: OptimizerConfig | None
    target: bool
    ema_decay: float
    probe: Callable[[dict[str, torch.Tensor]], Any] | None


def ema_decay_at(max_decay: float, step: int) -> float:
    """Warm-up schedule of diffusers' EMAModel: ``1 - (1 + step)^-0.75``, capped at ``max_decay``.

    Early on the average follows the weights closely; later it smooths over ~1/(1-decay)
    updates. (Power 3/4 is the Diffusion Policy setting.)
    """
    return min(max_decay, 1.0 - (1.0 + step) ** -0.75) if step > 0 else 0.0


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak averaging ``target <- (1 - tau) target + tau source`` in one fused call per kind.

    Parameters are averaged; buffers (normalizer statistics, running stats) are copied, since
    an average of two statistics is not a statistic of anything.
    """
    torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)
    for target_buffer, buffer in zip(target.buffers(), source.buffers()):
        target_buffer.copy_(buffer)


@torch.no_grad()
def reinitialize(module: nn.Module) -> None:
    """Fresh initial weights for every submodule that knows how to reset itself."""
    for child in module.modules():
        reset = getattr(child, "reset_parameters", None)
        if callable(reset):
            reset()


class Algorithm(L.LightningModule):
    """Base class. Subclasses ``add_network`` their networks and implement ``update``.

    ``sources``: the named data sources (see the module doc); an `OfflineDataset` alone is
    ``{"data": dataset}``. How `genpolicy.train` fills them from ``data=`` / ``env=``:
    ``data_source`` names the source a dataset becomes (``None``: takes no dataset),
    ``data_required`` says whether one is needed, ``needs_env`` whether an env collector is.
    """

    data_source: str | None = "data"
    data_required: bool = True
    needs_env: bool = False

    def __init__(self, config: AlgoConfig, sources: Sources | OfflineDataset | Source | dict) -> None:
        super().__init__()
        self.config = config
        self.sources = Sources.coerce(sources)
        if self.data_source and self.data_required:
            self.sources.dataset(self.data_source, needed_by=type(self).__name__)  # a clear error when missing
        self.spec = self.sources.spec  # what networks are sized from (the collector's wrapped env, else the data)
        if self.needs_env and self.sources.collector is None:
            raise ValueError(f"{type(self).__name__} learns from its own env interaction: give it an env collector "
                             "(train(..., env=ENV) or `fit ... --env ENV`)")
        if self.sources.collector is not None:
            from genpolicy.trainers.collection import CollectionConfig, CollectionLog

            if not isinstance(config, CollectionConfig):
                raise ValueError(f"{type(self).__name__} was given an env collector, but its config "
                                 f"{type(config).__name__} has no collection settings (replay_ratio, warmup_steps)")
            self._collection_log = CollectionLog()
        self.warm_started = False  # started from a trained run: the warm-up acts with the actor
        self.direct_steps = False  # set at train start (lightning_adapter.direct_steps_possible)
        self.automatic_optimization = False
        self.update_index = 0  # index of the update being run (0-based)
        # Set by `StopOnSignal` (SIGTERM / Ctrl-C) in a single-process run: the update loop and env
        # collection stop at the next update, and `RollingCheckpoint` turns it into
        # ``trainer.should_stop`` after the step, so the checkpoint holds the exact mid-epoch loop
        # position. The handler never sets ``trainer.should_stop`` itself: set after the step's
        # check, Lightning would end the epoch early and save it as a finished epoch.
        self.stop_requested = False
        self._slots: dict[str, _Slot] = {}
        self._generator: torch.Generator | None = None
        self._pending_generator_state: torch.Tensor | None = None
        self._sampler = None
        self._sampler_device: torch.device | None = None
        self._metric_sums: dict[str, torch.Tensor] = {}
        self._metric_counts: dict[str, int] = {}
        self._last_logged = 0
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    # ----------------------------------------------------------- to override
    def make_sampler(self):
        """The sampler this algorithm draws batches from (its sources already on the device)."""
        raise NotImplementedError

    @torch.no_grad()
    def explore(self, obs: np.ndarray) -> np.ndarray:
        """Actions taken while collecting (algorithms with an env collector override it)."""
        raise NotImplementedError(f"{type(self).__name__} does not act in an env")

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One gradient update on one batch; returns detached scalar metrics (keys may vary)."""
        raise NotImplementedError

    def export_policy(self) -> Policy:
        """The stand-alone policy to save and evaluate (the EMA copy when there is one)."""
        averaged = self.averaged("policy")
        return averaged if averaged is not None else self.policy

    # ---------------------------------------------------------- networks
    def add_network(
        self,
        name: str,
        module: nn.Module,
        optim: OptimizerConfig | None = None,
        *,
        target: bool = False,
        ema_decay: float = 0.0,
        probe: Callable[[dict[str, torch.Tensor]], Any] | None = None,
    ) -> nn.Module:
        """Register ``module`` as ``self.<name>``.

        ``optim``: its optimizer settings (None: not trained by an optimizer of its own).
        ``target``: keep a frozen copy ``self.<name>_target`` for ``soft_update``.
        ``ema_decay`` > 0: keep ``self.<name>_ema``, averaged after every update.
        ``probe(batch)``: a forward pass used to measure dormant neurons (ReDo).
        """
        if name in self._slots:
            raise ValueError(f"network {name!r} registered twice")
        setattr(self, name, module)
        self._slots[name] = _Slot(optim, target, ema_decay, probe)
        if target:
            setattr(self, f"{name}_target", copy.deepcopy(module).requires_grad_(False))
        if ema_decay > 0:
            setattr(self, f"{name}_ema", copy.deepcopy(module).requires_grad_(False))
        return module

    @property
    def network_names(self) -> list[str]:
        return list(self._slots)

    def probe(self, name: str) -> Callable[[dict[str, torch.Tensor]], Any] | None:
        """The forward pass registered to measure network ``name`` (dormant neurons), if any."""
        return self._slots[name].probe

    def target(self, name: str) -> nn.Module:
        return getattr(self, f"{name}_target")

    def averaged(self, name: str) -> nn.Module | None:
        """The EMA copy of network ``name``, or None when it has none."""
        return getattr(self, f"{name}_ema", None) if name in self._slots else None

    def soft_update(self, name: str, tau: float) -> None:
        """``<name>_target <- (1 - tau) <name>_target + tau <name>``."""
        soft_update(self.target(name), getattr(self, name), tau)

    def _update_averages(self, step: int) -> None:
        for name, slot in self._slots.items():
            if slot.ema_decay > 0:
                soft_update(self.averaged(name), getattr(self, name), 1.0 - ema_decay_at(slot.ema_decay, step))

    @torch.no_grad()
    def reset_network(self, name: str) -> None:
        """Re-initialize network ``name``: fresh weights, fresh optimizer moments, and its
        target / EMA copies set to the fresh weights. Data, other networks and the learning
        rate schedule's position are kept (the BRO / primacy-bias reset)."""
        module = getattr(self, name)
        reinitialize(module)
        if self._slots[name].target:
            self.target(name).load_state_dict(module.state_dict())
        if self._slots[name].ema_decay > 0:
            self.averaged(name).load_state_dict(module.state_dict())
        if self._slots[name].optim is not None and self._trainer is not None:
            self.optimizer(name).state.clear()

    # -------------------------------------------------------- optimizers
    def configure_optimizers(self):
        optimizers, schedules = [], []
        self._optimizer_index: dict[str, int] = {}
        self._schedule_index: dict[str, int] = {}
        for name, slot in self._slots.items():
            if slot.optim is None:
                continue
            self._optimizer_index[name] = len(optimizers)
            optimizer = self.make_optimizer(self.parameters_of(name), slot.optim)
            optimizers.append(optimizer)
            schedule = self.make_schedule(optimizer, slot.optim)
            if schedule is not None:
                self._schedule_index[name] = len(schedules)
                schedules.append({"scheduler": schedule, "interval": "step"})
        return optimizers, schedules

    def parameters_of(self, name: str):
        """What the optimizer of network ``name`` trains (override for parameter groups)."""
        return getattr(self, name).parameters()

    @staticmethod
    def make_optimizer(params, optim: OptimizerConfig) -> torch.optim.Optimizer:
        """AdamW with the fused kernel (one op per step for all tensors instead of ~6 per tensor)."""
        return torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay, betas=tuple(optim.betas), fused=True)

    def make_schedule(self, optimizer: torch.optim.Optimizer, optim: OptimizerConfig):
        """Linear warm-up then constant or cosine decay to 0 at the last update (diffusers')."""
        if optim.schedule == "constant" and optim.warmup_steps <= 0:
            return None
        from diffusers.optimization import get_scheduler

        kind = "cosine" if optim.schedule == "cosine" else "constant_with_warmup"
        return get_scheduler(kind, optimizer, num_warmup_steps=optim.warmup_steps, num_training_steps=self.config.steps)

    def optimizer(self, name: str) -> torch.optim.Optimizer:
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        return optimizers[self._optimizer_index[name]]

    @contextmanager
    def frozen(self, *names: str) -> Iterator[None]:
        """Inside the block, networks ``names`` give gradients to their inputs but not to their
        own weights: an actor's loss climbs the critic's output, and computing the critic's
        weight gradients there (to be discarded by its next ``zero_grad``) is a third of the
        critic's backward for nothing. The actor's gradients are unchanged."""
        params = [p for name in names for p in getattr(self, name).parameters() if p.requires_grad]
        for param in params:
            param.requires_grad_(False)
        try:
            yield
        finally:
            for param in params:
                param.requires_grad_(True)

    def step(self, name: str, loss: torch.Tensor) -> None:
        """One optimizer step of network ``name`` on ``loss`` (and one schedule step)."""
        optim = self._slots[name].optim
        optimizer = self.optimizer(name)
        direct = self.direct_steps
        optimizer.zero_grad(set_to_none=True)
        if direct:
            loss.backward()
        else:
            self.manual_backward(loss)
        if optim.grad_clip > 0:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, optim.grad_clip)
        if direct:
            lightning_adapter.torch_optimizer(optimizer).step()
        else:
            optimizer.step()
        if name in self._schedule_index:
            schedules = self.lr_schedulers()
            schedules = schedules if isinstance(schedules, list) else [schedules]
            schedules[self._schedule_index[name]].step()

    def on_train_start(self) -> None:
        # The short way past Lightning's step wrappers where they do nothing (lightning_adapter);
        # DDP and fp16 keep Lightning's path.
        self.direct_steps = lightning_adapter.direct_steps_possible(self.trainer)
        collector = self.collector
        if collector is not None:
            if self.trainer.world_size > 1:
                raise ValueError("an env collector runs on one device (one env loop, one replay buffer); use --devices 1")
            collector.to(self.device)
            collector.start()
            self._collection_log.restart(collector.env_steps, int(self.num_updates))

    def _count_updates(self, count: int) -> None:
        """Tell Lightning's step counter (``trainer.global_step``) about updates run directly."""
        if self.direct_steps:
            lightning_adapter.count_optimizer_steps(self.trainer, count)

    # ---------------------------------------------------------------- data
    @property
    def generator(self) -> torch.Generator:
        if self._generator is None or self._generator.device != self.device:
            generator = torch.Generator(device=self.device)
            # Different ranks draw different batches; the same rank always the same ones.
            generator.manual_seed(self.config.seed * 1_000 + self.global_rank)
            if self._pending_generator_state is not None:
                generator.set_state(self._pending_generator_state)
                self._pending_generator_state = None
            self._generator = generator
        return self._generator

    @property
    def dataset(self) -> OfflineDataset | None:
        """The ``"data"`` source's dataset (None when the algorithm has none)."""
        return self.sources["data"].dataset if self.sources.has_dataset("data") else None

    @property
    def collector(self) -> Any | None:
        """The env collector among the sources (None for offline learning)."""
        return self.sources.collector

    @property
    def buffer(self) -> Any | None:
        """The collector's replay buffer (None for offline learning)."""
        return self.collector.buffer if self.collector is not None else None

    @property
    def env_steps(self) -> int:
        return self.collector.env_steps if self.collector is not None else 0

    def sample_batch(self) -> dict[str, torch.Tensor]:
        if self._sampler is None or self._sampler_device != self.device:
            self.sources.to(self.device)
            self._sampler = self.make_sampler()
            self._sampler_device = self.device
        return self._sampler.sample(self.generator)

    # ------------------------------------------------------------ Lightning
    def train_dataloader(self) -> DataLoader:
        # Only counts Lightning steps: one item per chunk of `updates_per_step` updates.
        steps = self.config.updates_per_epoch // self.config.updates_per_step
        return DataLoader(range(steps), batch_size=None, shuffle=False)

    def training_step(self, _step: Any, batch_index: int) -> None:
        cfg = self.config
        done = int(self.num_updates)  # one host sync per Lightning step, not per update
        # Where this chunk should end: a chunk cut short by a stop request is made up by the
        # next one, so an interrupted-then-resumed run does exactly ``steps`` updates.
        steps_per_epoch = cfg.updates_per_epoch // cfg.updates_per_step
        chunk_end = (self.current_epoch * steps_per_epoch + batch_index + 1) * cfg.updates_per_step
        end = min(cfg.steps, max(chunk_end, done))
        if self.collector is not None:
            self.collect(cfg.env_steps_for(end))
        ran = 0
        for index in range(done, end):
            self.update_index = index
            self._accumulate(self.update(self.sample_batch()))
            self._update_averages(index + 1)
            ran += 1
            if self.should_stop_now():  # SIGTERM / Ctrl-C: stop within one update
                break
        self.num_updates += ran
        self._count_updates(ran)
        self._log_metrics(done + ran)
        if self.collector is not None:
            self._collection_log.log(self)

    def should_stop_now(self) -> bool:
        """A stop was asked for, by a signal (`stop_requested`) or a callback."""
        return self.stop_requested or self.trainer.should_stop

    def collect(self, until_env_steps: int) -> None:
        """Step the collector's env until ``until_env_steps`` transitions are stored (uniform
        random actions during the warm-up unless the run was warm-started)."""
        random_until = 0 if self.warm_started else self.config.warmup_steps
        self.collector.collect(until_env_steps, self.explore, random_until=random_until,
                               should_stop=self.should_stop_now)

    def teardown(self, stage: str) -> None:
        if self.collector is not None:
            self.collector.close()

    def configure_callbacks(self) -> list[L.Callback]:
        if self.collector is None:
            return []
        from genpolicy.trainers.callbacks import CollectionProgress, PolicySnapshots

        callbacks: list[L.Callback] = [CollectionProgress()]
        if self.config.snapshot_every > 0:
            callbacks.append(PolicySnapshots(self.config.snapshot_every))
        return callbacks

    def _accumulate(self, metrics: dict[str, torch.Tensor]) -> None:
        for key, value in metrics.items():
            if key in self._metric_sums:
                self._metric_sums[key] = self._metric_sums[key] + value.detach()
                self._metric_counts[key] += 1
            else:
                self._metric_sums[key] = value.detach().clone()
                self._metric_counts[key] = 1

    def _log_metrics(self, updates: int) -> None:
        """Average each metric over the updates that reported it; log against ``updates``."""
        if not self._metric_sums:
            return
        # "critic_loss" -> "train/critic_loss"; keys with a namespace ("reward/accuracy") keep it
        averaged = {(k if "/" in k else f"train/{k}"): v / self._metric_counts[k] for k, v in self._metric_sums.items()}
        self.log_dict(averaged, prog_bar=True, logger=False)  # progress bar (no host sync here)
        if updates - self._last_logged >= self.config.log_every or updates >= self.config.steps:
            values = {k: float(v) for k, v in averaged.items()}
            values["train/updates"] = updates
            if self.trainer.is_global_zero:
                for logger in self.trainer.loggers:
                    logger.log_metrics(values, step=updates)
            self._last_logged = updates
            self._metric_sums, self._metric_counts = {}, {}

    # ----------------------------------------------------------- checkpoint
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["genpolicy"] = {
            "generators": self._all_generator_states(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "algo_config": asdict(self.config),
            "algo": type(self).__name__,
            "last_logged": self._last_logged,
        }
        checkpoint["sources"] = self.sources.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("genpolicy")
        if state is None:
            return
        generators = state["generators"]
        rank = self.global_rank if self._trainer is not None else 0
        self._pending_generator_state = generators[rank] if rank < len(generators) else None
        self._generator = None
        self._last_logged = state.get("last_logged", 0)
        self.sources.load_state_dict(checkpoint.get("sources", {}))
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def _all_generator_states(self) -> list[torch.Tensor]:
        """Every rank's batch-generator state (a collective under DDP: all ranks save)."""
        state = self.generator.get_state()
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return [state]
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, state)
        return gathered
