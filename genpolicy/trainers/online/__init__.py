"""Online learners: the env loop inside Lightning, the replay-fed core, SAC and BRO."""

from __future__ import annotations

from genpolicy.trainers.online.core import OnlineAlgorithm, OnlineConfig
from genpolicy.trainers.online.env_loop import EnvLoop, make_online_envs
from genpolicy.trainers.online.rewards import EnvReward, RewardSource, make_reward_source
from genpolicy.trainers.online.sac import BRO, BRO_FAST, SAC, SACConfig

__all__ = ["BRO", "BRO_FAST", "EnvLoop", "EnvReward", "OnlineAlgorithm", "OnlineConfig", "RewardSource", "SAC",
           "SACConfig", "make_online_envs", "make_reward_source"]
