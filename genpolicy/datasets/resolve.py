"""A dataset from whatever a user names: a Minari id or directory, an HDF5/NPZ file, a task.

A built-in task's dataset is collected once with its scripted expert and cached under
``$GENPOLICY_DATA`` (default ``~/.cache/genpolicy/datasets``). A Minari id that is not on disk
is fetched with Minari's own download only when asked (``download=True``, ``fit --download``).
"""

from __future__ import annotations

import os
from pathlib import Path

from genpolicy.datasets.episodes import OfflineDataset

# Episodes collected when a task name is given as data.
DEFAULT_EPISODES = {"pendulum": 50, "two-paths": 200, "pointmaze-umaze": 200, "pointmaze-medium": 300}


def data_cache_dir() -> Path:
    return Path(os.environ.get("GENPOLICY_DATA", Path.home() / ".cache" / "genpolicy" / "datasets"))


def resolve_data(source: str | Path, episodes: int | None = None, noise: float = 0.0, seed: int = 0,
                 download: bool = False) -> OfflineDataset:
    """The dataset ``source`` names (see the module doc)."""
    from genpolicy.datasets import DatasetNotFoundError, load_dataset
    from genpolicy.datasets.minari_io import download_minari, looks_like_minari_id, resolve_minari_source
    from genpolicy.tasks import list_tasks

    source = str(source)
    if source in list_tasks() and not Path(source).exists():
        return load_dataset(collected_task_data(source, episodes, noise, seed))
    remote_id = looks_like_minari_id(source) and not Path(source).exists() and resolve_minari_source(source) is None
    if remote_id and download:
        download_minari(source)
    try:
        return load_dataset(source)
    except DatasetNotFoundError as error:
        if remote_id:
            raise DatasetNotFoundError(source, f"{error.problem}; pass --download (download=True) to fetch it "
                                               "with Minari") from None
        raise


def collected_task_data(task: str, episodes: int | None = None, noise: float = 0.0, seed: int = 0) -> Path:
    """The cached expert dataset of a built-in task, collected on first use."""
    from genpolicy.datasets.collect import collect

    episodes = episodes or DEFAULT_EPISODES.get(task, 100)
    path = data_cache_dir() / f"{task}-n{episodes}-noise{noise:g}-seed{seed}"
    if not path.exists():
        collect(task, episodes, path, noise=noise, seed=seed)
    return path


__all__ = ["DEFAULT_EPISODES", "collected_task_data", "data_cache_dir", "resolve_data"]
