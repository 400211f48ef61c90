"""Datasets: what the data is (`OfflineDataset`) and how files become one (`load_dataset`)."""

from __future__ import annotations

from pathlib import Path

from genpolicy.datasets.d4rl_io import load_d4rl_hdf5, load_npz, write_d4rl_hdf5, write_npz
from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.errors import DatasetError, DatasetNotFoundError
from genpolicy.datasets.minari_io import (
    load_minari,
    minari_dataset_path,
    minari_root,
    resolve_minari_source,
    write_minari_dataset,
)

__all__ = [
    "OfflineDataset",
    "DatasetError",
    "DatasetNotFoundError",
    "load_dataset",
    "load_minari",
    "load_d4rl_hdf5",
    "load_npz",
    "write_minari_dataset",
    "write_d4rl_hdf5",
    "write_npz",
    "minari_root",
    "minari_dataset_path",
]

HDF5_SUFFIXES = (".hdf5", ".h5")


def load_dataset(source: str | Path) -> OfflineDataset:
    """Load an offline dataset from a local source, choosing the reader by its form.

    * a directory with Minari's layout (``data/metadata.json``) -> `load_minari`
    * a ``.hdf5`` / ``.h5`` file -> `load_d4rl_hdf5`
    * a ``.npz`` file -> `load_npz`
    * anything else that is not an existing path -> a local Minari dataset id under
      `minari_root()` (never downloaded)

    Raises `DatasetNotFoundError` (a `DatasetError` and a `FileNotFoundError`) when
    nothing is found, and `DatasetError` for an existing path of unknown form.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        if resolve_minari_source(path) is None:
            raise DatasetError(str(path), None, None, "directory is not a Minari dataset (no data/metadata.json)")
        return load_minari(path)
    suffix = path.suffix.lower()
    if path.is_file():
        if suffix in HDF5_SUFFIXES:
            return load_d4rl_hdf5(path)
        if suffix == ".npz":
            return load_npz(path)
        raise DatasetError(str(path), None, None, "unknown dataset format (expected .hdf5, .h5, .npz or a Minari directory)")
    if suffix in HDF5_SUFFIXES + (".npz",) or path.is_absolute():
        raise DatasetNotFoundError(str(path), "no such file or directory")
    if resolve_minari_source(str(source)) is not None:
        return load_minari(str(source))
    raise DatasetNotFoundError(
        str(source), f"no such file or directory, and no local Minari dataset with this id under {minari_root()}"
    )
