"""Dataset loaders: Minari / D4RL-HDF5 / NPZ round trips, alignment, errors, atomic writes."""

from __future__ import annotations

import json

import h5py
import minari
import numpy as np
import pytest
import torch

import genpolicy.datasets.minari_io as minari_io
from genpolicy.datasets import (
    DatasetError,
    DatasetNotFoundError,
    OfflineDataset,
    load_d4rl_hdf5,
    load_dataset,
    load_minari,
    load_npz,
    write_d4rl_hdf5,
    write_minari_dataset,
    write_npz,
)

META = {"task": "two_paths", "ref_min_score": -3.5, "ref_max_score": 10.0, "source": "expert", "noise": 0.1, "seed": 7}


@pytest.fixture(autouse=True)
def _isolated_minari_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari_root"))


def make_episode(rng, steps, end, obs_dim=3, act_dim=2, dict_obs=False):
    """An episode ending by "term" (termination) or "trunc" (truncation)."""
    if dict_obs:
        obs = {
            "desired_goal": rng.normal(size=(steps + 1, 2)),
            "observation": rng.normal(size=(steps + 1, 4)),
            "achieved_goal": rng.normal(size=(steps + 1, 2)),
        }
    else:
        obs = rng.normal(size=(steps + 1, obs_dim))
    terminations = np.zeros(steps, dtype=bool)
    truncations = np.zeros(steps, dtype=bool)
    (terminations if end == "term" else truncations)[-1] = True
    return {
        "observations": obs,
        "actions": rng.normal(size=(steps, act_dim)).astype(np.float32),
        "rewards": rng.normal(size=steps),
        "terminations": terminations,
        "truncations": truncations,
    }


def episodes_fixture(dict_obs=False):
    rng = np.random.default_rng(0)
    return [make_episode(rng, t, end, dict_obs=dict_obs) for t, end in [(5, "term"), (4, "trunc"), (1, "term"), (6, "trunc")]]


def flat_obs(obs):
    if isinstance(obs, dict):
        return np.concatenate([obs["observation"], obs["achieved_goal"], obs["desired_goal"]], axis=1)
    return obs


def assert_matches_episodes(dataset: OfflineDataset, episodes):
    assert dataset.num_episodes == len(episodes)
    for got, ep in zip(dataset.episodes(), episodes):
        obs = flat_obs(ep["observations"]).astype(np.float32)
        np.testing.assert_array_equal(got["observations"].numpy(), obs[:-1])
        np.testing.assert_array_equal(got["next_observations"].numpy(), obs[1:])
        np.testing.assert_array_equal(got["actions"].numpy(), ep["actions"])
        np.testing.assert_array_equal(got["rewards"].numpy(), ep["rewards"].astype(np.float32))
        np.testing.assert_array_equal(got["terminations"].numpy(), ep["terminations"])
        np.testing.assert_array_equal(got["truncations"].numpy(), ep["truncations"])


# ----------------------------------------------------------------------------- Minari
def test_minari_round_trip_alignment_and_metadata(tmp_path):
    episodes = episodes_fixture()
    path = write_minari_dataset(tmp_path / "ds", episodes, env_id="genpolicy/TwoPaths-v0", metadata=META)
    dataset = load_dataset(path)
    assert_matches_episodes(dataset, episodes)
    assert len(dataset) == sum(len(ep["rewards"]) for ep in episodes)
    md = dataset.metadata
    assert md["env_id"] == "genpolicy/TwoPaths-v0"
    assert (md["ref_min_score"], md["ref_max_score"]) == (-3.5, 10.0)
    assert (md["task"], md["noise"], md["seed"], md["origin"]) == ("two_paths", 0.1, 7, "expert")
    assert md["source"] == str(path)
    assert "obs_layout" not in md
    # The data/ folder itself is accepted too.
    assert torch.equal(load_minari(path / "data").observations, dataset.observations)


def test_minari_dict_observations_layout(tmp_path):
    episodes = episodes_fixture(dict_obs=True)
    path = write_minari_dataset(tmp_path / "maze", episodes, env_id="PointMaze_UMaze-v3", metadata={})
    dataset = load_dataset(path)
    assert dataset.metadata["obs_layout"] == {"observation": [0, 4], "achieved_goal": [4, 6], "desired_goal": [6, 8]}
    assert_matches_episodes(dataset, episodes)


def test_minari_library_opens_what_we_wrote(tmp_path):
    episodes = episodes_fixture(dict_obs=True)
    dataset_id = "genpolicy/twopaths/expert-v0"
    path = write_minari_dataset(
        minari_io.minari_dataset_path(dataset_id), episodes, env_id="genpolicy/TwoPaths-v0", metadata=META
    )
    assert path == minari.storage.get_dataset_path(dataset_id)
    md = minari.load_dataset(dataset_id)
    assert md.total_episodes == 4 and md.total_steps == 16
    assert md.spec.dataset_id == dataset_id
    for got, ep in zip(md.iterate_episodes(), episodes):
        for key in ep["observations"]:
            np.testing.assert_array_equal(got.observations[key], ep["observations"][key])
        np.testing.assert_array_equal(got.terminations, ep["terminations"])
    np.testing.assert_allclose(minari.get_normalized_score(md, np.array([10.0])), [1.0])
    # Our loader resolves the same id without any download.
    assert len(load_dataset(dataset_id)) == 16


def test_load_dataset_written_by_minari_itself(tmp_path):
    """A dataset made by `minari.create_dataset_from_buffers` (with infos) loads too."""
    import gymnasium as gym
    from minari.data_collector.episode_buffer import EpisodeBuffer

    episodes = episodes_fixture(dict_obs=True)
    obs_space = gym.spaces.Dict(
        {k: gym.spaces.Box(-np.inf, np.inf, (w,), np.float64) for k, w in
         [("observation", 4), ("achieved_goal", 2), ("desired_goal", 2)]}
    )
    buffers = [
        EpisodeBuffer(
            observations=ep["observations"], actions=ep["actions"], rewards=ep["rewards"],
            terminations=ep["terminations"], truncations=ep["truncations"],
            infos={"success": ep["terminations"].copy()},
        )
        for ep in episodes
    ]
    minari.create_dataset_from_buffers(
        "ext/maze-v1", buffers, observation_space=obs_space,
        action_space=gym.spaces.Box(-1, 1, (2,), np.float32),
    )
    dataset = load_dataset("ext/maze-v1")
    assert_matches_episodes(dataset, episodes)
    assert dataset.metadata["dataset_id"] == "ext/maze-v1"
    assert dataset.metadata["obs_layout"]["desired_goal"] == [6, 8]


def test_minari_overwrite_and_atomic_failure(tmp_path, monkeypatch):
    episodes = episodes_fixture()
    dest = tmp_path / "ds"
    write_minari_dataset(dest, episodes[:2], env_id="X-v0", metadata={})
    with pytest.raises(FileExistsError):
        write_minari_dataset(dest, episodes, env_id="X-v0", metadata={})
    write_minari_dataset(dest, episodes, env_id="X-v0", metadata={}, overwrite=True)
    assert load_dataset(dest).num_episodes == 4

    # Fail after the second episode has been written to disk.
    from minari.dataset._storages import hdf5_storage

    real = hdf5_storage._add_episode_to_group
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(hdf5_storage, "_add_episode_to_group", flaky)
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError, match="disk full"):
        write_minari_dataset(fresh, episodes, env_id="X-v0", metadata={})
    assert not fresh.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left over
    with pytest.raises(DatasetNotFoundError):
        load_dataset(fresh)
    # A failed overwrite keeps the old dataset intact.
    calls["n"] = 2  # the next episode written fails
    with pytest.raises(RuntimeError):
        write_minari_dataset(dest, episodes[:1], env_id="X-v0", metadata={}, overwrite=True)
    assert load_dataset(dest).num_episodes == 4


def test_minari_episode_count_mismatch_is_rejected(tmp_path):
    path = write_minari_dataset(tmp_path / "ds", episodes_fixture(), env_id="X-v0", metadata={})
    with h5py.File(path / "data" / "main_data.hdf5", "a") as f:
        del f["episode_3"]
    with pytest.raises(DatasetError, match="4 episodes but the file holds 3"):
        load_dataset(path)


def test_minari_writer_checks_episode_shapes(tmp_path):
    episodes = episodes_fixture()
    episodes[1]["observations"] = episodes[1]["observations"][:-1]  # T instead of T+1
    with pytest.raises(DatasetError, match=r"episodes\[1\]\.observations.*T\+1"):
        write_minari_dataset(tmp_path / "bad", episodes, env_id="X-v0", metadata={})
    assert not (tmp_path / "bad").exists()


# ------------------------------------------------------------------------ D4RL / NPZ
def make_flat_dataset(seed=0):
    """Three episodes: terminated (5 steps), truncated (4), terminated (3)."""
    episodes = episodes_fixture()[:1] + [make_episode(np.random.default_rng(seed + 1), 4, "trunc")]
    episodes.append(make_episode(np.random.default_rng(seed + 2), 3, "term"))
    fields = {k: [] for k in ("observations", "actions", "rewards", "terminations", "truncations", "next_observations")}
    for ep in episodes:
        fields["observations"].append(ep["observations"][:-1])
        fields["next_observations"].append(ep["observations"][1:])
        for key in ("actions", "rewards", "terminations", "truncations"):
            fields[key].append(ep[key])
    arrays = {k: np.concatenate(v) for k, v in fields.items()}
    return OfflineDataset(**arrays, metadata={"env_id": "Hopper-v5", "ref_min_score": 1.0, "ref_max_score": 2.0})


def assert_same(a: OfflineDataset, b: OfflineDataset):
    for name in ("observations", "actions", "rewards", "terminations", "truncations", "next_observations"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("suffix", [".hdf5", ".npz"])
def test_d4rl_round_trip_with_next_observations(tmp_path, suffix):
    dataset = make_flat_dataset()
    path = tmp_path / f"d{suffix}"
    (write_d4rl_hdf5 if suffix == ".hdf5" else write_npz)(path, dataset)
    loaded = load_dataset(path)
    assert_same(loaded, dataset)
    assert loaded.metadata["env_id"] == "Hopper-v5"
    assert (loaded.metadata["ref_min_score"], loaded.metadata["ref_max_score"]) == (1.0, 2.0)
    assert loaded.metadata["source"] == str(path)


@pytest.mark.parametrize("suffix", [".hdf5", ".npz"])
def test_d4rl_without_next_observations(tmp_path, suffix):
    """Timeout rows are dropped (IQL/CORL); terminal rows keep a self placeholder."""
    dataset = make_flat_dataset()
    path = tmp_path / f"d{suffix}"
    (write_d4rl_hdf5 if suffix == ".hdf5" else write_npz)(path, dataset, next_observations=False)
    loaded = (load_d4rl_hdf5 if suffix == ".hdf5" else load_npz)(path)
    # Row 8 (the truncated episode's last step) has no known next obs: dropped.
    keep = [i for i in range(len(dataset)) if i != 8]
    assert len(loaded) == len(dataset) - 1 and loaded.metadata["dropped_rows"] == 1
    for name in ("observations", "actions", "rewards", "terminations"):
        assert torch.equal(getattr(loaded, name), getattr(dataset, name)[keep]), name
    ends = loaded.episode_bounds()[:, 1] - 1
    assert ends.tolist() == [4, 7, 10]
    assert loaded.truncations.nonzero().reshape(-1).tolist() == [7]
    # Within episodes, next obs is the true next obs; never the next episode's first obs.
    expected_next = dataset.next_observations[keep].clone()
    terminal = loaded.terminations
    assert torch.equal(loaded.next_observations[~terminal], expected_next[~terminal])
    assert torch.equal(loaded.next_observations[terminal], loaded.observations[terminal])


def reference_derive(obs, terminals, timeouts):
    """Row-by-row statement of the rule the vectorized loader implements."""
    rows, nxt, trunc = [], [], []
    n = len(obs)
    for i in range(n):
        if terminals[i]:
            rows.append(i), nxt.append(i), trunc.append(False)
        elif timeouts[i] or i == n - 1:
            if trunc and rows[-1] == i - 1 and not terminals[i - 1]:
                trunc[-1] = True
        else:
            rows.append(i), nxt.append(i + 1), trunc.append(False)
    return np.array(rows), np.array(nxt), np.array(trunc)


@pytest.mark.parametrize("mean_len", [2.0, 300.0])  # gather path and run-copy path
def test_derived_next_observations_match_reference(tmp_path, mean_len):
    rng = np.random.default_rng(int(mean_len))
    n = 3000
    obs = rng.normal(size=(n, 3)).astype(np.float32)
    ends = rng.random(n) < 1.0 / mean_len
    terminals = ends & (rng.random(n) < 0.5)
    timeouts = ends & ~terminals
    timeouts[rng.random(n) < 0.01] = True  # some rows both terminal and timeout
    path = tmp_path / "x.npz"
    np.savez(path, observations=obs, actions=obs[:, :2], rewards=obs[:, 0], terminals=terminals, timeouts=timeouts)
    got = load_npz(path)
    rows, nxt, trunc = reference_derive(obs, terminals, timeouts)
    np.testing.assert_array_equal(got.observations.numpy(), obs[rows])
    np.testing.assert_array_equal(got.next_observations.numpy(), obs[nxt])
    np.testing.assert_array_equal(got.terminations.numpy(), terminals[rows])
    expected_trunc = trunc.copy()
    expected_trunc[-1] |= not terminals[rows[-1]]
    np.testing.assert_array_equal(got.truncations.numpy(), expected_trunc)
    assert got.metadata["dropped_rows"] == n - len(rows)


def test_hdf5_plain_d4rl_keys_and_attrs(tmp_path):
    """A file written the way D4RL's own files are (float terminals, attrs, no extras)."""
    n = 6
    rng = np.random.default_rng(3)
    path = tmp_path / "raw.h5"
    with h5py.File(path, "w") as f:
        f["observations"] = rng.normal(size=(n, 2))
        f["actions"] = rng.normal(size=(n, 1))
        f["rewards"] = rng.normal(size=(n, 1))
        f["terminals"] = np.array([0, 0, 1, 0, 0, 0], dtype=np.float32)
        f["timeouts"] = np.array([0, 0, 0, 0, 0, 1], dtype=bool)
        f.attrs["env_id"] = "Walker2d-v5"
        f.attrs["ref_max_score"] = 5.0
    ds = load_dataset(path)
    assert len(ds) == 5 and ds.terminations.tolist() == [False, False, True, False, False]
    assert ds.truncations.tolist() == [False] * 4 + [True]
    assert ds.metadata["env_id"] == "Walker2d-v5" and ds.metadata["ref_max_score"] == 5.0


# -------------------------------------------------------------------------- errors
def write_raw_hdf5(path, dataset, **changes):
    arrays = {
        "observations": dataset.observations.numpy(),
        "actions": dataset.actions.numpy().copy(),
        "rewards": dataset.rewards.numpy(),
        "terminals": dataset.terminations.numpy(),
        "timeouts": dataset.truncations.numpy(),
    }
    arrays.update(changes)
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            if value is not None:
                f[key] = value


def test_nan_in_actions_names_file_field_index(tmp_path):
    dataset = make_flat_dataset()
    actions = dataset.actions.numpy().copy()
    actions[9, 1] = np.nan  # file row 9; row 8 is dropped on load, so the error must re-index
    path = tmp_path / "nan.hdf5"
    write_raw_hdf5(path, dataset, actions=actions)
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    assert (info.value.field, info.value.index) == ("actions", 9)
    assert str(path) in str(info.value) and "'actions' at index 9" in str(info.value)

    observations = dataset.observations.numpy().copy()
    observations[8, 0] = np.inf  # row 8 is dropped but is row 7's next observation
    write_raw_hdf5(path, dataset, observations=observations)
    with pytest.raises(DatasetError, match="'observations' at index 8"):
        load_dataset(path)


def test_length_mismatch_names_field(tmp_path):
    dataset = make_flat_dataset()
    path = tmp_path / "short.hdf5"
    write_raw_hdf5(path, dataset, rewards=dataset.rewards.numpy()[:-2])
    with pytest.raises(DatasetError, match=r"short\.hdf5: field 'rewards': has 10 rows but observations has 12"):
        load_dataset(path)
    np.savez(tmp_path / "short.npz", observations=np.zeros((4, 2)), actions=np.zeros((3, 1)),
             rewards=np.zeros(4), terminals=np.zeros(4), timeouts=np.zeros(4))
    with pytest.raises(DatasetError, match="field 'actions': has 3 rows"):
        load_dataset(tmp_path / "short.npz")


def test_missing_key_names_key(tmp_path):
    dataset = make_flat_dataset()
    path = tmp_path / "nokey.hdf5"
    write_raw_hdf5(path, dataset, terminals=None)
    with pytest.raises(DatasetError, match=r"nokey\.hdf5: field 'terminals': missing required key"):
        load_dataset(path)


def test_corrupt_and_truncated_files(tmp_path):
    garbage = tmp_path / "garbage.hdf5"
    garbage.write_bytes(b"this is not an hdf5 file\x00\x01" * 100)
    with pytest.raises(DatasetError, match=r"garbage\.hdf5.*not a readable HDF5"):
        load_dataset(garbage)

    good = tmp_path / "good.hdf5"
    write_d4rl_hdf5(good, make_flat_dataset())
    cut = tmp_path / "cut.hdf5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"cut\.hdf5"):
        load_dataset(cut)

    minari_dir = write_minari_dataset(tmp_path / "m", episodes_fixture(), env_id="X-v0", metadata={})
    main = minari_dir / "data" / "main_data.hdf5"
    main.write_bytes(main.read_bytes()[:1000])
    with pytest.raises(DatasetError, match=r"main_data\.hdf5"):
        load_dataset(minari_dir)

    bad_npz = tmp_path / "bad.npz"
    bad_npz.write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(DatasetError, match=r"bad\.npz.*not a readable"):
        load_dataset(bad_npz)


def test_nonexistent_sources(tmp_path):
    for missing in (tmp_path / "nope.hdf5", tmp_path / "nope_dir", "someone/never-v3"):
        with pytest.raises(DatasetNotFoundError) as info:
            load_dataset(missing)
        assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, DatasetError)
        assert str(missing) in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "plain_dir").mkdir()
    with pytest.raises(DatasetError, match="not a Minari dataset"):
        load_dataset(tmp_path / "plain_dir")


def test_writers_refuse_overwrite(tmp_path):
    dataset = make_flat_dataset()
    path = write_d4rl_hdf5(tmp_path / "a.hdf5", dataset)
    with pytest.raises(FileExistsError):
        write_d4rl_hdf5(path, dataset)
    write_d4rl_hdf5(path, dataset, overwrite=True)
    stored = json.loads(h5py.File(path, "r").attrs["genpolicy_metadata"])
    assert stored["env_id"] == "Hopper-v5"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "minari_root") == ["a.hdf5"]
