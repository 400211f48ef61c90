"""Behaviour mixtures: which policy drives each episode of a D4RL-style suboptimal dataset.

Imitation is enough for expert data; offline RL has something to show on data whose episodes
are of mixed quality. ``--mix expert:0.2,noisy:0.5,random:0.3`` asks for 20 % of the episodes
by the noise-free scripted expert, 50 % by the expert under Gaussian action noise of std
``--noise`` (clipped to the action bounds), 30 % by uniform random actions. Fractions are of
episodes; counts are rounded by largest remainder so they add up to ``--episodes`` exactly, and
the order of the behaviours over the episodes is shuffled (seeded), so no behaviour owns a
block of reset seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from genpolicy.tasks.base import Expert, RandomExpert, Task

BEHAVIOURS = ("expert", "noisy", "random")


def parse_mix(mix: str | Mapping[str, float]) -> dict[str, float]:
    """``"expert:0.2,noisy:0.5,random:0.3"`` (or a mapping) -> fractions summing to 1."""
    if isinstance(mix, Mapping):
        pairs = [(str(k), v) for k, v in mix.items()]
    else:
        pairs = []
        for item in filter(None, (part.strip() for part in str(mix).split(","))):
            name, sep, value = item.partition(":")
            if not sep:
                raise ValueError(f"--mix expects NAME:FRACTION items like expert:0.2,noisy:0.5,random:0.3, got {item!r}")
            pairs.append((name.strip(), value))
    fractions: dict[str, float] = {}
    for name, value in pairs:
        if name not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {name!r} in --mix; known: {', '.join(BEHAVIOURS)}")
        if name in fractions:
            raise ValueError(f"behaviour {name!r} appears twice in --mix")
        try:
            fraction = float(value)
        except ValueError:
            raise ValueError(f"--mix fraction for {name!r} must be a number, got {value!r}") from None
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"--mix fraction for {name!r} must lie in [0, 1], got {fraction}")
        fractions[name] = fraction
    total = sum(fractions.values())
    if not fractions or abs(total - 1.0) > 1e-6:
        raise ValueError(f"--mix fractions must add up to 1, got {total:g} ({mix})")
    return fractions


def episode_counts(mix: Mapping[str, float], episodes: int) -> dict[str, int]:
    """Episodes per behaviour: ``fraction * episodes`` rounded by largest remainder (sum exact)."""
    exact = {name: fraction * episodes for name, fraction in mix.items()}
    counts = {name: int(np.floor(value)) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda name: (-(exact[name] - counts[name]), BEHAVIOURS.index(name)))
    for name in by_remainder[: episodes - sum(counts.values())]:
        counts[name] += 1
    return counts


def behaviour_schedule(mix: Mapping[str, float], episodes: int, seed: int) -> list[str]:
    """The behaviour of each episode, in a seeded random order."""
    schedule = [name for name, count in episode_counts(mix, episodes).items() for _ in range(count)]
    order = np.random.default_rng(seed).permutation(len(schedule))
    return [schedule[i] for i in order]


class ScheduledExpert:
    """Drives episode ``i`` with the behaviour ``schedule[i]`` (switched at each ``reset``)."""

    def __init__(self, experts: Mapping[str, Expert], schedule: list[str]) -> None:
        self.experts = dict(experts)
        self.schedule = list(schedule)
        self.episode = -1
        self.current: Expert | None = None

    def reset(self, obs: Any) -> None:
        self.episode += 1
        self.current = self.experts[self.schedule[self.episode]]
        self.current.reset(obs)

    def act(self, obs: Any) -> np.ndarray:
        assert self.current is not None, "reset() first"
        return self.current.act(obs)


def mixture_expert(task: Task, mix: Mapping[str, float], episodes: int, noise: float, seed: int,
                   action_space: Any) -> tuple[ScheduledExpert, list[str]]:
    """The mixed behaviour policy for ``episodes`` episodes of ``task``, and its schedule.

    Each behaviour has its own random stream (expert: ``seed``, noisy: ``seed + 1``, random:
    ``seed + 2``), so adding episodes of one behaviour does not change the others' actions.
    """
    if mix.get("noisy", 0) > 0 and noise <= 0:
        raise ValueError("noisy episodes in --mix need --noise > 0 (the std of their action noise)")
    experts: dict[str, Expert] = {}
    if "expert" in mix:
        experts["expert"] = task.make_expert(seed, 0.0)
    if "noisy" in mix:
        experts["noisy"] = task.make_expert(seed + 1, noise)
    if "random" in mix:
        experts["random"] = RandomExpert(action_space, seed + 2)
    schedule = behaviour_schedule(mix, episodes, seed)
    return ScheduledExpert(experts, schedule), schedule
