"""Demonstrations prepared for adversarial imitation: fewer of them, and in the learner's env.

Two transforms of an `OfflineDataset`, each returning a new one:

* `subsample_episodes(data, every)`: keep every ``every``-th transition of each episode (and
  always its terminal transition). DAC's protocol (Kostrikov et al., 2019: every 20th step of
  4 trajectories): consecutive expert states are nearly copies of each other, so BC gains
  little from them while a learner that must *match the visited distribution* still can;
  subsampling is what makes "GAIL beside BC" a fair comparison.
* `with_absorbing_states(data)`: the data as the ``absorbing`` env wrapper
  (`genpolicy.tasks.wrappers.AbsorbingState`) would have recorded it: a flag entry appended
  to every observation (0), a terminal transition leading to the absorbing observation
  ``[0, ..., 0, 1]`` instead of ending, followed by one absorbing -> absorbing transition (action
  0, reward 0, truncated). The discriminator then sees where the expert's episodes *end*, and
  a learner that dies early reaches a state it can tell apart from the expert's.
"""

from __future__ import annotations

import numpy as np
import torch

from genpolicy.datasets.episodes import FIELDS, OfflineDataset


def subsample_episodes(data: OfflineDataset, every: int, seed: int | None = None) -> OfflineDataset:
    """Every ``every``-th transition of each episode plus its terminal one (see the module doc).

    ``seed`` None: each episode from its first transition on; else a random start offset in
    ``[0, every)`` per episode (DAC's), drawn from ``numpy.random.default_rng(seed)``. The
    last kept transition of an episode ends it (truncated, unless it is the terminal one).
    """
    if every < 1:
        raise ValueError(f"subsample every must be >= 1, got {every}")
    if every == 1:
        return data
    rng = np.random.default_rng(seed) if seed is not None else None
    rows: list[torch.Tensor] = []
    for start, stop in data.episode_bounds().tolist():
        offset = int(rng.integers(every)) if rng is not None else 0
        kept = torch.arange(start + min(offset, stop - start - 1), stop, every)
        if bool(data.terminations[stop - 1]) and int(kept[-1]) != stop - 1:
            kept = torch.cat([kept, torch.tensor([stop - 1])])
        rows.append(kept)
    index = torch.cat(rows).to(data.device)
    picked = {name: getattr(data, name)[index] for name in FIELDS}
    ends = torch.cumsum(torch.tensor([len(r) for r in rows]), 0) - 1
    picked["truncations"] = torch.zeros_like(picked["terminations"])
    picked["truncations"][ends.to(data.device)] = ~picked["terminations"][ends.to(data.device)]
    picked["terminations"] = picked["terminations"].clone()
    inner = torch.ones(len(index), dtype=torch.bool, device=data.device)
    inner[ends.to(data.device)] = False
    picked["terminations"][inner] = False  # only an episode's last kept row may end it
    metadata = {**data.metadata, "subsampled_every": every}
    return OfflineDataset(**picked, metadata=metadata)


def terminations_as_cuts(data: OfflineDataset) -> OfflineDataset:
    """``data`` with every termination read as a truncation: the episode still ends there, but
    nothing says the demonstrator *reached* a terminal state (no absorbing row follows it)."""
    if not bool(data.terminations.any()):
        return data
    return OfflineDataset(data.observations, data.actions, data.rewards, torch.zeros_like(data.terminations),
                          data.truncations | data.terminations, data.next_observations,
                          metadata={**data.metadata, "terminations_as_cuts": True})


def absorbing_observation(obs_dim: int) -> torch.Tensor:
    """``[0, ..., 0, 1]`` of size ``obs_dim + 1`` (the wrapper's absorbing observation)."""
    obs = torch.zeros(obs_dim + 1)
    obs[-1] = 1.0
    return obs


def with_absorbing_states(data: OfflineDataset) -> OfflineDataset:
    """The data in the ``absorbing`` wrapper's observation space (see the module doc)."""
    n, obs_dim = data.observations.shape
    device = data.device
    flag = torch.zeros(n, 1, device=device)
    obs = torch.cat([data.observations, flag], dim=1)
    next_obs = torch.cat([data.next_observations, flag], dim=1)
    terminal = data.terminations
    absorbing = absorbing_observation(obs_dim).to(device)
    next_obs[terminal] = absorbing
    # after each terminal row i, one absorbing -> absorbing row: place rows by a running offset
    extra = torch.cumsum(terminal.long(), 0)
    new_rows = torch.arange(n, device=device) + extra - terminal.long()  # where row i lands
    total = n + int(terminal.sum())
    out = {
        "observations": absorbing.repeat(total, 1),
        "actions": torch.zeros(total, data.act_dim, device=device),
        "rewards": torch.zeros(total, device=device),
        "terminations": torch.zeros(total, dtype=torch.bool, device=device),
        "truncations": torch.zeros(total, dtype=torch.bool, device=device),
        "next_observations": absorbing.repeat(total, 1),
    }
    out["observations"][new_rows] = obs
    out["next_observations"][new_rows] = next_obs
    out["actions"][new_rows] = data.actions
    out["rewards"][new_rows] = data.rewards
    out["truncations"][new_rows] = data.truncations & ~terminal
    out["truncations"][new_rows[terminal] + 1] = True  # the absorbing row ends the episode
    return OfflineDataset(**out, metadata={**data.metadata, "absorbing_states": True})


__all__ = ["absorbing_observation", "subsample_episodes", "with_absorbing_states"]
