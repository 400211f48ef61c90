"""D4RL-format HDF5 and NPZ files, read with h5py/numpy (the ``d4rl`` package is not used).

Keys: ``observations [N, obs_dim]``, ``actions [N, act_dim]``, ``rewards [N]``,
``terminals [N]`` (required), ``timeouts [N]`` (optional; all False when absent, with a
warning), ``next_observations [N, obs_dim]`` (optional). ``terminations``/``truncations``
are accepted as aliases of ``terminals``/``timeouts``. An episode ends where
``terminals | timeouts``.

When ``next_observations`` is present it is used as is and every row is kept.

When it is absent, the next observation of row ``i`` is row ``i + 1`` of the same
episode. Two kinds of row have no recorded next observation, and are handled explicitly
(never by pairing observations across episodes):

* a row that ends its episode by **timeout** (and the file's last row, if not terminal)
  is **dropped**, exactly as ``d4rl.qlearning_dataset`` (used by IQL and CORL) does; the
  row before it then ends the episode with ``truncations = True`` and its next
  observation (the dropped row's observation) is real.
* a row that ends its episode by **termination** is kept (its reward and terminal flag
  matter); its ``next_observations`` is a placeholder equal to its own observation. Any
  TD target masks it with ``(1 - terminations)``, so its value is never used.
  (d4rl.qlearning_dataset instead pairs it with the next episode's first observation.)

``metadata["dropped_rows"]`` counts the dropped rows; error indices always refer to rows
of the file. Metadata comes from file attributes ``env_id``, ``ref_min_score``,
``ref_max_score`` and a JSON attribute ``genpolicy_metadata`` (HDF5), or a 0-d string
entry ``metadata_json`` (NPZ).

Loading is vectorized: one read per field, numpy arrays handed to torch without copies.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import h5py
import numpy as np

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.errors import DatasetError, DatasetNotFoundError

__all__ = ["load_d4rl_hdf5", "load_npz", "write_d4rl_hdf5", "write_npz"]

REQUIRED = ("observations", "actions", "rewards", "terminals")
ALIASES = {"terminals": ("terminals", "terminations"), "timeouts": ("timeouts", "truncations")}
METADATA_ATTR = "genpolicy_metadata"
METADATA_NPZ_KEY = "metadata_json"


# --------------------------------------------------------------------- loading
def load_d4rl_hdf5(path: str | Path) -> OfflineDataset:
    """Load a D4RL-format HDF5 file (see the module docstring for the rules)."""
    path = _existing_file(path)
    source = str(path)
    try:
        file = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(source, None, None, f"not a readable HDF5 file ({exc})") from exc
    with file:
        keys = {k for k, v in file.items() if isinstance(v, h5py.Dataset)}

        def read(key: str, dtype: Any) -> np.ndarray:
            try:
                ds = file[key]
                if dtype is not None and ds.dtype != dtype:
                    return ds.astype(dtype)[()]
                return ds[()]
            except (OSError, RuntimeError, ValueError, TypeError) as exc:
                raise DatasetError(source, key, None, f"cannot read ({exc})") from exc

        metadata = _hdf5_metadata(file.attrs)
        return _build(source, keys, read, metadata, fmt="d4rl_hdf5")


def load_npz(path: str | Path) -> OfflineDataset:
    """Load an ``.npz`` archive with D4RL keys (see the module docstring for the rules)."""
    path = _existing_file(path)
    source = str(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(source, None, None, f"not a readable .npz archive ({exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(source, None, None, "holds a single array, expected an .npz archive of named arrays")
    with archive:
        keys = set(archive.files)

        def read(key: str, dtype: Any) -> np.ndarray:
            try:
                value = archive[key]
            except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
                raise DatasetError(source, key, None, f"cannot read ({exc})") from exc
            return value if dtype is None or value.dtype == dtype else value.astype(dtype)

        metadata: dict[str, Any] = {}
        if METADATA_NPZ_KEY in keys:
            metadata = _parse_json(source, METADATA_NPZ_KEY, str(archive[METADATA_NPZ_KEY]))
        return _build(source, keys, read, metadata, fmt="npz")


def _existing_file(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetNotFoundError(str(path), "no such file")
    if not path.is_file():
        raise DatasetError(str(path), None, None, "is not a file")
    return path


def _resolve_key(keys: set[str], name: str) -> str | None:
    for candidate in ALIASES.get(name, (name,)):
        if candidate in keys:
            return candidate
    return None


def _build(
    source: str,
    keys: set[str],
    read: Callable[[str, Any], np.ndarray],
    metadata: dict[str, Any],
    fmt: str,
) -> OfflineDataset:
    resolved: dict[str, str] = {}
    for name in REQUIRED:
        key = _resolve_key(keys, name)
        if key is None:
            raise DatasetError(source, name, None, f"missing required key (file has: {sorted(keys)})")
        resolved[name] = key
    timeout_key = _resolve_key(keys, "timeouts")

    observations = read(resolved["observations"], np.float32)
    n = observations.shape[0] if observations.ndim else 0
    if n == 0:
        raise DatasetError(source, "observations", None, "dataset is empty")
    if observations.ndim == 1:
        observations = observations[:, None]
    elif observations.ndim > 2:
        observations = observations.reshape(n, -1)

    def column(name: str, key: str, dtype: Any, flat: bool = False) -> np.ndarray:
        value = read(key, dtype)
        if value.shape[:1] != (n,):
            rows = value.shape[0] if value.ndim else 0
            raise DatasetError(source, name, None, f"has {rows} rows but observations has {n}")
        if flat:
            if value.size != n:
                raise DatasetError(source, name, None, f"expected shape [{n}], got {list(value.shape)}")
            value = value.reshape(n)
        return value

    actions = column("actions", resolved["actions"], np.float32)
    rewards = column("rewards", resolved["rewards"], np.float32, flat=True)
    terminals = _as_bool(column("terminals", resolved["terminals"], None, flat=True))
    if timeout_key is not None:
        timeouts = _as_bool(column("timeouts", timeout_key, None, flat=True))
    else:
        warnings.warn(f"{source}: no 'timeouts' key; episodes end only at terminals", stacklevel=3)
        timeouts = np.zeros(n, dtype=bool)
        metadata["timeouts_missing"] = True

    drop = None
    file_terminals = terminals
    if "next_observations" in keys:
        next_observations = column("next_observations", "next_observations", np.float32).reshape(
            observations.shape[0], -1
        )
        truncations = timeouts & ~terminals
    else:
        # Rows whose next observation is unknown: a timeout (not terminal) and a
        # non-terminal last row. Drop them; terminal rows keep a placeholder next obs.
        drop = timeouts & ~terminals
        drop[-1] |= not terminals[-1]
        # The kept row just before a dropped one now ends its episode (by truncation).
        truncations = np.zeros(n, dtype=bool)
        truncations[:-1] = drop[1:] & ~terminals[:-1] & ~drop[:-1]
        observations, next_observations, actions, rewards, terminals, truncations = _derive_next(
            drop, observations, actions, rewards, terminals, truncations
        )
        metadata["dropped_rows"] = int(drop.sum())
        metadata["next_observations"] = "derived: obs[i+1] within an episode; terminal rows use their own obs"

    metadata.setdefault("env_id", None)
    metadata.setdefault("ref_min_score", None)
    metadata.setdefault("ref_max_score", None)
    metadata["format"] = fmt
    metadata["source"] = source
    try:
        return OfflineDataset(
            observations=observations,
            actions=actions,
            rewards=rewards,
            terminations=terminals,
            truncations=truncations,
            next_observations=next_observations,
            metadata=metadata,
        )
    except DatasetError as exc:
        raise _to_file_rows(exc, drop, file_terminals) from None


def _derive_next(drop, observations, actions, rewards, terminals, truncations):
    """Drop the ``drop`` rows and build next observations from the following row.

    Kept rows form runs ``[start, stop)`` between dropped rows; a kept non-terminal row is
    never the last of its episode, so its next observation is the file's next row. Runs
    are copied with slices (memcpy speed); with very many short runs a gather is faster.
    Terminal rows get their own observation as a placeholder next observation.
    """
    n = observations.shape[0]
    dropped = np.flatnonzero(drop)
    starts = np.concatenate([[0], dropped + 1])
    stops = np.concatenate([dropped, [n]])
    runs = [(int(a), int(b)) for a, b in zip(starts, stops) if b > a]
    m = n - dropped.size
    if len(runs) > max(64, m // 32):
        rows = np.flatnonzero(~drop)
        nxt = np.minimum(rows + 1, n - 1)
        out = [observations[rows], observations[nxt], actions[rows], rewards[rows], terminals[rows], truncations[rows]]
    else:
        out = [
            np.empty((m,) + observations.shape[1:], observations.dtype),
            np.empty((m,) + observations.shape[1:], observations.dtype),
            np.empty((m,) + actions.shape[1:], actions.dtype),
            np.empty(m, rewards.dtype),
            np.empty(m, bool),
            np.empty(m, bool),
        ]
        at = 0
        for a, b in runs:
            k = b - a
            out[0][at : at + k] = observations[a:b]
            tail = min(b + 1, n)  # the row after a run is dropped (or past the end)
            out[1][at : at + tail - a - 1] = observations[a + 1 : tail]
            out[2][at : at + k] = actions[a:b]
            out[3][at : at + k] = rewards[a:b]
            out[4][at : at + k] = terminals[a:b]
            out[5][at : at + k] = truncations[a:b]
            at += k
        if runs and runs[-1][1] == n:  # the file's last row is kept only when terminal
            out[1][m - 1] = observations[n - 1]
    terminal_rows = np.flatnonzero(out[4])
    out[1][terminal_rows] = out[0][terminal_rows]
    return tuple(out)


def _to_file_rows(exc: DatasetError, drop: np.ndarray | None, terminals: np.ndarray) -> DatasetError:
    """Re-index an error raised on the derived (row-dropped) dataset to rows of the file."""
    if exc.index is None or drop is None:
        return exc
    row = int(np.flatnonzero(~drop)[exc.index])
    if exc.field == "next_observations":
        # Derived next observations come from the file's observations.
        return DatasetError(exc.source, "observations", row if terminals[row] else row + 1, exc.problem)
    return DatasetError(exc.source, exc.field, row, exc.problem)


def _as_bool(value: np.ndarray) -> np.ndarray:
    return value if value.dtype == bool else value != 0


def _parse_json(source: str, field: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise DatasetError(source, field, None, f"is not valid JSON ({exc})") from exc
    return dict(value) if isinstance(value, dict) else {}


def _hdf5_metadata(attrs: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if METADATA_ATTR in attrs:
        text = attrs[METADATA_ATTR]
        text = text.decode() if isinstance(text, bytes) else str(text)
        try:
            value = json.loads(text)
            if isinstance(value, dict):
                metadata.update(value)
        except ValueError:
            warnings.warn(f"ignoring unreadable '{METADATA_ATTR}' attribute", stacklevel=3)
    for key in ("env_id", "ref_min_score", "ref_max_score"):
        if key in attrs and metadata.get(key) is None:
            value = attrs[key]
            if isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, np.generic):
                value = value.item()
            metadata[key] = value
    if "source" in metadata:  # "source" means the file we read; keep the stored one
        metadata.setdefault("origin", metadata.pop("source"))
    return metadata


# --------------------------------------------------------------------- writing
def _dataset_arrays(dataset: OfflineDataset, next_observations: bool) -> dict[str, np.ndarray]:
    arrays = {
        "observations": dataset.observations.detach().cpu().numpy(),
        "actions": dataset.actions.detach().cpu().numpy(),
        "rewards": dataset.rewards.detach().cpu().numpy(),
        "terminals": dataset.terminations.detach().cpu().numpy(),
        "timeouts": dataset.truncations.detach().cpu().numpy(),
    }
    if next_observations:
        arrays["next_observations"] = dataset.next_observations.detach().cpu().numpy()
    return arrays


def _stored_metadata(dataset: OfflineDataset) -> dict[str, Any]:
    from genpolicy.datasets.minari_io import _jsonable

    metadata = _jsonable(dict(dataset.metadata))
    source = metadata.pop("source", None)
    if source is not None and "origin" not in metadata:
        metadata["origin"] = source
    return metadata


def _atomic_target(path: Path, overwrite: bool) -> Path:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: file exists (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _commit(tmp: Path, path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def write_d4rl_hdf5(
    path: str | Path,
    dataset: OfflineDataset,
    *,
    next_observations: bool = True,
    overwrite: bool = False,
    compression: str | None = None,
) -> Path:
    """Write ``dataset`` as a D4RL-format HDF5 file (atomically: temp file + rename).

    ``terminations``/``truncations`` become ``terminals``/``timeouts``. With
    ``next_observations=False`` the file holds D4RL's classic layout, which cannot carry
    the next observation of a truncated row (reading drops such rows).
    Metadata goes to attributes ``env_id``, ``ref_min_score``, ``ref_max_score`` (when
    set) and ``genpolicy_metadata`` (JSON).
    """
    path = Path(path).expanduser()
    tmp = _atomic_target(path, overwrite)
    try:
        with h5py.File(tmp, "w") as file:
            for key, value in _dataset_arrays(dataset, next_observations).items():
                file.create_dataset(key, data=value, compression=compression)
            metadata = _stored_metadata(dataset)
            file.attrs[METADATA_ATTR] = json.dumps(metadata)
            for key in ("env_id", "ref_min_score", "ref_max_score"):
                if metadata.get(key) is not None:
                    file.attrs[key] = metadata[key]
        _commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_npz(
    path: str | Path,
    dataset: OfflineDataset,
    *,
    next_observations: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write ``dataset`` as an ``.npz`` with D4RL keys plus a ``metadata_json`` entry."""
    path = Path(path).expanduser()
    tmp = _atomic_target(path, overwrite)
    try:
        arrays = _dataset_arrays(dataset, next_observations)
        arrays[METADATA_NPZ_KEY] = np.asarray(json.dumps(_stored_metadata(dataset)))
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        _commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
