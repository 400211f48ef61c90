"""Read and write Minari datasets without the network and without ``minari[create]``.

On-disk layout (what Minari 0.5 itself writes and reads)::

    <dataset dir>/            e.g. ~/.minari/datasets/genpolicy/twopaths/expert-v0
      data/
        metadata.json         spaces, dataset_id, minari_version, ref scores, ...,
                              plus our own metadata under the key "genpolicy"
        main_data.hdf5        episode_0 ... episode_{E-1}; each holds
                              observations [T+1, ...] (a group for Dict spaces),
                              actions [T, ...], rewards [T], terminations [T],
                              truncations [T]

Minari stores T+1 observations per episode (the reset observation plus one after every
step). Loading turns an episode into T transitions with ``observations = obs[:-1]`` and
``next_observations = obs[1:]``, per episode, so no transition ever pairs observations
from two episodes. The last transition of every episode is marked as an episode end
(truncated, if Minari recorded neither flag there).

Dict observations are flattened into one vector in a fixed, documented order:
``observation``, ``achieved_goal``, ``desired_goal`` first (when present), then the
remaining keys in natural sort order; nested dicts are flattened depth-first with the same
rule and ``/``-joined names; tuples become ``_index_0``, ``_index_1``, ... The resulting
column ranges are recorded in ``metadata["obs_layout"] = {key: [start, stop]}``.

Writing goes through Minari's own storage class (`MinariStorage.new` + `update_episodes`,
the same calls `minari.create_dataset_from_buffers` makes) but into a hidden temporary
directory next to the destination, which is renamed into place only when complete.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping

import gymnasium as gym
import h5py
import numpy as np

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.errors import DatasetError, DatasetNotFoundError

__all__ = [
    "write_minari_dataset",
    "load_minari",
    "minari_root",
    "minari_dataset_path",
    "resolve_minari_source",
    "is_minari_dir",
    "flatten_observation_keys",
    "download_minari",
    "looks_like_minari_id",
]

MAIN_FILE = "main_data.hdf5"
METADATA_FILE = "metadata.json"
GENPOLICY_KEY = "genpolicy"
#: Keys that come first when a Dict observation is flattened (gymnasium-robotics order).
GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")
_DATASET_ID_RE = re.compile(r"^(?:[-_\w][-_\w/]*[-_\w]+/)?[-_\w]+?-v\d+$")


# --------------------------------------------------------------------------- paths
def minari_root() -> Path:
    """Minari's local dataset root (``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``).

    Same rule as `minari.storage.get_dataset_path`, but without creating the directory.
    """
    env = os.environ.get("MINARI_DATASETS_PATH")
    if env is not None:
        return Path(env)
    return Path(os.path.expanduser("~")) / ".minari" / "datasets"


def minari_dataset_path(dataset_id: str) -> Path:
    """Where Minari keeps a local dataset id (pass this to `write_minari_dataset`)."""
    return minari_root() / dataset_id


def _data_dir(directory: Path) -> Path | None:
    """The folder holding ``metadata.json``/``main_data.hdf5``, or None if not Minari."""
    for candidate in (directory / "data", directory):
        if (candidate / METADATA_FILE).is_file():
            return candidate
    return None


def is_minari_dir(path: str | Path) -> bool:
    """True if ``path`` is a Minari dataset directory (or its ``data/`` folder)."""
    path = Path(path)
    return path.is_dir() and _data_dir(path) is not None


def resolve_minari_source(source: str | Path) -> Path | None:
    """The ``data/`` folder for a dataset directory or a local dataset id, else None.

    Never downloads: an id is looked up only under `minari_root()`.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return _data_dir(path)
    if isinstance(source, str) and not path.is_absolute():
        local = minari_dataset_path(source)
        if local.is_dir():
            return _data_dir(local)
    return None


def looks_like_minari_id(source: str | Path) -> bool:
    """True for ``namespace/name-vN`` style ids (``mujoco/hopper/medium-v0``), Minari's rule."""
    return isinstance(source, str) and bool(_DATASET_ID_RE.match(source)) and not Path(source).is_absolute()


def download_minari(dataset_id: str) -> Path:
    """Fetch ``dataset_id`` into `minari_root()` with Minari's own download (progress bar
    included) and return its local directory.

    This is the one place genpolicy touches the network, and only when asked (``fit
    --download``). Any failure becomes one `DatasetNotFoundError` line: no network, an id
    the remote does not have, or a version this Minari cannot read.
    """
    import minari

    try:
        minari.download_dataset(dataset_id)
    except Exception as error:  # noqa: BLE001 - requests, HF hub and minari raise many kinds
        raise DatasetNotFoundError(dataset_id, f"Minari download failed ({_download_reason(error)})") from None
    local = minari_dataset_path(dataset_id)
    if _data_dir(local) is None:
        raise DatasetNotFoundError(dataset_id, f"Minari download finished but {local} holds no dataset")
    return local


def _download_reason(error: BaseException) -> str:
    """One line on why a download failed, naming the likely cause for network errors."""
    text = str(error).strip().splitlines()
    message = text[0] if text else type(error).__name__
    network = ("Connection", "Timeout", "NameResolution", "MaxRetry", "Offline", "getaddrinfo", "unreachable")
    if isinstance(error, (ConnectionError, TimeoutError)) or any(word in f"{type(error).__name__} {message}" for word in network):
        return f"no network reachable? {message}"
    return message


# ------------------------------------------------------------------ flattening
def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def flatten_observation_keys(keys: Iterable[str]) -> list[str]:
    """The documented flattening order of one level of a Dict observation."""
    keys = list(keys)
    first = [k for k in GOAL_KEYS if k in keys]
    rest = sorted((k for k in keys if k not in GOAL_KEYS), key=_natural_key)
    return first + rest


def _leaves(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(key, array-like) leaves of a nested observation, in the documented order.

    ``node`` may be an ``h5py.Group``/``Dataset`` or nested dicts/tuples of numpy arrays;
    a single array gives one leaf with key ``""``.
    """
    if isinstance(node, (h5py.Group, Mapping)):
        out: list[tuple[str, Any]] = []
        for key in flatten_observation_keys(node.keys()):
            out.extend(_leaves(node[key], f"{prefix}{key}/"))
        return out
    if isinstance(node, (tuple, list)) and not isinstance(node, np.ndarray):
        return _leaves({f"_index_{i}": item for i, item in enumerate(node)}, prefix)
    return [(prefix.rstrip("/"), node)]


# ------------------------------------------------------------------ writing
def write_minari_dataset(
    path: str | Path,
    episodes: list[dict],
    *,
    env_id: str,
    metadata: dict,
    dataset_id: str | None = None,
    overwrite: bool = False,
    observation_space: gym.Space | None = None,
    action_space: gym.Space | None = None,
) -> Path:
    """Write ``episodes`` as a Minari dataset directory at ``path``; return that path.

    Each episode is a dict with ``observations`` ``[T+1, ...]`` (an array, or a dict of
    arrays for Dict observation spaces), ``actions`` ``[T, ...]``, ``rewards``,
    ``terminations`` and ``truncations`` ``[T]``; an optional ``seed`` is stored as the
    episode's Minari seed.

    ``metadata`` (task, ref_min_score, ref_max_score, source, noise, seed, ...) is stored
    JSON-encoded under ``"genpolicy"`` in ``data/metadata.json``; ``ref_min_score`` and
    ``ref_max_score`` are also written where Minari itself looks for them, so
    `minari.get_normalized_score` works. Spaces default to unbounded Boxes inferred from
    the arrays (a Dict of them for dict observations); pass them to keep real bounds.
    ``dataset_id`` defaults to the path relative to `minari_root()` when ``path`` lies
    under it, else to the directory name (``-v0`` appended when it carries no version).

    The dataset is built in a hidden temporary directory beside ``path`` and renamed into
    place only once complete, so a crash never leaves a loadable half-written dataset.
    An existing ``path`` raises `FileExistsError` unless ``overwrite=True``.
    """
    from minari import __version__ as minari_version
    from minari.data_collector.episode_buffer import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage

    dest = Path(path).expanduser().absolute()
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest}: a dataset already exists here (pass overwrite=True to replace it)")
    if not episodes:
        raise DatasetError(str(dest), "episodes", None, "no episodes to write")
    for i, episode in enumerate(episodes):
        _check_episode(str(dest), i, episode)
    dataset_id = dataset_id or _default_dataset_id(dest)
    if not _DATASET_ID_RE.fullmatch(dataset_id):
        raise ValueError(f"invalid Minari dataset id {dataset_id!r}: expected (namespace/)name-v<version>")

    first = episodes[0]
    observation_space = observation_space or _infer_space(first["observations"])
    action_space = action_space or _infer_space(np.asarray(first["actions"]))
    env_spec = _serializable_spec(env_id)

    stored = _jsonable(dict(metadata))
    stored["env_id"] = env_id
    minari_meta: dict[str, Any] = {
        "dataset_id": dataset_id,
        "minari_version": minari_version,
        GENPOLICY_KEY: stored,
    }
    for key in ("ref_min_score", "ref_max_score", "description", "algorithm_name", "code_permalink"):
        if stored.get(key) is not None:
            minari_meta[key] = stored[key]

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        storage = MinariStorage.new(
            tmp / "data",
            observation_space=observation_space,
            action_space=action_space,
            env_spec=env_spec,
            data_format="hdf5",
            jpeg_encoding=False,
        )
        storage.update_metadata(minari_meta)
        buffers = (
            EpisodeBuffer(
                id=i,
                seed=None if ep.get("seed") is None else int(ep["seed"]),
                observations=_as_arrays(ep["observations"]),
                actions=np.asarray(ep["actions"]),
                rewards=np.asarray(ep["rewards"]),
                terminations=np.asarray(ep["terminations"], dtype=bool),
                truncations=np.asarray(ep["truncations"], dtype=bool),
            )
            for i, ep in enumerate(episodes)
        )
        storage.update_episodes(buffers)
        _fsync_tree(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        if dest.exists():  # overwrite=True: swap, then delete the old one
            old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(dest, old)
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _check_episode(source: str, i: int, episode: Mapping[str, Any]) -> None:
    for key in ("observations", "actions", "rewards", "terminations", "truncations"):
        if key not in episode:
            raise DatasetError(source, f"episodes[{i}].{key}", None, "missing")
    steps = len(episode["rewards"])
    if steps == 0:
        raise DatasetError(source, f"episodes[{i}].rewards", None, "episode has no steps")
    for key in ("actions", "terminations", "truncations"):
        if len(episode[key]) != steps:
            raise DatasetError(
                source, f"episodes[{i}].{key}", None, f"has {len(episode[key])} rows but rewards has {steps}"
            )
    for key, leaf in _leaves(episode["observations"]):
        name = f"episodes[{i}].observations" + (f"[{key!r}]" if key else "")
        if len(leaf) != steps + 1:
            raise DatasetError(source, name, None, f"has {len(leaf)} rows, expected T+1 = {steps + 1}")


def _as_arrays(obs: Any) -> Any:
    if isinstance(obs, Mapping):
        return {k: _as_arrays(v) for k, v in obs.items()}
    return np.asarray(obs)


def _infer_space(value: Any) -> gym.Space:
    if isinstance(value, Mapping):
        return gym.spaces.Dict({k: _infer_space(v) for k, v in value.items()})
    arr = np.asarray(value)
    shape = arr.shape[1:]
    if np.issubdtype(arr.dtype, np.integer) and arr.ndim == 1:
        return gym.spaces.Discrete(int(arr.max()) + 1)
    if np.issubdtype(arr.dtype, np.floating):
        return gym.spaces.Box(-np.inf, np.inf, shape=shape, dtype=arr.dtype)
    if arr.dtype == bool:
        return gym.spaces.MultiBinary(list(shape) if shape else 1)
    info = np.iinfo(arr.dtype)
    return gym.spaces.Box(info.min, info.max, shape=shape, dtype=arr.dtype)


def _serializable_spec(env_id: str):
    """The env's gymnasium spec when registered and JSON-serializable, else None."""
    try:
        spec = gym.spec(env_id)
        spec.to_json()
        return spec
    except Exception:  # unregistered (tasks not imported) or a callable entry point
        return None


def _default_dataset_id(dest: Path) -> str:
    root = minari_root().expanduser().absolute()
    try:
        rel = dest.relative_to(root).as_posix()
        if _DATASET_ID_RE.fullmatch(rel):
            return rel
    except ValueError:
        pass
    name = re.sub(r"[^-\w]", "_", dest.name) or "dataset"
    return name if re.search(r"-v\d+$", name) else f"{name}-v0"


def _jsonable(value: Any) -> Any:
    """Metadata made JSON-safe: numpy scalars/arrays, paths, tuples, sets."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------ reading
def load_minari(source: str | Path) -> OfflineDataset:
    """Load a local Minari dataset (directory, its ``data/`` folder, or a local id).

    Never downloads. Reads ``main_data.hdf5`` directly with h5py (one read per field per
    episode, written into preallocated arrays, no per-step Python); formats h5py cannot
    read directly (Arrow storage, JPEG-encoded images) go through Minari's own reader.
    """
    data_dir = resolve_minari_source(source)
    if data_dir is None:
        path = Path(source).expanduser()
        if path.exists():
            raise DatasetError(str(path), None, None, f"not a Minari dataset (no data/{METADATA_FILE})")
        raise DatasetNotFoundError(
            str(source), f"no such directory, and no local Minari dataset with this id under {minari_root()}"
        )
    dataset_dir = data_dir.parent if data_dir.name == "data" else data_dir
    meta_path = data_dir / METADATA_FILE
    try:
        with open(meta_path) as f:
            raw_meta = json.load(f)
    except (OSError, ValueError) as exc:
        raise DatasetError(str(meta_path), None, None, f"cannot read Minari metadata: {exc}") from exc

    main = data_dir / MAIN_FILE
    if raw_meta.get("data_format", "hdf5") == "hdf5" and not _needs_minari_decoder(raw_meta):
        arrays, obs_layout, act_layout = _read_hdf5(main, raw_meta)
    else:
        arrays, obs_layout, act_layout = _read_with_minari(data_dir, raw_meta)

    metadata = _loaded_metadata(raw_meta, dataset_dir)
    if obs_layout is not None:
        metadata["obs_layout"] = obs_layout
    if act_layout is not None:
        metadata["act_layout"] = act_layout
    return OfflineDataset(**arrays, metadata=metadata)


def _needs_minari_decoder(raw_meta: Mapping[str, Any]) -> bool:
    if not raw_meta.get("jpeg_encoding", True):
        return False
    from minari.dataset.minari_storage import is_image_space
    from minari.serialization import deserialize_space

    for key in ("observation_space", "action_space"):
        if key not in raw_meta:
            continue
        try:
            space = deserialize_space(raw_meta[key])
        except Exception:
            continue
        stack = [space]
        while stack:
            s = stack.pop()
            if isinstance(s, gym.spaces.Dict):
                stack.extend(s.spaces.values())
            elif isinstance(s, gym.spaces.Tuple):
                stack.extend(s.spaces)
            elif is_image_space(s):
                return True
    return False


def _episode_names(file: h5py.File) -> list[str]:
    names = [k for k in file.keys() if k.startswith("episode_") and k[8:].isdigit()]
    return sorted(names, key=lambda k: int(k[8:]))


def _read_hdf5(main: Path, raw_meta: Mapping[str, Any]):
    source = str(main)
    if not main.is_file():
        raise DatasetError(source, None, None, "missing (a Minari dataset needs data/main_data.hdf5)")
    try:
        file = h5py.File(main, "r")
    except OSError as exc:
        raise DatasetError(source, None, None, f"not a readable HDF5 file ({exc})") from exc
    with file:
        names = _episode_names(file)
        expected = raw_meta.get("total_episodes")
        if expected is not None and int(expected) != len(names):
            raise DatasetError(
                source, None, None, f"metadata.json says {expected} episodes but the file holds {len(names)}"
            )
        if not names:
            raise DatasetError(source, None, None, "holds no episodes")
        try:
            episodes = [file[name] for name in names]
            return _assemble(source, names, episodes)
        except (OSError, KeyError, RuntimeError) as exc:
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(source, None, None, f"cannot read episode data ({exc})") from exc


def _read_with_minari(data_dir: Path, raw_meta: Mapping[str, Any]):
    from minari.dataset.minari_storage import MinariStorage

    try:
        storage = MinariStorage.read(data_dir)
        episodes = list(storage.get_episodes(range(storage.total_episodes)))
    except Exception as exc:
        raise DatasetError(str(data_dir), None, None, f"Minari cannot read this dataset ({exc})") from exc
    names = [f"episode_{ep['id']}" for ep in episodes]
    return _assemble(str(data_dir), names, episodes)


def _assemble(source: str, names: list[str], episodes: list[Any]):
    """Preallocate flat arrays and copy each episode in (obs[:-1] / obs[1:] per episode).

    ``episodes`` are h5py Groups or dicts of numpy arrays; both are indexed the same way.
    """
    # Pass 1: shapes only (no data read for h5py).
    obs_leaves0 = _leaves(_get(source, names[0], episodes[0], "observations"))
    act_leaves0 = _leaves(_get(source, names[0], episodes[0], "actions"))
    obs_layout, obs_dim = _layout(obs_leaves0)
    act_layout, act_dim = _layout(act_leaves0)
    plan = []  # per episode: steps and the handles to read (h5py lookups are slow; do them once)
    for name, ep in zip(names, episodes):
        rew, term, trunc = (_get(source, name, ep, key) for key in ("rewards", "terminations", "truncations"))
        steps = int(rew.shape[0])
        if steps == 0:
            raise DatasetError(source, f"{name}/rewards", None, "episode has no steps")
        for key, value in (("terminations", term), ("truncations", trunc)):
            if value.shape[0] != steps:
                raise DatasetError(source, f"{name}/{key}", None, f"has {value.shape[0]} rows but rewards has {steps}")
        obs_leaves = _leaves(_get(source, name, ep, "observations"))
        act_leaves = _leaves(_get(source, name, ep, "actions"))
        _check_leaves(source, f"{name}/observations", obs_leaves, obs_leaves0, steps + 1)
        _check_leaves(source, f"{name}/actions", act_leaves, act_leaves0, steps)
        plan.append((steps, obs_leaves, act_leaves, rew, term, trunc))

    lengths = [entry[0] for entry in plan]
    total = int(sum(lengths))
    observations = np.empty((total, obs_dim), dtype=np.float32)
    next_observations = np.empty((total, obs_dim), dtype=np.float32)
    actions = np.empty((total, act_dim), dtype=np.float32)
    rewards = np.empty(total, dtype=np.float32)
    terminations = np.empty(total, dtype=bool)
    truncations = np.empty(total, dtype=bool)

    # Pass 2: one read per field per episode, straight into the flat arrays.
    start = 0
    for steps, obs_leaves, act_leaves, rew, term, trunc in plan:
        stop = start + steps
        for (_, leaf), (a, b) in zip(obs_leaves, obs_layout.values()):
            values = np.asarray(leaf[()]).reshape(steps + 1, -1)
            observations[start:stop, a:b] = values[:-1]
            next_observations[start:stop, a:b] = values[1:]
        for (_, leaf), (a, b) in zip(act_leaves, act_layout.values()):
            actions[start:stop, a:b] = np.asarray(leaf[()]).reshape(steps, -1)
        rewards[start:stop] = np.asarray(rew[()]).reshape(-1)
        terminations[start:stop] = np.asarray(term[()]).reshape(-1)
        truncations[start:stop] = np.asarray(trunc[()]).reshape(-1)
        start = stop

    # Every Minari episode ends at its last step, whatever flag it carries there.
    last = np.cumsum(lengths) - 1
    truncations[last] |= ~terminations[last]
    arrays = dict(
        observations=observations,
        actions=actions,
        rewards=rewards,
        terminations=terminations,
        truncations=truncations,
        next_observations=next_observations,
    )
    obs_is_dict = not (len(obs_leaves0) == 1 and obs_leaves0[0][0] == "")
    act_is_dict = not (len(act_leaves0) == 1 and act_leaves0[0][0] == "")
    return arrays, (obs_layout if obs_is_dict else None), (act_layout if act_is_dict else None)


def _get(source: str, name: str, episode: Any, key: str) -> Any:
    try:
        return episode[key]
    except KeyError:
        raise DatasetError(source, f"{name}/{key}", None, "missing") from None


def _layout(leaves: list[tuple[str, Any]]) -> tuple[dict[str, list[int]], int]:
    layout: dict[str, list[int]] = {}
    offset = 0
    for key, leaf in leaves:
        width = int(np.prod(leaf.shape[1:], dtype=np.int64))
        layout[key] = [offset, offset + width]
        offset += width
    return layout, offset


def _check_leaves(source: str, field: str, leaves, reference, rows: int) -> None:
    if [k for k, _ in leaves] != [k for k, _ in reference]:
        raise DatasetError(
            source, field, None, f"keys {[k for k, _ in leaves]} differ from episode 0's {[k for k, _ in reference]}"
        )
    for (key, leaf), (_, ref) in zip(leaves, reference):
        name = f"{field}/{key}" if key else field
        if leaf.shape[0] != rows:
            raise DatasetError(source, name, None, f"has {leaf.shape[0]} rows, expected {rows}")
        if tuple(leaf.shape[1:]) != tuple(ref.shape[1:]):
            raise DatasetError(
                source, name, None, f"shape {tuple(leaf.shape[1:])} differs from episode 0's {tuple(ref.shape[1:])}"
            )


def _loaded_metadata(raw_meta: Mapping[str, Any], dataset_dir: Path) -> dict[str, Any]:
    """Our stored metadata back, plus what Minari itself recorded.

    ``metadata["source"]`` is always the dataset directory (error messages use it); a
    ``source`` entry the writer stored (e.g. "expert") comes back as ``origin``.
    """
    stored = raw_meta.get(GENPOLICY_KEY)
    metadata: dict[str, Any] = dict(stored) if isinstance(stored, Mapping) else {}
    if "source" in metadata:
        metadata.setdefault("origin", metadata.pop("source"))
    if metadata.get("env_id") is None:
        metadata["env_id"] = _env_id_from_spec(raw_meta.get("env_spec"))
    for key in ("ref_min_score", "ref_max_score"):
        if metadata.get(key) is None:
            metadata[key] = raw_meta.get(key)
    metadata["dataset_id"] = raw_meta.get("dataset_id")
    metadata["format"] = "minari"
    metadata["source"] = str(dataset_dir)
    return metadata


def _env_id_from_spec(spec_json: Any) -> str | None:
    if not isinstance(spec_json, str):
        return None
    try:
        return json.loads(spec_json).get("id")
    except ValueError:
        return None
