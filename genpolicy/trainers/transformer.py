"""Transformer algorithms: a GPT behaviour-cloning policy and the Decision Transformer.

GPT (chunk-GMM head):

    for each update:
        (o_{t-To+1..t}, a_{t..t+Tp-1}) ~ D
        h = CausalTransformer(embed(o) + pos)[-1]
        loss = -log GMM(a | h)                    # mixture over whole chunks

Decision Transformer (Chen et al. 2021):

    for each update:
        (R_k, s_k, a_k, t_k)_{k=1..K} ~ D        # K-step windows ending at a random step,
                                                 # left-padded at episode starts
        hide ~ Bernoulli(action_dropout)         # per context action token
        a_hat = DT(R / return_scale, s, a, t)    # causal over (R, s, a) tokens, pads masked,
                                                 # hidden action tokens -> learned placeholder
        loss = mean over real steps of ||a_hat_k - a_k||^2

Both: AdamW with decoupled weight decay on Linear weights only, linear warm-up of the
learning rate, gradient-norm clipping (``grad_clip``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.sources import Sources
from genpolicy.datasets.samplers import WindowSampler
from genpolicy.models.transformers import DTPolicyConfig, GPTPolicyConfig, weight_decay_groups
from genpolicy.trainers.base import OptimizerConfig
from genpolicy.trainers.policy_algorithm import PolicyAlgoConfig, PolicyAlgorithm


def transformer_optim(**changes) -> OptimizerConfig:
    """minGPT's AdamW: betas (0.9, 0.95), decay on Linear weights only, linear warm-up."""
    settings = dict(lr=1e-3, weight_decay=0.1, betas=[0.9, 0.95], grad_clip=1.0, warmup_steps=200)
    return OptimizerConfig(**{**settings, **changes})


class _TransformerAlgorithm(PolicyAlgorithm):
    def parameters_of(self, name: str):
        return weight_decay_groups(getattr(self, name), self.config.optim.weight_decay)


# --------------------------------------------------------------------------- GPT
@dataclass
class GPTConfig(PolicyAlgoConfig):
    optim: OptimizerConfig = field(default_factory=transformer_optim)
    policy: GPTPolicyConfig = field(default_factory=GPTPolicyConfig)


class GPTPolicyTrainer(_TransformerAlgorithm):
    def __init__(self, config: GPTConfig, sources: Sources | OfflineDataset) -> None:
        super().__init__(config, sources)
        dataset = self.dataset
        self.install_policy("gpt", dataset)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        obs, actions = self.normalized(batch)
        losses = self.policy.loss(obs, actions)  # -log GMM(a | transformer(o)[-1])
        self.step("policy", losses["loss"])
        return {k: v.detach() for k, v in losses.items()}


# ------------------------------------------------------------ Decision Transformer
@dataclass
class DTConfig(PolicyAlgoConfig):
    batch_size: int = 64
    optim: OptimizerConfig = field(
        default_factory=lambda: transformer_optim(weight_decay=1e-4, warmup_steps=1000, grad_clip=0.25)
    )
    # None = from the dataset: the largest |episode return| (scale), the best episode return
    # (target), the longest episode or the task's step limit (timestep table).
    return_scale: float | None = None
    target_return: float | None = None
    max_ep_len: int | None = None
    # Probability of hiding each context action token during training. With smooth or
    # bang-bang experts a_{t-1} predicts a_t almost everywhere, and a model that reads it
    # copies it and lags at every switch (the copycat problem of history-conditioned
    # imitation); hiding tokens makes the state and return carry the decision.
    action_dropout: float = 0.0
    policy: DTPolicyConfig = field(default_factory=DTPolicyConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.action_dropout < 1.0:
            raise ValueError(f"action_dropout must be in [0, 1), got {self.action_dropout}")


def dataset_return_settings(dataset: OfflineDataset, config: DTConfig) -> dict[str, float | int]:
    """``return_scale``, ``target_return`` and ``max_ep_len`` for a dataset (config values win)."""
    returns = dataset.episode_returns()
    lengths = dataset.episode_bounds().diff(dim=1).reshape(-1)
    scale = config.return_scale if config.return_scale is not None else float(returns.abs().max())
    target = config.target_return if config.target_return is not None else float(returns.max())
    longest = max(int(lengths.max()), int(dataset.metadata.get("max_episode_steps") or 0))
    return {
        "return_scale": scale if scale > 0 else 1.0,
        "target_return": target,
        "max_ep_len": config.max_ep_len if config.max_ep_len is not None else longest,
    }


class DecisionTransformer(_TransformerAlgorithm):
    def __init__(self, config: DTConfig, sources: Sources | OfflineDataset) -> None:
        super().__init__(config, sources)
        dataset = self.dataset
        self.install_policy("dt", dataset, action_norm="minmax", **dataset_return_settings(dataset, config))

    def make_sampler(self) -> WindowSampler:
        k = self.policy.config.context_len
        return WindowSampler(
            self.dataset, self.config.batch_size, obs_horizon=k, pred_horizon=k, action_offset=-(k - 1), returns_to_go=True
        )

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        policy = self.policy
        states, actions = self.normalized(batch)
        returns = policy.scale_return(batch["returns_to_go"])
        real = ~batch["obs_is_pad"]  # the same steps as ~action_is_pad for this window layout

        hide = None
        if self.config.action_dropout > 0:
            draw = torch.rand(real.shape, generator=self.generator, device=real.device)
            hide = draw < self.config.action_dropout
        predicted = policy(states, actions, returns, batch["timesteps"], padding=~real, hide_actions=hide)
        loss = F.mse_loss(predicted[real], actions[real])

        self.step("policy", loss)
        return {"loss": loss.detach()}


__all__ = ["DTConfig", "DecisionTransformer", "GPTConfig", "GPTPolicyTrainer", "transformer_optim"]
