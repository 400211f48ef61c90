"""genpolicy: generative policies from offline data.

Top-level names are imported lazily so `genpolicy --help` and data-only uses stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_dataset": "genpolicy.datasets",
    "OfflineDataset": "genpolicy.datasets",
    "load_policy": "genpolicy.models",
    "Policy": "genpolicy.models",
    "evaluate": "genpolicy.evaluation",
    "get_task": "genpolicy.tasks",
    "fit": "genpolicy.trainers",
    "train": "genpolicy.training",
    "Run": "genpolicy.training",
    "register_algorithm": "genpolicy.trainers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genpolicy' has no attribute {name!r}")


__all__ = sorted(_LAZY)
