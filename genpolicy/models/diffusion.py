"""Diffusion Policy (Chi et al., 2023): a denoising diffusion model over action chunks.

Training (``loss``), in normalized units, with diffusers' ``DDPMScheduler`` for the forward
process::

    eps ~ N(0, I),  t ~ U{0..K-1}
    a_t  = sqrt(abar_t) a_0 + sqrt(1 - abar_t) eps
    loss = || eps_theta(a_t, t, o) - eps ||^2          (prediction_type "epsilon")

Sampling (``sample_chunk``): start from N(0, I) and run the reverse process of diffusers'
``DDIMScheduler`` (10 steps, eta = 0 by default) or ``DDPMScheduler``. The schedulers are built
from the config (they are deterministic, so nothing of them is saved) and ``set_timesteps`` is
called once; their per-step coefficients are cached as Python floats so the loop is the
denoiser plus 3-4 small tensor ops per step, with no host syncs (``_ReverseStep``; it matches
``scheduler.step`` to float rounding, which the tests check).

Randomness: training noise and timesteps come from the trainer's ``torch.Generator`` (exact
resume); sampling uses ``generator`` if given, else ``self.inference_generator`` if set, else
torch's global RNG, so ``torch.manual_seed(s)`` before two ``sample`` calls gives the same draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import torch
from einops import rearrange
from torch import nn

from genpolicy.models.base import Policy, PolicyConfig, register_policy
from genpolicy.models.denoisers import ConditionalUnet1D, MLPDenoiser

if TYPE_CHECKING:  # diffusers takes ~1 s to import: only on first use, not with genpolicy.models
    from diffusers import DDIMScheduler, DDPMScheduler

_STEP_EMBED_DEFAULT = {"unet": 256, "mlp": 16}


@dataclass
class DiffusionPolicyConfig(PolicyConfig):
    """Reference Diffusion Policy defaults. Observations: mean/std (robust to a few outliers in
    the data, which min/max is not); actions: min/max to [-1, 1], the range the sampler clips
    its clean-chunk estimates to (``clip_sample``)."""

    obs_horizon: int = 2
    pred_horizon: int = 16
    action_horizon: int = 8
    obs_norm: str = "standard"
    action_norm: str = "minmax"
    # denoiser
    denoiser: Literal["unet", "mlp"] = "unet"
    down_dims: list[int] | None = field(default_factory=lambda: [256, 512, 1024])  # unet; None: reference
    kernel_size: int = 5  # unet
    n_groups: int = 8  # unet
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256, 256])  # mlp
    layer_norm: bool = False  # mlp
    step_embed_dim: int | None = None  # None: 256 for the unet, 16 for the mlp
    # diffusion process
    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"  # a diffusers schedule name, or "vp" (Diffusion-QL)
    prediction_type: Literal["epsilon", "sample"] = "epsilon"
    clip_sample: bool = True
    # sampling
    inference_scheduler: Literal["ddim", "ddpm"] = "ddim"
    num_inference_steps: int = 10
    eta: float = 0.0  # ddim only: 0 deterministic given the initial noise, 1 ~ DDPM

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.denoiser not in _STEP_EMBED_DEFAULT:
            raise ValueError(f"unknown denoiser {self.denoiser!r}; choose 'unet' or 'mlp'")
        if self.prediction_type not in ("epsilon", "sample"):
            raise ValueError(f"prediction_type must be 'epsilon' or 'sample', got {self.prediction_type!r}")
        if self.inference_scheduler not in ("ddim", "ddpm"):
            raise ValueError(f"inference_scheduler must be 'ddim' or 'ddpm', got {self.inference_scheduler!r}")
        if not 1 <= self.num_inference_steps <= self.num_train_timesteps:
            raise ValueError(
                f"need 1 <= num_inference_steps ({self.num_inference_steps}) <= "
                f"num_train_timesteps ({self.num_train_timesteps})"
            )
        if self.clip_sample and self.action_norm != "minmax":
            raise ValueError(
                "clip_sample clips normalized actions to [-1, 1], which is only their range with "
                f"action_norm='minmax' (got {self.action_norm!r}); set clip_sample=False otherwise"
            )


class _ReverseStep:
    """One cached reverse step ``x_t -> x_prev`` in the form shared by DDIM and DDPM::

        x0  = clip((x - sqrt(1 - abar_t) eps) / sqrt(abar_t))        (or the model's x0)
        x'  = c_x0 * x0 + c_x * x + c_eps * eps + sigma * z,   z ~ N(0, I) if draws_noise

    DDIM: c_x0 = sqrt(abar_prev), c_x = 0, c_eps = sqrt(1 - abar_prev - sigma^2), sigma = eta * std.
    DDPM: c_x0, c_x = the posterior mean coefficients, c_eps = 0, sigma = sqrt(fixed_small var).
    Coefficients are computed with the scheduler's own float32 tensors, then kept as floats.
    """

    __slots__ = ("timestep", "sqrt_abar", "sqrt_one_minus_abar", "c_x0", "c_x", "c_eps", "sigma", "draws_noise")

    def __init__(self, timestep: torch.Tensor, sqrt_abar, sqrt_one_minus_abar, c_x0, c_x, c_eps, sigma, draws_noise):
        self.timestep = timestep  # 0-d long tensor on the sampling device
        self.sqrt_abar = float(sqrt_abar)
        self.sqrt_one_minus_abar = float(sqrt_one_minus_abar)
        self.c_x0, self.c_x, self.c_eps, self.sigma = float(c_x0), float(c_x), float(c_eps), float(sigma)
        self.draws_noise = bool(draws_noise)


def vp_betas(num_steps: int, beta_min: float = 0.1, beta_max: float = 10.0) -> list[float]:
    """Discretized variance-preserving SDE (Song et al. 2021), the schedule Diffusion-QL uses
    with very few steps (T=5): ``alpha_t = exp(-beta_min/T - (beta_max - beta_min)(2t - 1)/(2 T^2))``."""
    t = torch.arange(1, num_steps + 1, dtype=torch.float64)
    alphas = torch.exp(-beta_min / num_steps - 0.5 * (beta_max - beta_min) * (2 * t - 1) / num_steps**2)
    return (1 - alphas).tolist()


def _schedule_kwargs(config: DiffusionPolicyConfig) -> dict:
    """diffusers takes named schedules; "vp" is passed as explicit betas."""
    if config.beta_schedule == "vp":
        return {"trained_betas": vp_betas(config.num_train_timesteps)}
    return {"beta_schedule": config.beta_schedule}


def make_train_scheduler(config: DiffusionPolicyConfig) -> "DDPMScheduler":
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=config.num_train_timesteps,
        clip_sample=config.clip_sample,
        prediction_type=config.prediction_type,
        **_schedule_kwargs(config),
    )


def make_inference_scheduler(config: DiffusionPolicyConfig) -> "DDIMScheduler | DDPMScheduler":
    """The diffusers scheduler the sampling loop follows, with ``set_timesteps`` already called."""
    from diffusers import DDIMScheduler

    if config.inference_scheduler == "ddim":
        scheduler = DDIMScheduler(
            num_train_timesteps=config.num_train_timesteps,
            **_schedule_kwargs(config),
            clip_sample=config.clip_sample,
            prediction_type=config.prediction_type,
            set_alpha_to_one=True,
            steps_offset=0,
        )
    else:
        scheduler = make_train_scheduler(config)
    scheduler.set_timesteps(config.num_inference_steps)
    return scheduler


def reverse_plan(config: DiffusionPolicyConfig, device: torch.device | str = "cpu") -> list[_ReverseStep]:
    """The cached reverse steps for ``config``'s inference scheduler (see `_ReverseStep`)."""
    scheduler = make_inference_scheduler(config)
    abar = scheduler.alphas_cumprod  # float32, like scheduler.step
    one = torch.tensor(1.0)
    timesteps = [int(t) for t in scheduler.timesteps]
    plan = []
    for i, t in enumerate(timesteps):
        a_t = abar[t]
        if config.inference_scheduler == "ddim":
            prev = t - config.num_train_timesteps // config.num_inference_steps
            a_prev = abar[prev] if prev >= 0 else scheduler.final_alpha_cumprod
            variance = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
            std = config.eta * variance**0.5
            c_x0, c_x, c_eps = a_prev**0.5, 0.0, (1 - a_prev - std**2) ** 0.5
            sigma, draws_noise = std, config.eta > 0
        else:
            prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
            a_prev = abar[prev] if prev >= 0 else one
            alpha_t = a_t / a_prev
            beta_t = 1 - alpha_t
            c_x0 = a_prev**0.5 * beta_t / (1 - a_t)
            c_x = alpha_t**0.5 * (1 - a_prev) / (1 - a_t)
            c_eps = 0.0
            variance = torch.clamp((1 - a_prev) / (1 - a_t) * beta_t, min=1e-20)
            sigma, draws_noise = variance**0.5, t > 0
        step_t = torch.tensor(t, dtype=torch.long, device=device)
        plan.append(_ReverseStep(step_t, a_t**0.5, (1 - a_t) ** 0.5, c_x0, c_x, c_eps, sigma, draws_noise))
    return plan


@register_policy("diffusion")
class DiffusionPolicy(Policy):
    """Denoising diffusion over normalized action chunks ``[Tp, act_dim]`` given ``To`` observations."""

    config_class = DiffusionPolicyConfig

    def __init__(self, config: DiffusionPolicyConfig) -> None:
        super().__init__(config)
        cond_dim = config.obs_horizon * config.obs_dim
        step_dim = config.step_embed_dim or _STEP_EMBED_DEFAULT[config.denoiser]
        if config.denoiser == "unet":
            self.denoiser: nn.Module = ConditionalUnet1D(
                config.act_dim, cond_dim, config.down_dims or [256, 512, 1024], config.kernel_size, config.n_groups, step_dim
            )
        else:
            self.denoiser = MLPDenoiser(
                config.act_dim, config.pred_horizon, cond_dim, config.hidden_dims, step_dim, config.layer_norm
            )
        self.noise_scheduler = make_train_scheduler(config)
        # Optional torch.Generator for sampling; None -> torch's global RNG.
        self.inference_generator: torch.Generator | None = None
        self._plan: list[_ReverseStep] | None = None
        self._plan_device: torch.device | None = None

    # ---------------------------------------------------------------- training
    def condition(self, obs_norm: torch.Tensor) -> torch.Tensor:
        """``[B, To, obs_dim]`` normalized observations -> the denoiser's ``cond`` ``[B, To*obs_dim]``."""
        return rearrange(obs_norm, "b t d -> b (t d)")

    def loss(
        self,
        obs_norm: torch.Tensor,
        actions_norm: torch.Tensor,
        generator: torch.Generator | None = None,
        valid: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Denoising loss on normalized ``[B, To, obs]`` / ``[B, Tp, act]``.

        Noise and timesteps are drawn from ``generator`` (the trainer's, so a resumed run is
        exact). ``valid`` ``[B, Tp]`` (optional) drops padded chunk steps from the average.
        """
        batch = actions_norm.shape[0]
        noise = torch.randn(
            actions_norm.shape, generator=generator, device=actions_norm.device, dtype=actions_norm.dtype
        )
        timesteps = torch.randint(
            0, self.config.num_train_timesteps, (batch,), generator=generator, device=actions_norm.device
        )
        noisy = self.noise_scheduler.add_noise(actions_norm, noise, timesteps)
        prediction = self.denoiser(noisy, timesteps, self.condition(obs_norm))
        target = noise if self.config.prediction_type == "epsilon" else actions_norm
        error = (prediction - target).square()
        if valid is None:
            loss = error.mean()
        else:
            weight = valid.to(error.dtype)[..., None]
            loss = (error * weight).sum() / (weight.sum() * error.shape[-1]).clamp(min=1.0)
        return {"loss": loss}

    # ---------------------------------------------------------------- sampling
    def set_inference(
        self, num_inference_steps: int | None = None, scheduler: str | None = None, eta: float | None = None
    ) -> "DiffusionPolicy":
        """Change how chunks are sampled (steps, "ddim"/"ddpm", eta); the config records it."""
        changes = {"num_inference_steps": num_inference_steps, "inference_scheduler": scheduler, "eta": eta}
        # replace() validates before anything changes (a bad value leaves the policy as it was)
        self.config = replace(self.config, **{k: v for k, v in changes.items() if v is not None})
        self._plan = None
        return self

    def reverse_steps(self, device: torch.device) -> list[_ReverseStep]:
        if self._plan is None or self._plan_device != device:
            self._plan = reverse_plan(self.config, device)
            self._plan_device = device
        return self._plan

    def _randn(self, shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if generator is None or generator.device == like.device:
            return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
        return torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)

    def denoise(
        self, cond: torch.Tensor, noise: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Run the cached reverse process from ``noise`` ``[B, Tp, act]`` -> normalized chunk.

        Runs in the caller's grad mode (``sample_chunk`` wraps it in ``no_grad``; a caller that
        needs gradients through sampling, as Diffusion-QL does, can call it directly).
        """
        cfg = self.config
        x = noise
        for step in self.reverse_steps(x.device):
            out = self.denoiser(x, step.timestep, cond)
            if cfg.prediction_type == "epsilon":
                # x0 = clip((x - s1 eps) / s2) = clip(x - s1 eps, -s2, s2) / s2, so the step is
                # 3-4 small ops: y = x - s1 eps; clamp; scale; + c_eps eps (+ c_x x).
                y = torch.sub(x, out, alpha=step.sqrt_one_minus_abar)
                if cfg.clip_sample:
                    y = y.clamp_(-step.sqrt_abar, step.sqrt_abar)
                x_prev = y.mul_(step.c_x0 / step.sqrt_abar)
                if step.c_eps:
                    x_prev = x_prev.add_(out, alpha=step.c_eps)
            else:  # the model predicts the clean chunk
                x0 = out.clamp(-1.0, 1.0) if cfg.clip_sample else out
                x_prev = x0.mul(step.c_x0)
                if step.c_eps:  # eps implied by the *unclipped* prediction, as in diffusers
                    eps = torch.sub(x, out, alpha=step.sqrt_abar).div_(step.sqrt_one_minus_abar)
                    x_prev = x_prev.add_(eps, alpha=step.c_eps)
            if step.c_x:
                x_prev = x_prev.add_(x, alpha=step.c_x)
            if step.draws_noise:
                x_prev = x_prev.add_(self._randn(x.shape, x, generator), alpha=step.sigma)
            x = x_prev
        return x

    @torch.no_grad()
    def sample_chunk(self, obs_history: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[B, To, obs_dim]`` raw -> one sampled chunk ``[B, Tp, act_dim]`` raw."""
        cfg = self.config
        generator = generator if generator is not None else self.inference_generator
        cond = self.condition(self.obs_normalizer.normalize(obs_history))
        noise = self._randn((obs_history.shape[0], cfg.pred_horizon, cfg.act_dim), cond, generator)
        return self.action_normalizer.unnormalize(self.denoise(cond, noise, generator))

    def predict_chunk(self, obs_history: torch.Tensor) -> torch.Tensor:
        # A diffusion policy acts by sampling: the draw *is* the action (no mean to take).
        return self.sample_chunk(obs_history)


__all__ = ["DiffusionPolicy", "DiffusionPolicyConfig", "make_inference_scheduler", "make_train_scheduler", "reverse_plan"]
