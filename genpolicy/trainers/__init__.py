"""One LightningModule per algorithm, plus the shared base and the run helper.

Adding an algorithm: one file here (its config dataclass, its networks in ``__init__``, its
``update``) and one line in ``ALGORITHMS`` (or `register_algorithm` from outside the package).
"""

from __future__ import annotations

from genpolicy.trainers.airl import AIRL, AIRLConfig
from genpolicy.trainers.base import AlgoConfig, Algorithm
from genpolicy.trainers.bc import BC, BCConfig
from genpolicy.trainers.cql import CQL, CQLConfig
from genpolicy.trainers.dagger import DAgger, DAggerConfig
from genpolicy.trainers.diayn import DIAYN, DIAYNConfig
from genpolicy.trainers.diffusion_ql import DiffusionQL, DiffusionQLConfig
from genpolicy.trainers.gail import GAIL, GAILConfig
from genpolicy.trainers.iql import IQL, IQLConfig
from genpolicy.trainers.metra import METRA, METRAConfig
from genpolicy.trainers.offline_diayn import OfflineDIAYN, OfflineDIAYNConfig
from genpolicy.trainers.opal import OPAL, OPALConfig
from genpolicy.trainers.sac import BRO, BRO_FAST, SAC, SACConfig
from genpolicy.trainers.skill_dqn import SkillDQN, SkillDQNConfig
from genpolicy.trainers.td3bc import TD3BC, TD3BCConfig
from genpolicy.trainers.diffusion import Diffusion, DiffusionConfig
from genpolicy.trainers.runner import fit, limit_threads, make_trainer
from genpolicy.trainers.transformer import DecisionTransformer, DTConfig, GPTConfig, GPTPolicyTrainer
from genpolicy.trainers.vae import VAE, VAEConfig

# name -> (algorithm class, config class, config overrides that define the variant)
ALGORITHMS: dict[str, tuple[type[Algorithm], type[AlgoConfig], dict]] = {
    "bc": (BC, BCConfig, {"head": "mse"}),
    "bc-gaussian": (BC, BCConfig, {"head": "gaussian"}),
    "bc-gmm": (BC, BCConfig, {"head": "gmm"}),
    "diffusion": (Diffusion, DiffusionConfig, {"policy.denoiser": "unet"}),
    "diffusion-mlp": (Diffusion, DiffusionConfig, {"policy.denoiser": "mlp"}),
    "vae": (VAE, VAEConfig, {}),
    "gpt": (GPTPolicyTrainer, GPTConfig, {}),
    "dt": (DecisionTransformer, DTConfig, {}),
    # offline RL (need rewards and terminations)
    "iql": (IQL, IQLConfig, {}),
    "cql": (CQL, CQLConfig, {}),
    "td3bc": (TD3BC, TD3BCConfig, {}),
    "diffusion-ql": (DiffusionQL, DiffusionQLConfig, {}),
    # online RL (collect their own data: fit ALGO --env ENV)
    "sac": (SAC, SACConfig, {}),
    "bro": (SAC, SACConfig, BRO),
    "bro-fast": (SAC, SACConfig, BRO_FAST),
    # skill discovery without a reward (fit diayn --env ENV --set skills=K)
    "diayn": (DIAYN, DIAYNConfig, {}),
    "metra": (METRA, METRAConfig, {}),  # distance-maximizing skills (temporal-distance representation)
    "offline-diayn": (OfflineDIAYN, OfflineDIAYNConfig, {}),  # DIAYN-style skills from a dataset, on IQL (fit offline-diayn --data D)
    "skill-dqn": (SkillDQN, SkillDQNConfig, {}),  # Double DQN choosing among K skills (fit skill-dqn --wrap SKILL_OPTIONS_SPEC)
    "opal": (OPAL, OPALConfig, {}),  # skills from offline data: a segment VAE (fit opal --data DATASET --set skills=K)
    # adversarial imitation (fit ALGO --data EXPERT --env ENV): DAC-style GAIL on SAC / BRO
    "gail": (GAIL, GAILConfig, {}),
    "gail-bro": (GAIL, GAILConfig, BRO),
    "airl": (AIRL, AIRLConfig, {}),  # + a reward that is kept: RUN/reward, load_reward(RUN)
    # interactive imitation (fit dagger --env TASK [--data DEMOS] --set expert=task|RUN_DIR|module:function)
    "dagger": (DAgger, DAggerConfig, {}),
}


def register_algorithm(name: str, algo_class: type[Algorithm], config_class: type[AlgoConfig],
                       variant: dict | None = None) -> None:
    """Make ``name`` trainable by `genpolicy.train` and `genpolicy fit` (``variant``: config
    overrides that define it, as ``bro`` is SAC with BRO's settings)."""
    ALGORITHMS[name] = (algo_class, config_class, dict(variant or {}))


def get_algorithm(name: str) -> tuple[type[Algorithm], type[AlgoConfig], dict]:
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(sorted(ALGORITHMS))}")
    return ALGORITHMS[name]


__all__ = [
    "AIRL", "AIRLConfig", "ALGORITHMS", "AlgoConfig", "Algorithm", "BC", "BCConfig", "CQL", "CQLConfig", "DAgger", "DAggerConfig", "DIAYN", "DIAYNConfig", "DiffusionQL", "DiffusionQLConfig", "GAIL", "GAILConfig", "IQL",
    "IQLConfig", "OPAL", "OPALConfig", "OfflineDIAYN", "OfflineDIAYNConfig", "TD3BC", "TD3BCConfig", "DTConfig", "DecisionTransformer", "Diffusion", "DiffusionConfig",
    "GPTConfig", "GPTPolicyTrainer", "SAC", "SACConfig", "VAE", "VAEConfig", "fit", "get_algorithm", "limit_threads", "register_algorithm",
    "make_trainer",
]
