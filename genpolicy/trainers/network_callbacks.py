"""Operations scheduled by update count, as Lightning callbacks (never flags inside ``update``).

* :class:`NetworkResets` — BRO / primacy-bias resets: re-initialize chosen networks (weights,
  optimizer moments, targets, EMA copies) at given updates; data and other networks are kept.
  Each reset is logged as ``reset/<network> = 1`` at its update (a marker on the curves).
* :class:`DormantMonitor` — logs the tau-dormant neuron fraction of each network with a probe.
* :class:`DormantRecycling` — ReDo: recycles a critic's dormant neurons every N updates.

Callbacks run between Lightning steps, i.e. every ``updates_per_step`` updates; an operation
scheduled at update k runs at the first step boundary at or after k.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import lightning as L
import torch

from genpolicy.models.critics import EnsembleCritic
from genpolicy.models.dormant import dormant_fraction, layer_scores, recycle_dormant


def _crossed(before: int, after: int, points: Iterable[int]) -> list[int]:
    return [p for p in points if before < p <= after]


class _ByUpdates(L.Callback):
    """Tracks the update count across Lightning steps (and resumes)."""

    def on_train_batch_start(self, trainer: L.Trainer, algo: Any, *args: Any) -> None:
        self._before = int(algo.num_updates)

    def _log(self, trainer: L.Trainer, metrics: dict[str, float], step: int) -> None:
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=step)


class NetworkResets(_ByUpdates):
    """Reset ``networks`` at each update in ``at`` (e.g. BRO: every 250k env steps)."""

    def __init__(self, networks: Sequence[str], at: Sequence[int]) -> None:
        self.networks, self.at = list(networks), sorted(at)
        self.done: list[int] = []

    def on_train_batch_end(self, trainer: L.Trainer, algo: Any, *args: Any) -> None:
        now = int(algo.num_updates)
        for point in _crossed(self._before, now, self.at):
            for name in self.networks:
                algo.reset_network(name)
            self.done.append(point)
            self._log(trainer, {f"reset/{name}": 1.0 for name in self.networks}, now)

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done = list(state.get("done", []))


class DormantMonitor(_ByUpdates):
    """Every ``every`` updates, log ``dormant/<network>`` (fraction of tau-dormant neurons)
    for each network registered with a probe, on one fresh batch."""

    def __init__(self, every: int = 1000, tau: float = 0.0) -> None:
        self.every, self.tau = every, tau
        self.history: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer: L.Trainer, algo: Any, *args: Any) -> None:
        now = int(algo.num_updates)
        if now // self.every == self._before // self.every:
            return
        fractions = measure_dormant(algo, self.tau)
        self.history.append({"updates": now, **fractions})
        self._log(trainer, {f"dormant/{k}": v for k, v in fractions.items()}, now)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = list(state.get("history", []))


def measure_dormant(algo: Any, tau: float = 0.0) -> dict[str, float]:
    """The tau-dormant fraction of every network of ``algo`` that has a probe."""
    batch = algo.sample_batch()
    fractions = {}
    for name in algo.network_names:
        probe = algo.probe(name)
        if probe is not None:
            with torch.no_grad():
                fractions[name] = dormant_fraction(layer_scores(getattr(algo, name), lambda: probe(batch)), tau)
    return fractions


class DormantRecycling(_ByUpdates):
    """ReDo: every ``every`` updates, recycle the tau-dormant neurons of critic ``network``."""

    def __init__(self, network: str = "critic", every: int = 1000, tau: float = 0.025) -> None:
        self.network, self.every, self.tau = network, every, tau

    def on_train_batch_end(self, trainer: L.Trainer, algo: Any, *args: Any) -> None:
        now = int(algo.num_updates)
        if now // self.every == self._before // self.every:
            return
        critic = getattr(algo, self.network)
        if not isinstance(critic, EnsembleCritic):
            raise TypeError(f"ReDo recycling supports ensemble critics; {self.network!r} is {type(critic).__name__}")
        probe = algo.probe(self.network)
        batch = algo.sample_batch()
        count = recycle_dormant(critic, lambda: probe(batch), self.tau)
        self._log(trainer, {f"recycled/{self.network}": float(count)}, now)
