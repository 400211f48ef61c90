"""Env wrappers by name, so a run can record how its env was wrapped and rebuild it.

A wrapper is named by a spec, a plain JSON-able dict ``{"name": "absorbing", **kwargs}`` (or
just the name). The collector builds its env as ``apply_wrappers(make_env(), specs)``; the
specs go into the run's config and the exported policy's metadata (``env_wrappers``), and
evaluation (`genpolicy.evaluation.envs.resolve_env`) applies the same specs, so a policy
trained on a wrapped env evaluates on the same wrapping without extra flags.

Registered here:

* ``absorbing`` (`AbsorbingState`): DAC's absorbing states (Kostrikov et al., 2019) for
  adversarial imitation. A termination leads to an absorbing state instead of ending the
  episode there: the observation gains one flag entry (0 normally, 1 in the absorbing state,
  whose other entries are 0), the terminal step returns the absorbing observation with
  ``terminated=False``, and the following step (any action, env reward 0) returns it again
  and ends the episode as a *truncation*. A learner that bootstraps through truncations then
  learns the absorbing state's value from its own reward (a discriminator's), instead of the
  implicit value 0 that makes a "survive" or "die early" bias. Returns are unchanged (the
  absorbing step's env reward is 0); terminated episodes are one step longer.

* ``append-x`` (`AppendBodyX`): a MuJoCo body's root x position (``data.qpos[0]``) appended to
  the observation. HalfCheetah, Hopper, Walker2d and Ant leave it out by default, so neither a
  policy nor a skill discriminator can tell where the body *is*; DIAYN's "x-y prior" and
  METRA's representation on MuJoCo bodies need it (``discriminator.dims`` /
  ``representation.dims`` then index it: it is the last entry before a skill's).

New wrappers register with `register_wrapper(name, factory)`; a factory takes the env and the
spec's other keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import gymnasium as gym
import numpy as np

WrapperSpec = Mapping[str, Any]


class AbsorbingState(gym.Wrapper):
    """See the module doc: ``obs -> [obs, 0]``; a termination -> ``[0, ..., 0, 1]`` twice."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"wrapper 'absorbing' needs a flat Box observation space, got {space}")
        low = np.append(space.low.astype(np.float32), np.float32(0.0))
        high = np.append(space.high.astype(np.float32), np.float32(1.0))
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self._absorbing = False

    def observation(self, obs: Any) -> np.ndarray:
        return np.append(np.asarray(obs, dtype=np.float32), np.float32(0.0))

    def absorbing_observation(self) -> np.ndarray:
        obs = np.zeros(self.observation_space.shape, dtype=np.float32)
        obs[-1] = 1.0
        return obs

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        self._absorbing = False
        obs, info = self.env.reset(**kwargs)
        return self.observation(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._absorbing:  # the absorbing state's own step: it loops to itself, then the episode ends
            return self.absorbing_observation(), 0.0, False, True, {"absorbing": True}
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated:
            self._absorbing = True
            return self.absorbing_observation(), reward, False, False, {**info, "absorbing": True}
        return self.observation(obs), reward, False, truncated, info


WRAPPERS: dict[str, Callable[..., gym.Env]] = {"absorbing": AbsorbingState}


def register_wrapper(name: str, factory: Callable[..., gym.Env]) -> None:
    """Make ``{"name": name, **kwargs}`` buildable as ``factory(env, **kwargs)``."""
    WRAPPERS[name] = factory


def normalize_specs(specs: Sequence[WrapperSpec | str] | None) -> list[dict[str, Any]]:
    """Specs as a list of dicts with a known ``name`` (the form runs and policies record)."""
    out = []
    for index, spec in enumerate(specs or []):
        spec = {"name": spec} if isinstance(spec, str) else dict(spec)
        name = spec.get("name")
        if name not in WRAPPERS:
            raise ValueError(f"env wrapper {index}: unknown name {name!r}; known: {', '.join(sorted(WRAPPERS))}")
        out.append(spec)
    return out


def apply_wrappers(env: gym.Env, specs: Sequence[WrapperSpec | str] | None) -> gym.Env:
    """``env`` wrapped by each spec in order (the first spec is the innermost wrapper)."""
    for spec in normalize_specs(specs):
        kwargs = {key: value for key, value in spec.items() if key != "name"}
        env = WRAPPERS[spec["name"]](env, **kwargs)
    return env


class AppendBodyX(gym.ObservationWrapper):
    """``obs -> [obs, x]`` with ``x`` the root's x position of a MuJoCo body (module doc)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"wrapper 'append-x' needs a flat Box observation space, got {space}")
        data = getattr(env.unwrapped, "data", None)
        if data is None or not hasattr(data, "qpos"):
            raise ValueError(f"wrapper 'append-x' needs a MuJoCo env (unwrapped.data.qpos); {env.unwrapped!r} has none")
        low = np.concatenate([space.low.astype(np.float32), [-np.inf]]).astype(np.float32)
        high = np.concatenate([space.high.astype(np.float32), [np.inf]]).astype(np.float32)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)

    def observation(self, obs: Any) -> np.ndarray:
        x = float(self.env.unwrapped.data.qpos[0])
        return np.concatenate([np.asarray(obs, dtype=np.float32).reshape(-1), [x]]).astype(np.float32)


register_wrapper("append-x", AppendBodyX)


def wrapped_maker(make_env: Callable[[], gym.Env], specs: Sequence[WrapperSpec | str] | None) -> Callable[[], gym.Env]:
    """A ``make_env`` that wraps what ``make_env`` builds (``make_env`` itself without specs)."""
    specs = normalize_specs(specs)
    if not specs:
        return make_env
    return lambda **kwargs: apply_wrappers(make_env(**kwargs), specs)  # kwargs: e.g. render_mode


__all__ = ["AbsorbingState", "AppendBodyX", "WRAPPERS", "apply_wrappers", "normalize_specs", "register_wrapper", "wrapped_maker"]
