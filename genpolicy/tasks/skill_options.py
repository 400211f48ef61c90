"""The ``skill-options`` wrapper: a frozen skill policy as the action space of a high-level learner.

Hierarchical use of discovered skills (DIAYN §4.2, "using skills for hierarchical RL"): a
high-level policy chooses one of K skills, the frozen skill policy executes it for ``every``
low-level steps (k = 10 by default), and the high-level policy is trained on the summed env
reward. As an env wrapper (spec ``{"name": "skill-options", "policy": DIR, "every": 10}``) the
hierarchy needs nothing from the learner: the run records the spec, evaluation rebuilds it,
and any continuous-action learner on the core (SAC here) works on top.

* action: ``Box(-1, 1, (K,))``, one score per skill; the executed skill is the **argmax**. A
  continuous relaxation of the discrete choice, so the core's SAC applies unchanged (the Gaussian
  actor explores over skills through its noise; the critic learns Q of the chosen skill through
  the scores that pick it). A discrete learner would be the textbook fit; this keeps one learner.
* observation: the wrapped env's own; the skill policy acts on its first ``obs_dim`` entries
  (a point2d skill policy on ``[x, y]`` of ``[x, y, goal_x, goal_y]``), deterministic actions.
* one wrapper step = up to ``every`` env steps: rewards summed, stops early at a termination or
  truncation; ``info["success"]`` is True if any inner step succeeded, ``info["env_steps"]``
  counts the inner steps (so env-step budgets compare with a flat learner's honestly) and
  ``info["skill"]`` is the executed skill.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from genpolicy.tasks.wrappers import register_wrapper

OPTIONS_WRAPPER = "skill-options"


class SkillOptions(gym.Wrapper):
    """See the module doc: action = K skill scores, argmax runs that skill for ``every`` steps."""

    def __init__(self, env: gym.Env, policy: str | Any, every: int = 10) -> None:
        super().__init__(env)
        if every < 1:
            raise ValueError(f"wrapper 'skill-options': every must be >= 1, got {every}")
        if isinstance(policy, (str, Path)):
            from genpolicy.models.base import load_policy

            policy = load_policy(str(policy))
        if not hasattr(policy, "use_skill"):
            raise ValueError(f"wrapper 'skill-options' needs a skill-conditioned policy, got {type(policy).__name__}")
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or space.shape[0] < policy.config.obs_dim:
            raise ValueError(f"wrapper 'skill-options': the skill policy reads {policy.config.obs_dim} observation "
                             f"entries, the env has {space}")
        self.skills, self.every = policy.eval(), int(every)
        self.num_skills, self.skill_obs_dim = int(policy.config.num_skills), int(policy.config.obs_dim)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(self.num_skills,), dtype=np.float32)
        self._obs: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs = np.asarray(obs, dtype=np.float32)
        return obs, info

    def skill_of(self, action: Any) -> int:
        return int(np.argmax(np.asarray(action, dtype=np.float64).reshape(self.num_skills)))

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        skill = self.skill_of(action)
        total, success, steps = 0.0, False, 0
        terminated = truncated = False
        info: dict[str, Any] = {}
        obs = self._obs
        while steps < self.every and not (terminated or truncated):
            low = self.skills.act(obs[None, :self.skill_obs_dim], skill=skill)[0]
            obs, reward, terminated, truncated, info = self.env.step(low)
            obs = np.asarray(obs, dtype=np.float32)
            total, steps = total + float(reward), steps + 1
            success = success or bool(info.get("success", info.get("is_success", False)))
        self._obs = obs
        return obs, total, bool(terminated), bool(truncated), {**info, "success": success, "env_steps": steps,
                                                                "skill": skill}


register_wrapper(OPTIONS_WRAPPER, SkillOptions)

__all__ = ["OPTIONS_WRAPPER", "SkillOptions"]
