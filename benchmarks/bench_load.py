"""Loader speed: `load_d4rl_hdf5` against raw h5py reads of the same arrays.

Writes a synthetic D4RL-format HDF5 (1M transitions, obs_dim 17, act_dim 6, episodes of
1000 steps ending by timeout) to a temp dir, then times, best of 3 in one process:

* raw: ``h5py`` reads of every array in the file into numpy (nothing else)
* ours: ``load_d4rl_hdf5`` (reads, checks for NaN/inf, builds the `OfflineDataset`)

for the file with ``next_observations`` and for D4RL's classic layout without it (where
next observations are derived and timeout rows dropped).

    .venv/bin/python benchmarks/bench_load.py [--transitions 1000000]

Target: ours <= 1.5x raw time (printed as speed ratio raw/ours >= 0.67).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from genpolicy.datasets import OfflineDataset, load_d4rl_hdf5, write_d4rl_hdf5


def synthetic(n: int, obs_dim: int, act_dim: int, episode_len: int) -> OfflineDataset:
    rng = np.random.default_rng(0)
    observations = rng.standard_normal((n, obs_dim), dtype=np.float32)
    next_observations = np.empty_like(observations)
    next_observations[:-1] = observations[1:]
    next_observations[-1] = observations[-1]
    truncations = np.zeros(n, dtype=bool)
    truncations[episode_len - 1 :: episode_len] = True
    return OfflineDataset(
        observations=observations,
        actions=rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
        rewards=rng.standard_normal(n, dtype=np.float32),
        terminations=np.zeros(n, dtype=bool),
        truncations=truncations,
        next_observations=next_observations,
        metadata={"env_id": "Hopper-v5", "ref_min_score": -20.0, "ref_max_score": 3234.3},
    )


def raw_read(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {key: f[key][()] for key in f.keys()}


def best_of(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        del result
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=1_000_000)
    parser.add_argument("--obs-dim", type=int, default=17)
    parser.add_argument("--act-dim", type=int, default=6)
    parser.add_argument("--episode-len", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    dataset = synthetic(args.transitions, args.obs_dim, args.act_dim, args.episode_len)
    with tempfile.TemporaryDirectory() as tmp:
        for label, with_next in (("with next_observations", True), ("without next_observations", False)):
            path = Path(tmp) / f"synthetic_{int(with_next)}.hdf5"
            write_d4rl_hdf5(path, dataset, next_observations=with_next)
            raw_read(path)  # warm the page cache for both contenders
            raw = best_of(lambda: raw_read(path), args.repeats)
            ours = best_of(lambda: load_d4rl_hdf5(path), args.repeats)
            loaded = load_d4rl_hdf5(path)
            size_mb = path.stat().st_size / 1e6
            print(
                f"{label}: {args.transitions} transitions ({size_mb:.0f} MB) -> {len(loaded)} loaded\n"
                f"  raw h5py read : {raw * 1e3:8.1f} ms\n"
                f"  load_d4rl_hdf5: {ours * 1e3:8.1f} ms\n"
                f"  ours/raw time : {ours / raw:8.2f}x   (speed ratio raw/ours {raw / ours:.2f}; target time <= 1.5x)"
            )


if __name__ == "__main__":
    main()
