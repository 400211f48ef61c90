"""A replay buffer that lives on the training device, for online learners.

`ReplayBuffer` is a ring of preallocated tensors (``capacity`` rows). ``add`` writes one
*vector step* at a time (N transitions, one per sub-env); when the ring is full the oldest
rows are overwritten, and a write that crosses the end wraps around in one scatter. Rows keep
the same fields as an `OfflineDataset` (observations, actions, rewards, terminations,
truncations, next_observations) plus the sub-env that produced them, so the buffer can be
turned back into a dataset of whole episodes (``to_dataset``: D4RL's medium-replay is "the
replay buffer up to a checkpoint, in order").

Sampling follows the samplers' contract (`genpolicy.datasets.samplers`): indices drawn with
the trainer's `torch.Generator` on the buffer's device, a dict with the keys of
`TransitionSampler` (``observations, actions, rewards, next_observations, terminations``).
`ReplaySampler` wraps a buffer as such a sampler; `MixedSampler` draws a fixed share of each
batch from several samplers (RLPD's symmetric sampling: half offline data, half replay).

Dict observations are flattened with the datasets' layout (`observation_layout`, the order
of `minari_io.flatten_observation_keys`), so a policy trained online reads dict observations
exactly like one trained on a Minari dataset of the same env.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np
import torch

from genpolicy.datasets.episodes import FIELDS, OfflineDataset
from genpolicy.datasets.samplers import transitions_at

_FLOAT_FIELDS = ("observations", "actions", "rewards", "next_observations")
_BOOL_FIELDS = ("terminations", "truncations")


def observation_layout(space: Any) -> dict[str, list[int]] | None:
    """``key -> [start, stop]`` of a gymnasium ``Dict`` observation space flattened in the
    datasets' order (None for a ``Box``). Nested dicts are refused."""
    import gymnasium as gym

    from genpolicy.datasets.minari_io import flatten_observation_keys

    if not isinstance(space, gym.spaces.Dict):
        return None
    layout, start = {}, 0
    for key in flatten_observation_keys(space.spaces.keys()):
        sub = space.spaces[key]
        if not isinstance(sub, gym.spaces.Box):
            raise ValueError(f"observation key {key!r}: only Box entries can be flattened, got {type(sub).__name__}")
        size = int(np.prod(sub.shape))
        layout[key] = [start, start + size]
        start += size
    return layout


def flatten_batch(obs: Any, layout: dict[str, list[int]] | None) -> np.ndarray | torch.Tensor:
    """A batched observation ``[N, ...]`` (an array, a tensor or a dict of arrays) -> ``[N, obs_dim]``."""
    if isinstance(obs, Mapping):
        if layout is None:
            raise ValueError("got a dict observation but the buffer has no obs_layout")
        keys = sorted(layout, key=lambda key: layout[key][0])
        n = len(np.asarray(obs[keys[0]]))
        return np.concatenate([np.asarray(obs[k], dtype=np.float32).reshape(n, -1) for k in keys], axis=-1)
    if torch.is_tensor(obs):
        return obs.reshape(obs.shape[0], -1)
    array = np.asarray(obs, dtype=np.float32)
    return array.reshape(array.shape[0], -1)


class ReplayBuffer:
    """A ring of ``capacity`` transitions on ``device`` (see the module doc)."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, device: torch.device | str = "cpu",
                 obs_layout: dict[str, list[int]] | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity, self.obs_dim, self.act_dim = int(capacity), int(obs_dim), int(act_dim)
        self.obs_layout = obs_layout
        self.device = torch.device(device)
        self.position = 0  # the row the next transition goes to
        self.size = 0  # rows filled
        self.added = 0  # transitions ever added (insertion counter)
        self._allocate(self.device)

    def _allocate(self, device: torch.device) -> None:
        c = self.capacity
        self.observations = torch.zeros(c, self.obs_dim, device=device)
        self.next_observations = torch.zeros(c, self.obs_dim, device=device)
        self.actions = torch.zeros(c, self.act_dim, device=device)
        self.rewards = torch.zeros(c, device=device)
        self.terminations = torch.zeros(c, dtype=torch.bool, device=device)
        self.truncations = torch.zeros(c, dtype=torch.bool, device=device)
        self.env_ids = torch.zeros(c, dtype=torch.long, device=device)  # which sub-env wrote the row
        self.order = torch.zeros(c, dtype=torch.long, device=device)  # insertion number of the row

    def __len__(self) -> int:
        return self.size

    def to(self, device: torch.device | str) -> "ReplayBuffer":
        """Move the storage to ``device`` (in place; returns self)."""
        device = torch.device(device)
        if device != self.device:
            for name in (*FIELDS, "env_ids", "order"):
                setattr(self, name, getattr(self, name).to(device))
            self.device = device
        return self

    # ------------------------------------------------------------------ writing
    def add(self, observations: Any, actions: Any, rewards: Any, next_observations: Any,
            terminations: Any, truncations: Any, env_ids: Any = None) -> None:
        """Write N transitions (one vector-env step: row ``i`` from sub-env ``i`` unless
        ``env_ids`` says otherwise). ``next_observations`` must be the true next observations
        (for a finished episode its final observation, not the reset one)."""
        obs = self._tensor(flatten_batch(observations, self.obs_layout))
        n = obs.shape[0]
        if n > self.capacity:
            raise ValueError(f"cannot add {n} transitions to a buffer of capacity {self.capacity}")
        rows = (self.position + torch.arange(n, device=self.device)) % self.capacity  # wraps around
        self.observations[rows] = obs
        self.next_observations[rows] = self._tensor(flatten_batch(next_observations, self.obs_layout))
        self.actions[rows] = self._tensor(actions).reshape(n, self.act_dim)
        self.rewards[rows] = self._tensor(rewards).reshape(n)
        self.terminations[rows] = self._tensor(terminations, torch.bool).reshape(n)
        self.truncations[rows] = self._tensor(truncations, torch.bool).reshape(n)
        ids = torch.arange(n) if env_ids is None else env_ids
        self.env_ids[rows] = self._tensor(ids, torch.long).reshape(n)
        self.order[rows] = self.added + torch.arange(n, device=self.device)
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        self.added += n

    def _tensor(self, value: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        if torch.is_tensor(value):
            return value.to(device=self.device, dtype=dtype)
        return torch.as_tensor(np.asarray(value), dtype=dtype, device=self.device)

    # ----------------------------------------------------------------- reading
    def sample(self, generator: torch.Generator, batch_size: int) -> dict[str, torch.Tensor]:
        """``batch_size`` transitions drawn uniformly (with replacement) from the filled rows."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = torch.randint(self.size, (batch_size,), device=self.device, generator=generator)
        return transitions_at(self, index)

    def chronological(self) -> torch.Tensor:
        """Row indices of the filled rows, oldest first."""
        start = self.position if self.size == self.capacity else 0
        return (start + torch.arange(self.size, device=self.device)) % self.capacity

    def to_dataset(self, metadata: dict[str, Any] | None = None, before: int | None = None) -> OfflineDataset:
        """The buffer as an `OfflineDataset` of whole episodes in insertion order.

        Vector envs interleave their episodes in the ring; here each episode's transitions are
        put back together, episodes ordered by when they started. An episode still running at
        the end is kept and ends in a truncation (the dataset's rule for an unfinished episode);
        one whose start was overwritten by the wrap-around starts where the buffer does.
        ``before``: only the transitions added before that insertion count (the buffer "up to"
        a point of training, D4RL's medium-replay); refused when some of them were overwritten.
        """
        if self.size == 0:
            raise ValueError("the replay buffer is empty")
        rows = self.chronological()
        if before is not None:
            oldest = int(self.order[rows[0]])
            if oldest > 0:
                raise ValueError(f"the replay buffer no longer holds its first {oldest} transitions (capacity "
                                 f"{self.capacity}): it cannot give everything added before {before}")
            rows = rows[self.order[rows] < before]
            if len(rows) == 0:
                raise ValueError(f"no transition was added before {before}")
        env_ids = self.env_ids[rows]
        ends = self.terminations[rows] | self.truncations[rows]
        episode_start = torch.empty_like(rows)  # insertion position of each row's episode start
        unfinished_last = torch.zeros_like(ends)
        for env in torch.unique(env_ids).tolist():
            mine = torch.nonzero(env_ids == env).reshape(-1)
            mine_ends = ends[mine]
            starts = torch.ones_like(mine_ends)
            starts[1:] = mine_ends[:-1]
            episode = torch.cumsum(starts.long(), 0) - 1
            episode_start[mine] = mine[starts][episode]
            if not bool(mine_ends[-1]):
                unfinished_last[mine[-1]] = True
        order = torch.argsort(episode_start, stable=True)
        picked = rows[order]
        data = {name: getattr(self, name)[picked] for name in FIELDS}
        data["truncations"] = data["truncations"] | unfinished_last[order]
        meta = dict(metadata or {})
        meta.setdefault("source", "replay buffer")
        if self.obs_layout is not None:
            meta.setdefault("obs_layout", self.obs_layout)
        return OfflineDataset(**{k: v.cpu() for k, v in data.items()}, metadata=meta)

    def end_running_episodes(self) -> int:
        """Mark the newest row of every sub-env whose episode is still open as truncated.

        Used when the episodes cannot continue (a resumed run starts fresh ones: env state is
        not saved): the cut is a truncation, so TD targets still bootstrap there, and the next
        episode of that sub-env does not run into this one. Returns how many were cut."""
        if self.size == 0:
            return 0
        rows = self.chronological()
        env_ids = self.env_ids[rows]
        cut = 0
        for env in torch.unique(env_ids).tolist():
            last = rows[torch.nonzero(env_ids == env).reshape(-1)[-1]]
            if not bool(self.terminations[last] | self.truncations[last]):
                self.truncations[last] = True
                cut += 1
        return cut

    # -------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        """The filled rows (in storage order) and the ring position, on the CPU."""
        n = self.size
        state: dict[str, Any] = {name: getattr(self, name)[:n].cpu().clone() for name in (*FIELDS, "env_ids", "order")}
        state.update(capacity=self.capacity, position=self.position, size=self.size, added=self.added,
                     obs_dim=self.obs_dim, act_dim=self.act_dim, obs_layout=self.obs_layout)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state["obs_dim"], state["act_dim"]) != (self.obs_dim, self.act_dim):
            raise ValueError(f"replay buffer state has obs/act dims {(state['obs_dim'], state['act_dim'])}, "
                             f"this buffer {(self.obs_dim, self.act_dim)}")
        if state["capacity"] != self.capacity:
            raise ValueError(f"replay buffer state has capacity {state['capacity']}, this buffer {self.capacity}")
        n = int(state["size"])
        for name in (*FIELDS, "env_ids", "order"):
            getattr(self, name)[:n] = state[name].to(self.device)
        self.position, self.size, self.added = int(state["position"]), n, int(state["added"])


class ReplaySampler:
    """A buffer as a sampler (``sample(generator)``, fixed batch size), like `TransitionSampler`."""

    def __init__(self, buffer: ReplayBuffer, batch_size: int) -> None:
        self.buffer, self.batch_size = buffer, batch_size

    def sample(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.buffer.sample(generator, self.batch_size)


class MixedSampler:
    """Each batch concatenates one batch of every sampler (their sizes set the shares).

    RLPD's symmetric sampling is ``MixedSampler([TransitionSampler(offline, B // 2),
    ReplaySampler(buffer, B - B // 2)])`` (see `symmetric_sampler`). Only the keys every
    sampler returns are kept.
    """

    def __init__(self, samplers: Sequence[Any]) -> None:
        if not samplers:
            raise ValueError("MixedSampler needs at least one sampler")
        self.samplers = list(samplers)

    def sample(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        batches = [sampler.sample(generator) for sampler in self.samplers]
        keys = [k for k in batches[0] if all(k in b for b in batches[1:])]
        return {k: torch.cat([b[k].to(batches[0][k].device) for b in batches]) for k in keys}


def symmetric_sampler(dataset: OfflineDataset, buffer: ReplayBuffer, batch_size: int) -> MixedSampler:
    """Half of every batch from the offline ``dataset``, half from the replay ``buffer`` (RLPD)."""
    from genpolicy.datasets.samplers import TransitionSampler

    half = batch_size // 2
    return MixedSampler([TransitionSampler(dataset, half), ReplaySampler(buffer, batch_size - half)])


__all__ = ["MixedSampler", "ReplayBuffer", "ReplaySampler", "flatten_batch", "observation_layout", "symmetric_sampler"]
