"""Diffusion policy: noising/denoising math, denoiser shapes, chunked execution, multimodality,
save/load determinism, EMA and exact resume.

Runs in well under a minute on two busy cores: the networks are tiny and training uses one
torch thread (GENPOLICY_THREADS=1, set in conftest.py).
"""

from __future__ import annotations

import math

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from genpolicy.config import build_config
from genpolicy.trainers.base import ema_decay_at
from genpolicy.trainers.runner import TrainingStopped
from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.models.base import load_policy
from genpolicy.models.denoisers import ConditionalUnet1D, MLPDenoiser, SinusoidalEmbedding
from genpolicy.models.diffusion import (
    DiffusionPolicy,
    DiffusionPolicyConfig,
    make_inference_scheduler,
)
from genpolicy.trainers import ALGORITHMS
from genpolicy.trainers.bc import BC, BCConfig
from genpolicy.trainers.diffusion import Diffusion, DiffusionConfig
from genpolicy.trainers.runner import fit

CENTRES = torch.tensor([[0.8, 0.8], [0.8, -0.8], [-0.8, 0.8], [-0.8, -0.8]])


def small_policy(**overrides) -> DiffusionPolicy:
    fields = dict(obs_dim=3, act_dim=2, denoiser="mlp", hidden_dims=[32, 32])
    fields.update(overrides)
    return DiffusionPolicy(DiffusionPolicyConfig(**fields)).eval()


def four_mode_dataset(n: int = 2048, seed: int = 0) -> OfflineDataset:
    """Actions from 4 Gaussians at (+-0.8, +-0.8), sigma 0.05; the observation is always 0."""
    g = torch.Generator().manual_seed(seed)
    actions = CENTRES[torch.randint(4, (n,), generator=g)] + 0.05 * torch.randn(n, 2, generator=g)
    obs = torch.zeros(n, 1)
    return OfflineDataset(
        observations=obs,
        actions=actions,
        rewards=torch.zeros(n),
        terminations=torch.zeros(n, dtype=torch.bool),
        truncations=torch.ones(n, dtype=torch.bool),
        next_observations=obs,
    )


# ----------------------------------------------------------------------- the math
def test_forward_noising_is_the_closed_form():
    policy = small_policy()
    abar = policy.noise_scheduler.alphas_cumprod
    x0 = torch.rand(64, 16, 2) * 2 - 1
    eps = torch.randn(64, 16, 2)
    t = torch.randint(0, 100, (64,))
    expected = abar[t].sqrt()[:, None, None] * x0 + (1 - abar[t]).sqrt()[:, None, None] * eps
    assert torch.equal(policy.noise_scheduler.add_noise(x0, eps, t), expected)
    # the reference schedule: 100 steps, squaredcos_cap_v2
    assert abar.shape == (100,) and abar[0] > 0.999 and abar[-1] < 1e-3


def test_loss_draws_noise_and_timesteps_from_the_generator():
    policy = small_policy().train()
    obs, actions = torch.randn(8, 2, 3), torch.rand(8, 16, 2) * 2 - 1
    loss = policy.loss(obs, actions, generator=torch.Generator().manual_seed(5))["loss"]
    g = torch.Generator().manual_seed(5)
    eps = torch.randn(actions.shape, generator=g)
    t = torch.randint(0, 100, (8,), generator=g)
    abar = policy.noise_scheduler.alphas_cumprod[t][:, None, None]
    noisy = abar.sqrt() * actions + (1 - abar).sqrt() * eps
    expected = (policy.denoiser(noisy, t, obs.reshape(8, 6)) - eps).square().mean()
    assert torch.equal(loss, expected)
    # an all-valid mask is the plain average
    all_valid = torch.ones(8, 16, dtype=torch.bool)
    again = policy.loss(obs, actions, generator=torch.Generator().manual_seed(5), valid=all_valid)["loss"]
    torch.testing.assert_close(again, loss)


def test_mask_padding_averages_over_real_chunk_steps_only():
    """``valid`` (what ``mask_padding=True`` passes) drops padded steps from the average."""
    policy = small_policy().train()
    obs, actions = torch.randn(8, 2, 3), torch.rand(8, 16, 2) * 2 - 1
    valid = torch.ones(8, 16, dtype=torch.bool)
    valid[:, 11:] = False  # the last 5 steps of every chunk run past the episode end
    valid[3, 4:] = False
    loss = policy.loss(obs, actions, generator=torch.Generator().manual_seed(5), valid=valid)["loss"]
    g = torch.Generator().manual_seed(5)
    eps = torch.randn(actions.shape, generator=g)
    t = torch.randint(0, 100, (8,), generator=g)
    abar = policy.noise_scheduler.alphas_cumprod[t][:, None, None]
    error = (policy.denoiser(abar.sqrt() * actions + (1 - abar).sqrt() * eps, t, obs.reshape(8, 6)) - eps).square()
    expected = error[valid].mean()  # mean over (real step, action dim) pairs
    torch.testing.assert_close(loss, expected)
    assert not torch.allclose(loss, error.mean())


class Oracle(nn.Module):
    """Returns the exact noise that turns the known clean chunk ``x0`` into ``x_t``."""

    def __init__(self, x0: torch.Tensor, alphas_cumprod: torch.Tensor) -> None:
        super().__init__()
        self.x0, self.abar = x0, alphas_cumprod.double()
        self.calls = 0

    def forward(self, sample, timestep, cond):
        self.calls += 1
        abar = self.abar[timestep.expand(sample.shape[0])][:, None, None]
        return ((sample.double() - abar.sqrt() * self.x0.double()) / (1 - abar).sqrt()).float()


@pytest.mark.parametrize("scheduler", ["ddim", "ddpm"])
def test_reverse_process_with_the_true_noise_recovers_the_sample(scheduler):
    policy = small_policy(inference_scheduler=scheduler, num_inference_steps=10)
    x0 = torch.rand(5, 16, 2) * 1.8 - 0.9
    policy.denoiser = Oracle(x0, policy.noise_scheduler.alphas_cumprod)
    recovered = policy.denoise(torch.zeros(5, 6), torch.randn(5, 16, 2))
    assert policy.denoiser.calls == 10
    torch.testing.assert_close(recovered, x0, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "scheduler, eta, steps, prediction",
    [("ddim", 0.0, 10, "epsilon"), ("ddim", 0.5, 7, "epsilon"), ("ddpm", 0.0, 100, "epsilon"), ("ddim", 0.0, 10, "sample")],
)
def test_cached_loop_matches_diffusers_step(scheduler, eta, steps, prediction):
    policy = small_policy(inference_scheduler=scheduler, eta=eta, num_inference_steps=steps, prediction_type=prediction)
    cond, noise = torch.randn(4, 6), 1.5 * torch.randn(4, 16, 2)
    with torch.no_grad():
        ours = policy.denoise(cond, noise, torch.Generator().manual_seed(3))
        reference = make_inference_scheduler(policy.config)
        generator, x = torch.Generator().manual_seed(3), noise
        for t in reference.timesteps:
            extra = {"eta": eta} if scheduler == "ddim" else {}
            x = reference.step(policy.denoiser(x, t, cond), t, x, generator=generator, **extra).prev_sample
    torch.testing.assert_close(ours, x, atol=1e-5, rtol=0)


# ------------------------------------------------------------------- denoisers
@pytest.mark.parametrize("batch", [1, 3, 5])
@pytest.mark.parametrize("horizon", [16, 7])
def test_denoiser_shapes_and_dtypes(batch, horizon):
    x, cond = torch.randn(batch, horizon, 2), torch.randn(batch, 6)
    unet = ConditionalUnet1D(act_dim=2, cond_dim=6, down_dims=(16, 32, 64), step_embed_dim=16)
    mlp = MLPDenoiser(act_dim=2, pred_horizon=horizon, cond_dim=6, hidden_dims=(32, 32))
    for net in (unet, mlp):
        for t in (torch.randint(0, 100, (batch,)), torch.tensor(7), 3):
            out = net(x, t, cond)
            assert out.shape == (batch, horizon, 2) and out.dtype == torch.float32
    assert unet.length_multiple == 4  # 7 is padded to 8 inside and cropped back


def test_step_embedding_is_the_reference_sinusoid():
    from diffusers.models.embeddings import get_timestep_embedding

    t = torch.arange(0, 100, 7)
    expected = get_timestep_embedding(t, 32, flip_sin_to_cos=False, downscale_freq_shift=1)
    torch.testing.assert_close(SinusoidalEmbedding(32)(t), expected)


def test_unet_rejects_widths_groupnorm_cannot_split():
    with pytest.raises(ValueError, match="divisible by n_groups"):
        ConditionalUnet1D(act_dim=2, cond_dim=4, down_dims=(12, 24))


def test_config_rejects_clipping_standardized_actions():
    with pytest.raises(ValueError, match="clip_sample"):
        DiffusionPolicyConfig(obs_dim=2, act_dim=2, action_norm="standard")


def test_policy_sample_and_act_shapes():
    policy = small_policy(pred_horizon=16, action_horizon=8)
    assert policy.sample(torch.randn(3, 3), 4).shape == (3, 4, 16, 2)
    assert policy.sample(torch.randn(3, 2, 3), 2).shape == (3, 2, 16, 2)
    assert policy.act(torch.randn(5, 3).numpy()).shape == (5, 2)


# ------------------------------------------------------------ chunked execution
def test_receding_horizon_calls_the_denoiser_once_per_chunk():
    policy = small_policy(obs_horizon=2, pred_horizon=16, action_horizon=8, num_inference_steps=10)
    chunks, forwards = [], []
    policy.denoiser.register_forward_hook(lambda module, args, out: forwards.append(args[0].shape[0]))
    original = policy.predict_chunk

    def recording(history):
        chunks.append(original(history))
        return chunks[-1]

    policy.predict_chunk = recording
    executed = [policy.act(torch.randn(3, 3).numpy()) for _ in range(16)]
    assert len(chunks) == 2  # steps 0 and 8
    assert forwards == [3] * 20  # 2 chunks x 10 DDIM steps, whole batch per call
    for step, action in enumerate(executed):  # the first Ta actions of each chunk, in order
        torch.testing.assert_close(torch.as_tensor(action), chunks[step // 8][:, step % 8])
    policy.act(torch.randn(3, 3).numpy())  # step 16: a new chunk
    assert len(chunks) == 3
    policy.act(torch.randn(3, 3).numpy())  # step 17: from the queue
    assert len(chunks) == 3
    policy.reset()
    policy.act(torch.randn(3, 3).numpy())  # reset forgets the queue
    assert len(chunks) == 4


def test_set_inference_changes_steps_and_scheduler():
    policy = small_policy()
    calls = []
    policy.denoiser.register_forward_hook(lambda *args: calls.append(1))
    policy.set_inference(num_inference_steps=4)
    policy.sample(torch.randn(2, 3), 1)
    assert len(calls) == 4
    policy.set_inference(num_inference_steps=100, scheduler="ddpm")
    policy.sample(torch.randn(2, 3), 1)
    assert len(calls) == 104 and policy.config.inference_scheduler == "ddpm"
    with pytest.raises(ValueError, match="num_inference_steps"):
        policy.set_inference(num_inference_steps=101)
    assert policy.config.num_inference_steps == 100


# ------------------------------------------------------------------ learning
@pytest.fixture(scope="module")
def toy_diffusion(tmp_path_factory):
    config = build_config(DiffusionConfig, {
        "policy": {"denoiser": "mlp", "hidden_dims": [256, 256, 256], "obs_horizon": 1, "pred_horizon": 1,
                   "action_horizon": 1},
        "steps": 1000, "updates_per_step": 100, "updates_per_epoch": 1000, "batch_size": 256,
        "optim": {"lr": 3e-3, "schedule": "constant", "warmup_steps": 0},
    })
    torch.manual_seed(0)  # initial weights independent of the test order
    algo = Diffusion(config, four_mode_dataset())
    run_dir = tmp_path_factory.mktemp("toy_diffusion")
    fit(algo, run_dir, progress_bar=False)
    return algo, run_dir


def fractions_near_centres(samples: torch.Tensor) -> torch.Tensor:
    return (torch.cdist(samples, CENTRES) < 0.3).float().mean(0)


def test_diffusion_covers_all_four_modes_while_mse_bc_averages(toy_diffusion, tmp_path):
    algo, _ = toy_diffusion
    policy = algo.export_policy()
    assert policy is algo.policy_ema
    torch.manual_seed(0)
    samples = policy.sample(torch.zeros(1, 1), 256)[0, :, 0]  # [256, 2]
    fractions = fractions_near_centres(samples)
    assert (fractions >= 0.10).all(), fractions

    torch.manual_seed(0)
    bc_config = build_config(BCConfig, {"head": "mse", "policy.hidden_dims": [64, 64], "steps": 300,
                                        "updates_per_step": 100, "updates_per_epoch": 300, "optim.lr": 3e-3})
    bc = BC(bc_config, four_mode_dataset())
    fit(bc, tmp_path / "bc", progress_bar=False)
    bc_samples = bc.export_policy().sample(torch.zeros(1, 1), 256)[0, :, 0]
    assert bc_samples.norm(dim=-1).max() < 0.3  # the mean of the four modes
    assert fractions_near_centres(bc_samples).sum() == 0


def test_save_load_gives_identical_samples_under_the_same_seed(toy_diffusion, tmp_path):
    policy = toy_diffusion[0].export_policy()
    obs = torch.zeros(2, 1)
    torch.manual_seed(7)
    first = policy.sample(obs, 16)
    torch.manual_seed(7)
    assert torch.equal(policy.sample(obs, 16), first)
    loaded = load_policy(policy.save(tmp_path / "policy"))
    assert isinstance(loaded, DiffusionPolicy) and loaded.config == policy.config
    torch.manual_seed(7)
    assert torch.equal(loaded.sample(obs, 16), first)
    assert not torch.equal(loaded.sample(obs, 16), first)  # the global stream moved on
    # an explicit generator gives the same draws without touching the global RNG
    policy.inference_generator = torch.Generator().manual_seed(1)
    loaded.inference_generator = torch.Generator().manual_seed(1)
    assert torch.equal(policy.sample(obs, 4), loaded.sample(obs, 4))
    policy.inference_generator = None


def test_ema_is_one_lerp_with_the_scheduled_decay():
    config = build_config(DiffusionConfig, {"policy.denoiser": "mlp", "policy.hidden_dims": [16], "ema_decay": 0.999})
    algo = Diffusion(config, four_mode_dataset(64))
    assert algo.policy_ema is not None and algo.export_policy() is algo.policy_ema
    with torch.no_grad():
        for p in algo.policy.parameters():
            p.add_(torch.randn_like(p))
    before = [p.clone() for p in algo.policy_ema.parameters()]
    step = 7
    decay = ema_decay_at(0.999, step)
    assert decay == pytest.approx(min(0.999, 1 - (1 + step) ** -0.75))
    algo._update_averages(step)
    for old, new, online in zip(before, algo.policy_ema.parameters(), algo.policy.parameters()):
        torch.testing.assert_close(new, torch.lerp(old, online, 1 - decay), atol=0, rtol=0)
    assert ema_decay_at(0.999, 10**6) == 0.999  # the cap
    assert math.isclose(ema_decay_at(0.999, 0), 0.0)


class StopAfterFirstEpoch(Callback):
    """Simulates an interrupted run: stop once the first epoch's checkpoint is written."""

    def on_train_epoch_end(self, trainer, module):
        trainer.should_stop = True


def test_resume_from_checkpoint_is_exact(tmp_path):
    def make():
        torch.manual_seed(0)  # same initial weights
        config = build_config(DiffusionConfig, {
            "policy": {"denoiser": "mlp", "hidden_dims": [16], "obs_horizon": 2, "pred_horizon": 4, "action_horizon": 2},
            "steps": 40, "updates_per_step": 10, "updates_per_epoch": 20, "batch_size": 16,
            "optim": {"lr": 1e-3, "schedule": "cosine", "warmup_steps": 10},  # the schedule is resumed too
        })
        return Diffusion(config, four_mode_dataset(256))

    straight = fit(make(), tmp_path / "straight", progress_bar=False)
    interrupted = make()
    with pytest.raises(TrainingStopped, match="stopped at update 20"):
        fit(interrupted, tmp_path / "resumed", progress_bar=False, callbacks=[StopAfterFirstEpoch()])
    assert int(interrupted.num_updates) == 20
    resumed = fit(make(), tmp_path / "resumed", progress_bar=False)
    assert int(resumed.num_updates) == 40
    for a, b in zip(straight.policy.state_dict().values(), resumed.policy.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(straight.policy_ema.state_dict().values(), resumed.policy_ema.state_dict().values()):
        assert torch.equal(a, b)


def test_registered_algorithms_build_their_denoiser():
    data = four_mode_dataset(64)
    for name, kind in (("diffusion", ConditionalUnet1D), ("diffusion-mlp", MLPDenoiser)):
        cls, config_cls, overrides = ALGORITHMS[name]
        algo = cls(build_config(config_cls, {**overrides, "policy.down_dims": [8, 16], "policy.hidden_dims": [8]}), data)
        assert isinstance(algo.policy.denoiser, kind)
        assert algo.policy.config.action_norm == "minmax"
