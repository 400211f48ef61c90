"""Transformer policies: a GPT over the observation history, and the Decision Transformer.

* ``gpt`` (:class:`GPTPolicy`): tokens are the ``To`` normalized observations (linear
  embedding + learned position embedding) run through a causal pre-LN transformer; the last
  token's output parameterizes a Gaussian mixture over whole ``[Tp, act_dim]`` action chunks,
  so one draw never mixes two ways of doing the task.
* ``dt`` (:class:`DTPolicy`, Chen et al. 2021): tokens ``(R_t, s_t, a_t)``
  interleaved over a context of ``K`` steps, each plus an embedding of the episode timestep;
  the output at ``s_t`` predicts ``a_t`` (tanh, MSE). It is conditioned on the return still
  to come, so a rollout needs the rewards: :meth:`DTPolicy.observe_reward`.

The trunk is a small hand-written pre-LN transformer (``F.scaled_dot_product_attention``),
causal by default, with optional key padding.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import distributions as D
from torch import nn

from genpolicy.models.base import Policy, PolicyConfig, register_policy
from genpolicy.models.nets import ChunkGMMHead


# ----------------------------------------------------------------------------- trunk
class SelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be a multiple of n_head ({n_head})")
        self.n_head = n_head
        self.dropout = dropout
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        """``x [B, T, C]``; ``allowed`` bool, broadcastable to ``[B, H, T, T]``: query may see key."""
        q, k, v = rearrange(self.qkv(x), "b t (three h d) -> three b h t d", three=3, h=self.n_head)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )
        return self.resid_drop(self.proj(rearrange(y, "b h t d -> b t (h d)")))


class Block(nn.Module):
    """Pre-LN transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = SelfAttention(n_embd, n_head, dropout)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), allowed)
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    """A stack of pre-LN blocks and a final LayerNorm; ``[B, T, C] -> [B, T, C]``.

    ``causal``: token ``i`` attends to tokens ``<= i`` only. ``key_padding_mask`` ``[B, T]``
    (True = padding): no token attends to a padding token, except a padding token to itself
    (so no attention row is empty); outputs at padding positions are meaningless.
    """

    def __init__(self, n_layer: int, n_embd: int, n_head: int, dropout: float = 0.0, causal: bool = True) -> None:
        super().__init__()
        self.causal = causal
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)

    def attention_mask(self, length: int, key_padding_mask: torch.Tensor | None, device) -> torch.Tensor | None:
        if not self.causal and key_padding_mask is None:
            return None
        eye = torch.eye(length, dtype=torch.bool, device=device)
        allowed = torch.ones(length, length, dtype=torch.bool, device=device)
        if self.causal:
            allowed = torch.tril(allowed)
        if key_padding_mask is not None:
            allowed = allowed & (~key_padding_mask[:, None, None, :] | eye)  # [B, 1, T, T]
        return allowed

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        allowed = self.attention_mask(x.shape[1], key_padding_mask, x.device)
        for block in self.blocks:
            x = block(x, allowed)
        return self.ln_f(x)


def init_gpt_weights(module: nn.Module) -> None:
    """GPT-2 initialisation: N(0, 0.02) weights, zero biases, unit LayerNorms."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def weight_decay_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups as in minGPT: decay the weights of Linear layers only (not biases,
    LayerNorms, embeddings or position tables)."""
    decay = {id(m.weight) for m in module.modules() if isinstance(m, nn.Linear)}
    params = [p for p in module.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if id(p) in decay], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in decay], "weight_decay": 0.0},
    ]


# --------------------------------------------------------------------------- GPT
@dataclass
class GPTPolicyConfig(PolicyConfig):
    obs_horizon: int = 4
    pred_horizon: int = 8
    action_horizon: int = 4
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.1
    num_modes: int = 8  # spare components cost little and avoid one broad one over two modes
    min_std: float = 1e-4


@register_policy("gpt")
class GPTPolicy(Policy):
    """Causal transformer over ``o_{t-To+1..t}``; a chunk-GMM over ``a_{t..t+Tp-1}`` from the last token.

    Control (``predict_chunk``) samples a mixture component and executes its mean;
    ``sample_chunk`` draws from the full mixture.
    """

    config_class = GPTPolicyConfig

    def __init__(self, config: GPTPolicyConfig) -> None:
        super().__init__(config)
        c = config
        self.obs_embed = nn.Linear(c.obs_dim, c.n_embd)
        self.pos_embed = nn.Parameter(torch.zeros(1, c.obs_horizon, c.n_embd))
        self.embed_drop = nn.Dropout(c.dropout)
        self.trunk = Transformer(c.n_layer, c.n_embd, c.n_head, c.dropout, causal=True)
        self.head = ChunkGMMHead(c.n_embd, c.pred_horizon * c.act_dim, c.num_modes, c.min_std)
        self.apply(init_gpt_weights)
        self.head.spread_means_()

    def features(self, obs_norm: torch.Tensor) -> torch.Tensor:
        """``[B, To, obs_dim]`` normalized -> per-token outputs ``[B, To, n_embd]`` (causal)."""
        tokens = self.obs_embed(obs_norm) + self.pos_embed[:, : obs_norm.shape[1]]
        return self.trunk(self.embed_drop(tokens))

    def distribution(self, obs_norm: torch.Tensor) -> D.MixtureSameFamily:
        return self.head(self.features(obs_norm)[:, -1])

    def loss(self, obs_norm: torch.Tensor, actions_norm: torch.Tensor) -> dict[str, torch.Tensor]:
        log_prob = self.distribution(obs_norm).log_prob(rearrange(actions_norm, "b t a -> b (t a)"))
        return {"loss": -log_prob.mean(), "log_prob": log_prob.mean().detach()}

    def _to_chunk(self, flat: torch.Tensor) -> torch.Tensor:
        chunk = rearrange(flat, "b (t a) -> b t a", t=self.config.pred_horizon)
        return self.action_normalizer.unnormalize(chunk)

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        features = self.features(self.obs_normalizer.normalize(obs_history))[:, -1]
        return self._to_chunk(self.head.sample_mode_mean(features))

    def sample_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        return self._to_chunk(self.distribution(self.obs_normalizer.normalize(obs_history)).sample())


# ------------------------------------------------------------- Decision Transformer
@dataclass
class DTPolicyConfig(PolicyConfig):
    """Decision Transformer settings. The base horizons stay 1 (one action per step); the
    context of ``context_len`` past steps is kept by the policy itself."""

    context_len: int = 20
    n_layer: int = 3
    n_head: int = 1
    n_embd: int = 64
    dropout: float = 0.1
    max_ep_len: int = 1000  # size of the timestep embedding table
    return_scale: float = 1000.0  # returns-to-go enter the model divided by this
    target_return: float = 0.0  # raw return asked for at the start of an evaluation episode
    action_norm: str = "minmax"  # tanh head: normalized actions live in [-1, 1]

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.obs_horizon != 1 or self.pred_horizon != 1 or self.action_horizon != 1:
            raise ValueError("Decision Transformer keeps its own context: obs/pred/action horizons must be 1")
        if self.return_scale <= 0:
            raise ValueError(f"return_scale must be > 0, got {self.return_scale}")


@register_policy("dt")
class DTPolicy(Policy):
    """Return-conditioned sequence model ``(R_1, s_1, a_1, ..., R_t, s_t) -> a_t``.

    Rollouts: ``act(obs)`` appends ``(R_t, s_t)`` to each env's context and returns ``a_t``;
    the caller then reports the rewards with ``observe_reward(r_t)``, which lowers the
    return-to-go of the next step (``R_{t+1} = R_t - r_t``). ``reset(mask)`` restarts the
    masked envs at ``R_1 = target_return`` (change it with ``set_target_return``). Without
    ``observe_reward`` the return-to-go stays at its target (a warning says so once).
    """

    config_class = DTPolicyConfig

    def __init__(self, config: DTPolicyConfig) -> None:
        super().__init__(config)
        c = config
        self.embed_timestep = nn.Embedding(c.max_ep_len, c.n_embd)
        self.embed_return = nn.Linear(1, c.n_embd)
        self.embed_state = nn.Linear(c.obs_dim, c.n_embd)
        self.embed_action = nn.Linear(c.act_dim, c.n_embd)
        # Stands in for action tokens hidden during training (``hide_actions``).
        self.hidden_action = nn.Parameter(torch.zeros(c.n_embd))
        self.embed_ln = nn.LayerNorm(c.n_embd)
        self.embed_drop = nn.Dropout(c.dropout)
        self.trunk = Transformer(c.n_layer, c.n_embd, c.n_head, c.dropout, causal=True)
        self.predict_action = nn.Sequential(nn.Linear(c.n_embd, c.act_dim), nn.Tanh())
        self.apply(init_gpt_weights)
        self._context: dict[str, torch.Tensor] | None = None
        self._reward_pending = False
        self._warned_no_reward = False

    # --------------------------------------------------------------- returns
    def scale_return(self, returns: torch.Tensor) -> torch.Tensor:
        return returns / self.config.return_scale

    def unscale_return(self, scaled: torch.Tensor) -> torch.Tensor:
        return scaled * self.config.return_scale

    def set_target_return(self, value: float) -> None:
        """Return asked for from the next (re)started episode on."""
        self.config.target_return = float(value)

    # --------------------------------------------------------------- model
    def forward(
        self,
        states: torch.Tensor,
        actions: torch.Tensor,
        returns_to_go: torch.Tensor,
        timesteps: torch.Tensor,
        padding: torch.Tensor | None = None,
        hide_actions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Normalized ``states [B, K, obs]``, ``actions [B, K, act]``, scaled ``returns_to_go
        [B, K]``, ``timesteps [B, K]`` long, ``padding [B, K]`` bool (True = pad) ->
        predicted normalized actions ``[B, K, act]``; ``a_k`` is read at token ``s_k``, so it
        sees ``R_1..R_k, s_1..s_k, a_1..a_{k-1}`` and never ``a_k`` itself. ``hide_actions
        [B, K]`` bool replaces those action tokens by a learned placeholder."""
        time = self.embed_timestep(timesteps.clamp(0, self.config.max_ep_len - 1))
        action_tokens = self.embed_action(actions)
        if hide_actions is not None:
            action_tokens = torch.where(hide_actions[..., None], self.hidden_action.to(action_tokens.dtype), action_tokens)
        tokens = torch.stack(
            [
                self.embed_return(returns_to_go[..., None]) + time,
                self.embed_state(states) + time,
                action_tokens + time,
            ],
            dim=2,
        )  # [B, K, 3, C]
        tokens = self.embed_ln(rearrange(tokens, "b k three c -> b (k three) c"))
        pad = None if padding is None else repeat(padding, "b k -> b (k three)", three=3)
        hidden = self.trunk(self.embed_drop(tokens), key_padding_mask=pad)
        state_tokens = rearrange(hidden, "b (k three) c -> b three k c", three=3)[:, 1]
        return self.predict_action(state_tokens)

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        """First action of a fresh episode from its first state (``[B, 1, obs]`` -> ``[B, 1, act]``)."""
        states = self.obs_normalizer.normalize(obs_history[:, -1:])
        batch = states.shape[0]
        actions = states.new_zeros(batch, 1, self.config.act_dim)
        returns = self.scale_return(states.new_full((batch, 1), self.config.target_return))
        timesteps = torch.zeros(batch, 1, dtype=torch.long, device=states.device)
        return self.action_normalizer.unnormalize(self(states, actions, returns, timesteps))

    # --------------------------------------------------------------- rollouts
    def reset(self, mask: np.ndarray | torch.Tensor | None = None) -> None:
        if mask is None or self._context is None:
            self._context = None
            self._reward_pending = False
            return
        mask = torch.as_tensor(np.asarray(mask), dtype=torch.bool, device=self.device)
        self._context["fresh"] |= mask

    @torch.no_grad()
    def observe_reward(self, rewards: np.ndarray | torch.Tensor) -> None:
        """Rewards ``[B]`` received for the actions just returned by ``act``."""
        if self._context is None:
            raise RuntimeError("observe_reward called before act")
        rewards = torch.as_tensor(np.asarray(rewards), dtype=torch.float32, device=self.device).reshape(-1)
        self._context["next_return"] -= rewards
        self._reward_pending = False

    @property
    def context(self) -> dict[str, torch.Tensor] | None:
        """The rollout context (raw units): ``states [B, K, obs]``, ``actions [B, K, act]``,
        ``returns_to_go [B, K]``, ``timesteps [B, K]``, ``length [B]`` (real steps, right-aligned)."""
        return self._context

    def _new_context(self, obs: torch.Tensor) -> dict[str, torch.Tensor]:
        c, batch = self.config, obs.shape[0]
        long = dict(dtype=torch.long, device=obs.device)
        return {
            "states": obs.new_zeros(batch, c.context_len, c.obs_dim),
            "actions": obs.new_zeros(batch, c.context_len, c.act_dim),
            "returns_to_go": obs.new_zeros(batch, c.context_len),
            "timesteps": torch.zeros(batch, c.context_len, **long),
            "length": torch.zeros(batch, **long),
            "next_return": obs.new_zeros(batch),
            "next_timestep": torch.zeros(batch, **long),
            "fresh": torch.ones(batch, dtype=torch.bool, device=obs.device),
        }

    def _step(self, obs: torch.Tensor) -> torch.Tensor:
        c = self.config
        if self._context is None or self._context["states"].shape[0] != obs.shape[0]:
            self._context = self._new_context(obs)
            self._reward_pending = False
        if self._reward_pending and not self._warned_no_reward:
            warnings.warn(
                "DTPolicy.act called again without observe_reward(rewards): the "
                "return-to-go is not being lowered by the rewards received",
                stacklevel=3,
            )
            self._warned_no_reward = True
        ctx = self._context
        fresh = ctx["fresh"]
        ctx["length"][fresh] = 0
        ctx["next_return"][fresh] = c.target_return
        ctx["next_timestep"][fresh] = 0
        fresh.zero_()

        # Shift the context one step left and append (R_t, s_t, a_t = 0 placeholder).
        for key in ("states", "actions", "returns_to_go", "timesteps"):
            ctx[key] = ctx[key].roll(-1, dims=1)
        ctx["states"][:, -1] = obs
        ctx["actions"][:, -1] = 0.0
        ctx["returns_to_go"][:, -1] = ctx["next_return"]
        ctx["timesteps"][:, -1] = ctx["next_timestep"]
        ctx["length"] = (ctx["length"] + 1).clamp(max=c.context_len)
        padding = torch.arange(c.context_len, device=obs.device) < (c.context_len - ctx["length"])[:, None]

        predicted = self(
            self.obs_normalizer.normalize(ctx["states"]),
            self.action_normalizer.normalize(ctx["actions"]),
            self.scale_return(ctx["returns_to_go"]),
            ctx["timesteps"],
            padding,
        )[:, -1]
        action = self._clip(self.action_normalizer.unnormalize(predicted))
        ctx["actions"][:, -1] = action
        ctx["next_timestep"] += 1
        self._reward_pending = True
        return action
