"""Every place the core reaches past Lightning's public API, in one small module.

The algorithms step their optimizers themselves (manual optimization). Lightning wraps every
backward and optimizer step in precision / strategy / callback hooks: ~0.1 ms, 5-10 % of a
small MLP update on a CPU core. On one device in full or bf16 precision those wrappers reduce
to ``loss.backward()`` and ``optimizer.step()``, so the core takes the short way there
("direct steps") and then has to tell Lightning's step counter (``trainer.global_step``) about
the updates it ran, which lives in private loop state. That, the unwrapping of a
``LightningOptimizer`` and the plain-loop set-up of the benchmarks are all here;
``tests/test_training.py::test_lightning_internals_the_adapter_relies_on`` fails loudly when a
Lightning upgrade moves any of them.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.strategies import SingleDeviceStrategy

DIRECT_PRECISIONS = frozenset({"32-true", "32", "64-true", "64", "bf16-mixed", "bf16-true"})


def direct_steps_possible(trainer: L.Trainer) -> bool:
    """True where Lightning's backward/step wrappers reduce to plain torch calls."""
    return isinstance(trainer.strategy, SingleDeviceStrategy) and str(trainer.precision) in DIRECT_PRECISIONS


def _step_progress(trainer: L.Trainer) -> Any:
    """Lightning's manual-optimization step counter (private; ``global_step`` reads it)."""
    return trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress


def count_optimizer_steps(trainer: L.Trainer, count: int) -> None:
    """Advance ``trainer.global_step`` by ``count`` optimizer steps run without Lightning."""
    if count <= 0:
        return
    progress = _step_progress(trainer)
    for tracker in (progress.total, progress.current):
        tracker.ready += count
        tracker.completed += count


def torch_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer inside a ``LightningOptimizer`` (itself when it is one already)."""
    return getattr(optimizer, "optimizer", optimizer)


def attach_plain_optimizers(algo: L.LightningModule) -> None:
    """Give ``algo`` its optimizers and schedules with no Trainer at all, stepping them
    directly: how the benchmarks run the *same* ``update`` in a plain PyTorch loop."""
    optimizers, schedules = algo.configure_optimizers()
    algo.optimizers = lambda: optimizers  # type: ignore[method-assign]
    algo.lr_schedulers = lambda: [s["scheduler"] for s in schedules]  # type: ignore[method-assign]
    algo.direct_steps = True


def check_internals(trainer: L.Trainer) -> None:
    """Raise if the private state `count_optimizer_steps` writes is not where it was."""
    progress = _step_progress(trainer)
    for name in ("total", "current"):
        tracker = getattr(progress, name)
        for field in ("ready", "completed"):
            if not isinstance(getattr(tracker, field), int):
                raise AttributeError(f"Lightning moved optim_step_progress.{name}.{field}")


__all__ = ["attach_plain_optimizers", "check_internals", "count_optimizer_steps", "direct_steps_possible",
           "torch_optimizer"]
