"""Index samplers that build batches on the dataset's device, driven by a `torch.Generator`.

No DataLoader, no worker processes, no host-device copies: a batch is a handful of gathers
on tensors that already live where the model trains. The generator is owned by the
trainer, whose checkpoint stores its state, so a resumed run draws the same batches.
"""

from __future__ import annotations

import torch

from genpolicy.datasets.episodes import OfflineDataset


def transitions_at(source, index: torch.Tensor) -> dict[str, torch.Tensor]:
    """The transition batch at rows ``index`` of anything with the transition fields (a dataset,
    a replay buffer): the one batch layout every TD learner reads. Only ``terminations`` stop
    bootstrapping; truncations are not part of a transition batch."""
    return {
        "observations": source.observations[index],
        "actions": source.actions[index],
        "rewards": source.rewards[index],
        "next_observations": source.next_observations[index],
        "terminations": source.terminations[index].float(),
    }


class TransitionSampler:
    """Uniform single transitions ``(s, a, r, s', terminal)``."""

    def __init__(self, dataset: OfflineDataset, batch_size: int) -> None:
        self.dataset = dataset
        self.batch_size = batch_size

    def sample(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        data = self.dataset
        index = torch.randint(len(data), (self.batch_size,), device=data.device, generator=generator)
        return transitions_at(data, index)


class SegmentSampler:
    """Whole segments ``s_t..s_{t+c-1}``, ``a_t..a_{t+c-1}`` lying inside one episode (no padding),
    ``t`` uniform over the valid starts: the units a segment model (OPAL) encodes.

    Returns observations ``[B, c, obs_dim]`` and actions ``[B, c, act_dim]``. Episodes shorter
    than ``c`` contribute no segment; a dataset with none at all is refused.
    """

    def __init__(self, dataset: OfflineDataset, batch_size: int, length: int) -> None:
        if length < 1:
            raise ValueError(f"segment length must be >= 1, got {length}")
        self.dataset, self.batch_size, self.length = dataset, batch_size, length
        device = dataset.device
        stop = dataset.episode_bounds().to(device)[dataset.episode_index().to(device), 1]
        self.starts = torch.nonzero(stop - torch.arange(len(dataset), device=device) >= length)[:, 0]
        if len(self.starts) == 0:
            raise ValueError(f"no episode of the dataset has {length} steps: no segment to sample")
        self._offsets = torch.arange(length, device=device)

    def sample(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        pick = torch.randint(len(self.starts), (self.batch_size,), device=self.starts.device, generator=generator)
        return self.segments(self.starts[pick])

    def segments(self, starts: torch.Tensor) -> dict[str, torch.Tensor]:
        """The segments starting at dataset rows ``starts`` (``[B]`` long, valid starts)."""
        index = starts[:, None] + self._offsets
        return {"observations": self.dataset.observations[index], "actions": self.dataset.actions[index]}


class WindowSampler:
    """Windows around a uniformly drawn step t of some episode.

    * observations ``[B, To, obs_dim]``: steps ``t-To+1 .. t``; steps before the episode
      start repeat its first observation (what the policy sees right after ``reset()``).
    * actions ``[B, Tp, act_dim]``: steps ``t+offset .. t+offset+Tp-1`` (``offset`` 0 for
      action chunking; ``-(To-1)`` aligns actions with the observation window, as Decision
      Transformer needs). Steps past the episode end repeat its last action, steps before
      its start repeat the first; ``action_is_pad`` marks both.
    * ``obs_is_pad`` ``[B, To]``, ``timesteps`` ``[B, To]`` (step within the episode), and
      with ``returns_to_go=True`` the undiscounted return from each observation step on.
    """

    def __init__(
        self,
        dataset: OfflineDataset,
        batch_size: int,
        obs_horizon: int,
        pred_horizon: int,
        action_offset: int = 0,
        returns_to_go: bool = False,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.obs_horizon = obs_horizon
        self.pred_horizon = pred_horizon
        self.action_offset = action_offset
        device = dataset.device
        bounds = dataset.episode_bounds().to(device)
        episode = dataset.episode_index().to(device)
        self._start = bounds[episode, 0]  # [N] first index of each step's episode
        self._stop = bounds[episode, 1]  # [N] one past its last index
        self._obs_offsets = torch.arange(-obs_horizon + 1, 1, device=device)
        self._act_offsets = torch.arange(pred_horizon, device=device) + action_offset
        self._returns_to_go = episode_returns_to_go(dataset) if returns_to_go else None

    def sample(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        data = self.dataset
        t = torch.randint(len(data), (self.batch_size,), device=data.device, generator=generator)
        return self.window(t)

    def window(self, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """The windows around the given steps ``t`` (``[B]`` long)."""
        data = self.dataset
        start, last = self._start[t, None], self._stop[t, None] - 1
        obs_raw = t[:, None] + self._obs_offsets
        obs_index = torch.maximum(obs_raw, start)
        act_raw = t[:, None] + self._act_offsets
        act_index = torch.minimum(torch.maximum(act_raw, start), last)
        batch = {
            "observations": data.observations[obs_index],
            "actions": data.actions[act_index],
            "obs_is_pad": obs_raw < start,
            "action_is_pad": (act_raw < start) | (act_raw > last),
            "timesteps": obs_index - start,
        }
        if self._returns_to_go is not None:
            batch["returns_to_go"] = self._returns_to_go[obs_index]
        return batch


def episode_returns_to_go(dataset: OfflineDataset) -> torch.Tensor:
    """Float ``[N]``: sum of rewards from each step to the end of its episode."""
    rewards = dataset.rewards.double()  # float64: cumulative sums over 1M steps stay exact
    index = dataset.episode_index()
    totals = torch.zeros(int(index[-1]) + 1, dtype=rewards.dtype, device=rewards.device)
    totals.index_add_(0, index, rewards)
    # Return-to-go = episode total - rewards strictly before this step in the episode.
    before = torch.cumsum(rewards, 0) - rewards
    episode_offset = before[dataset.episode_bounds()[:, 0].to(rewards.device)]
    return (totals[index] - (before - episode_offset[index])).to(dataset.rewards.dtype)
