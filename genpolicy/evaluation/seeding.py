"""Repeatable sampling for stochastic policies, without touching the caller's RNG."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded_torch_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG (CPU, and ``device`` if CUDA) for the block, then restore the
    caller's state: stochastic policies sample repeatably without disturbing anyone else.
    Evaluation and videos both seed from their ``seed``, so a video of episode ``seed`` is
    drawn like the evaluation that ran it on one env."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield
