"""A held-out check that a skill policy produces the skill it is asked for.

Fresh-rollout accuracy (`genpolicy.evaluation.skills`) scores a policy with *its own*
discriminator, which was trained together with it and may agree with it for reasons that do not
generalize (co-adaptation), and it uses deterministic actions, so every rollout of a skill is
the same trajectory. This check removes both shortcuts:

1. every skill ``k`` is rolled out with **sampled** actions (the policy's own Gaussian, torch
   RNG seeded), from env seeds in a *training* set and, separately, a *held-out* set, so the two
   sets are different trajectories of the same commanded skills;
2. a **fresh** classifier (an MLP on the x-y positions, independent of the policy's
   discriminator) is trained on the training rollouts' states labelled with the commanded
   skill, and tested on the held-out rollouts.

Reported: per-state accuracy on the held-out rollouts (every state after the shared start:
the strict number, since the first steps of all skills sit next to each other at the start),
per-episode accuracy (the majority vote of an episode's states names the commanded skill) and
the policy's own discriminator's per-state accuracy on the same held-out rollouts. Chance is
``1 / K`` for all three. "Seeds" here are rollout (env + action-noise) seeds: skill indices of
separately *trained* policies are arbitrary permutations, so a classifier cannot transfer across
training seeds, and the check runs per trained policy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from genpolicy.evaluation.envs import resolve_env
from genpolicy.evaluation.skills import plane_of
from genpolicy.models.nets import mlp


@dataclass
class HoldoutConfig:
    """Rollout and classifier settings (defaults: 20 train and 10 held-out episodes per skill)."""

    train_episodes: int = 20  # per skill, env seeds train_seed .. train_seed + n - 1
    test_episodes: int = 10  # per skill, env seeds test_seed ..
    train_seed: int = 0
    test_seed: int = 100_000
    hidden_dims: tuple[int, ...] = (128, 128)
    epochs: int = 300  # full-batch Adam steps
    lr: float = 3e-3


@dataclass
class HoldoutReport:
    num_skills: int
    state_accuracy: float  # fresh classifier, held-out states
    episode_accuracy: float  # fresh classifier, majority vote per held-out episode
    own_discriminator_accuracy: float | None  # the policy's q on the same held-out states
    train_accuracy: float  # fresh classifier on its own training states (a fit check)
    per_skill_state_accuracy: list[float]
    train_states: int
    test_states: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def sampled_skill_rollouts(policy: Any, env: Any = None, episodes: int = 10, seed: int = 0
                           ) -> tuple[np.ndarray, np.ndarray]:
    """``(xy [K, E, T + 1, 2], skills [K])``: every skill ``k``, ``episodes`` episodes from env seeds
    ``seed + e``, actions *sampled* from the policy (`SkillPolicy.sample`, torch RNG seeded from
    ``seed``). Episodes run to the env's time limit; a terminated one is padded with its last state."""
    target = resolve_env(env, policy)
    xy_of, _, _ = plane_of(target)
    envs = [target.make_env() for _ in range(episodes)]
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(int(seed) + 7_919)
    try:
        out = []
        for k in range(policy.config.num_skills):
            obs = np.stack([env_i.reset(seed=int(seed) + e)[0] for e, env_i in enumerate(envs)])
            done = np.zeros(episodes, dtype=bool)
            states = [obs.copy()]
            while not done.all():
                actions = policy.sample(obs, 1, skill=k)[:, 0, 0].cpu().numpy()
                for e, env_i in enumerate(envs):
                    if done[e]:
                        continue
                    obs[e], _, terminated, truncated, _ = env_i.step(actions[e])
                    done[e] = terminated or truncated
                states.append(obs.copy())
            out.append(np.asarray(xy_of(np.stack(states, axis=1)), dtype=np.float32))  # [E, T + 1, 2]
        return np.stack(out), np.arange(policy.config.num_skills)
    finally:
        torch.random.set_rng_state(generator_state)
        for env_i in envs:
            env_i.close()


def _fit_classifier(x: np.ndarray, y: np.ndarray, num_classes: int, config: HoldoutConfig,
                    seed: int) -> torch.nn.Module:
    """A fresh MLP classifier on ``x [N, 2]`` -> ``y [N]`` (full-batch Adam, cross-entropy)."""
    torch.manual_seed(seed)
    net = mlp(x.shape[1], list(config.hidden_dims), num_classes)
    x_t, y_t = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
    optim = torch.optim.Adam(net.parameters(), lr=config.lr)
    for _ in range(config.epochs):
        loss = F.cross_entropy(net(x_t), y_t)
        optim.zero_grad()
        loss.backward()
        optim.step()
    return net.eval()


def _flatten(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[K, E, T + 1, 2]`` -> states after the start ``[K * E * T, 2]`` and their skills."""
    states = xy[:, :, 1:]
    labels = np.broadcast_to(np.arange(xy.shape[0])[:, None, None], states.shape[:3])
    return states.reshape(-1, 2), labels.reshape(-1)


def holdout_check(policy: Any, env: Any = None, config: HoldoutConfig | None = None) -> HoldoutReport:
    """Train a fresh classifier on sampled rollouts of one set of seeds, test it on another (module doc)."""
    config = config or HoldoutConfig()
    num_skills = int(policy.config.num_skills)
    train_xy, _ = sampled_skill_rollouts(policy, env, config.train_episodes, config.train_seed)
    test_xy, _ = sampled_skill_rollouts(policy, env, config.test_episodes, config.test_seed)
    x_train, y_train = _flatten(train_xy)
    x_test, y_test = _flatten(test_xy)
    net = _fit_classifier(x_train, y_train, num_skills, config, seed=config.train_seed)
    with torch.no_grad():
        train_pred = net(torch.as_tensor(x_train)).argmax(-1).numpy()
        test_pred = net(torch.as_tensor(x_test)).argmax(-1).numpy()
    per_episode = test_pred.reshape(test_xy.shape[0], test_xy.shape[1], -1)
    votes = np.array([[np.bincount(ep, minlength=num_skills).argmax() for ep in skill] for skill in per_episode])
    episode_accuracy = float((votes == np.arange(num_skills)[:, None]).mean())
    discriminator = getattr(policy, "discriminator", None)
    own = None
    if discriminator is not None:
        # q sees the env's own observation; on point-like tasks its x-y dims are the first two
        states = np.zeros((len(x_test), discriminator.state_dim), np.float32)
        states[:, :2] = x_test
        own = float((discriminator.classify(states) == y_test).mean()) if discriminator.state_dim == 2 else None
    hits = (test_pred == y_test).reshape(num_skills, -1)
    return HoldoutReport(num_skills, float((test_pred == y_test).mean()), episode_accuracy, own,
                         float((train_pred == y_train).mean()), hits.mean(1).tolist(), len(x_train), len(x_test))


__all__ = ["HoldoutConfig", "HoldoutReport", "holdout_check", "sampled_skill_rollouts"]
