"""OfflineDataset validation, normalizers and on-device samplers: exact checks by hand."""

from __future__ import annotations

import pytest
import torch

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.errors import DatasetError
from genpolicy.datasets.normalizers import Normalizer
from genpolicy.datasets.samplers import TransitionSampler, WindowSampler, episode_returns_to_go
from tests.conftest import make_dataset


def test_episode_structure(small_dataset):
    ds = small_dataset
    assert len(ds) == 40 and ds.num_episodes == 4
    assert ds.episode_bounds().tolist() == [[0, 10], [10, 20], [20, 30], [30, 40]]
    assert ds.episode_starts.nonzero().flatten().tolist() == [0, 10, 20, 30]
    assert ds.episode_returns().tolist() == [10.0] * 4
    episodes = list(ds.episodes())
    assert len(episodes) == 4 and episodes[2]["observations"][0, 0] == 2
    assert ds.observations.dtype == torch.float32 and ds.terminations.dtype == torch.bool


def test_nan_error_names_field_and_index():
    ds = make_dataset()
    actions = ds.actions.clone()
    actions[17, 1] = float("nan")
    with pytest.raises(DatasetError, match=r"my\.h5: field 'actions' at index 17: is not finite"):
        OfflineDataset(ds.observations, actions, ds.rewards, ds.terminations, ds.truncations, ds.next_observations, metadata={"source": "my.h5"})


def test_length_mismatch_names_field():
    ds = make_dataset()
    with pytest.raises(DatasetError, match="field 'rewards'.*39 rows"):
        OfflineDataset(ds.observations, ds.actions, ds.rewards[:-1], ds.terminations, ds.truncations, ds.next_observations)


def test_unfinished_last_episode_is_truncated():
    ds = make_dataset()
    truncations = ds.truncations.clone()
    truncations[-1] = False
    fixed = OfflineDataset(ds.observations, ds.actions, ds.rewards, ds.terminations, truncations, ds.next_observations)
    assert bool(fixed.truncations[-1]) and fixed.num_episodes == 4


def test_select_episodes():
    ds = make_dataset().select_episodes([3, 1])
    assert ds.observations[:, 0].unique().tolist() == [1.0, 3.0] and len(ds) == 20


@pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]
)
def test_to_moves_every_field_and_keeps_episodes_and_metadata(device):
    ds = make_dataset().select_episodes([3, 1])
    ds.metadata["env_id"] = "Some-v0"
    moved = ds.to(device)
    for name in ("observations", "actions", "rewards", "terminations", "truncations", "next_observations", "episode_starts"):
        field = getattr(moved, name)
        assert field.device.type == device, name
        assert torch.equal(field.cpu(), getattr(ds, name)), name
    assert moved.num_episodes == 2 and torch.equal(moved.episode_bounds().cpu(), ds.episode_bounds())
    moved.metadata["env_id"] = "Other-v0"  # a copy: the source's metadata is untouched
    assert ds.metadata["env_id"] == "Some-v0"
    back = moved.to("cpu")
    assert back.device.type == "cpu" and torch.equal(back.actions, ds.actions)


def test_concatenate_keeps_episodes_and_names_mismatches():
    a, b = make_dataset(num_episodes=2, length=5), make_dataset(num_episodes=3, length=4)
    joined = OfflineDataset.concatenate([a, b])
    assert len(joined) == 22 and joined.num_episodes == 5
    assert torch.equal(joined.episode_returns(), torch.tensor([5.0, 5.0, 4.0, 4.0, 4.0]))
    assert torch.equal(joined.observations[10:], b.observations)
    assert joined.metadata["source"] == "synthetic + synthetic"
    with pytest.raises(DatasetError, match="obs/act dims"):
        OfflineDataset.concatenate([a, make_dataset(obs_dim=4)])


@pytest.mark.parametrize("mode", ["standard", "minmax"])
def test_normalizer_round_trip(mode):
    data = torch.randn(500, 3) * torch.tensor([1.0, 10.0, 0.0]) + torch.tensor([5.0, -2.0, 7.0])
    norm = Normalizer(3, mode).fit(data)
    z = norm.normalize(data)
    torch.testing.assert_close(norm.unnormalize(z), data, rtol=1e-5, atol=1e-4)
    if mode == "minmax":
        assert z[:, :2].min() >= -1 - 1e-6 and z[:, :2].max() <= 1 + 1e-6
        assert torch.allclose(z[:, :2].min(0).values, torch.tensor([-1.0, -1.0]))
    else:
        torch.testing.assert_close(z[:, :2].mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    # A constant dimension is shifted but not divided by ~0.
    assert norm.scale[2] == 1.0


def test_transition_sampler_is_seeded(small_dataset):
    sampler = TransitionSampler(small_dataset, batch_size=8)
    a = sampler.sample(torch.Generator().manual_seed(3))
    b = sampler.sample(torch.Generator().manual_seed(3))
    for key in a:
        assert torch.equal(a[key], b[key])
    assert a["observations"].shape == (8, 3) and a["terminations"].dtype == torch.float32


def test_window_padding_at_episode_edges(small_dataset):
    sampler = WindowSampler(small_dataset, batch_size=2, obs_horizon=3, pred_horizon=4)
    # Step 11 = episode 1, step 1: first obs is padding (repeats step 0 of episode 1).
    # Step 18 = episode 1, step 8: actions 8, 9, then two pads repeating step 9.
    batch = sampler.window(torch.tensor([11, 18]))
    assert batch["observations"][0, :, 1].tolist() == [0.0, 0.0, 1.0]
    assert batch["obs_is_pad"][0].tolist() == [True, False, False]
    assert batch["actions"][1, :, 0].tolist() == [108.0, 109.0, 109.0, 109.0]
    assert batch["action_is_pad"][1].tolist() == [False, False, True, True]
    assert batch["timesteps"][1].tolist() == [6, 7, 8]
    # Never crosses into another episode.
    assert set(batch["observations"][:, :, 0].flatten().tolist()) == {1.0}


def test_window_aligned_actions_and_returns_to_go(small_dataset):
    sampler = WindowSampler(small_dataset, 1, obs_horizon=3, pred_horizon=3, action_offset=-2, returns_to_go=True)
    batch = sampler.window(torch.tensor([21]))
    assert batch["actions"][0, :, 0].tolist() == [200.0, 200.0, 201.0]
    assert batch["action_is_pad"][0].tolist() == [True, False, False]
    # Rewards are 1 per step and episodes have 10 steps: RTG at step k is 10 - k.
    assert batch["returns_to_go"][0].tolist() == [10.0, 10.0, 9.0]
    assert episode_returns_to_go(small_dataset)[:10].tolist() == [10.0 - k for k in range(10)]


@pytest.mark.parametrize("mode", ["standard", "minmax"])
def test_normalizer_scales_features_in_small_units(mode):
    """A feature with std 1e-3 (small units) is normalized like any other; only a truly
    constant one (spread at float rounding level) is left unscaled."""
    g = torch.Generator().manual_seed(0)
    small = 1e-3 * torch.randn(2000, generator=g)
    constant = torch.full((2000,), 1000.0) + 1e-5 * torch.randn(2000, generator=g)  # 1e-8 relative: rounding
    data = torch.stack([small, 5.0 + small, constant, 1e4 * torch.randn(2000, generator=g)], dim=1)
    z = Normalizer(4, mode).fit(data).normalize(data)
    spread = z.std(0) if mode == "standard" else (z.max(0).values - z.min(0).values) / 2
    torch.testing.assert_close(spread[[0, 1, 3]], torch.ones(3), rtol=1e-3, atol=1e-3)
    assert z[:, 2].abs().max() < 1e-3  # constant column: shifted to 0, not blown up to unit spread
