"""Issue 10 §4 and §6: a stand-alone policy loads from a run directory without the data layer,
and training paths that had no test (DT action dropout, diffusion ``prediction_type="sample"``,
``mask_padding=True``, gradients through ``DiffusionPolicy.denoise``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from genpolicy.config import build_config
from genpolicy.models import load_policy
from genpolicy.models.diffusion import DiffusionPolicy, DiffusionPolicyConfig
from genpolicy.trainers import fit, get_algorithm
from tests.conftest import make_dataset


def tiny(name: str, steps: int, dataset=None, **values):
    """Algorithm ``name`` with a tiny config (dotted keys reach nested configs)."""
    algo_class, config_class, variant = get_algorithm(name)
    config = build_config(config_class, {**variant, "steps": steps, "updates_per_step": 10,
                                         "updates_per_epoch": max(10, steps), **values})
    torch.manual_seed(0)
    return algo_class(config, dataset if dataset is not None else make_dataset(num_episodes=6, length=12))


# ------------------------------------------------------------------- loading policies
def test_load_policy_accepts_a_run_directory(tmp_path):
    algo = fit(tiny("bc", 20, **{"policy.hidden_dims": [16]}), tmp_path / "run", progress_bar=False)
    from_run = load_policy(tmp_path / "run")
    from_policy_dir = load_policy(tmp_path / "run" / "policy")
    obs = torch.randn(4, 3).numpy()
    expected = algo.export_policy().eval().act(obs)
    assert (from_run.act(obs) == expected).all() and (from_policy_dir.act(obs) == expected).all()


def test_load_policy_refuses_other_directories_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved policy .* nor a run directory with policy/"):
        load_policy(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"algo": "BC", "config": {}}))  # a run's config, no policy
    with pytest.raises(FileNotFoundError, match="nor a run directory"):
        load_policy(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(FileNotFoundError, match="has not finished; run `genpolicy fit` again"):
        load_policy(tmp_path)


def test_importing_models_does_not_import_the_data_layer():
    alone = subprocess.run([sys.executable, "-c", "import sys, genpolicy.models; print(sorted(m for m in "
                            "('h5py', 'gymnasium', 'minari', 'lightning') if m in sys.modules))"],
                           capture_output=True, text=True, check=True)
    assert alone.stdout.strip() == "[]"
    # the old import path still works and is the same class
    from genpolicy.datasets.normalizers import Normalizer as old_path
    from genpolicy.models.normalizers import Normalizer

    assert old_path is Normalizer


# ------------------------------------------------------------ untested training paths
def test_dt_action_dropout_hides_context_actions_during_training(tmp_path):
    seen: list[torch.Tensor | None] = []

    def record(module, args, kwargs):
        seen.append(kwargs.get("hide_actions"))

    dt = tiny("dt", 30, batch_size=8, action_dropout=0.6, **{"policy.context_len": 4, "policy.n_layer": 1,
                                                           "policy.n_embd": 16, "policy.n_head": 2})
    dt.policy.register_forward_pre_hook(record, with_kwargs=True)
    fit(dt, tmp_path / "dropout", progress_bar=False)
    assert len(seen) == 30 and all(hide is not None and hide.shape == (8, 4) for hide in seen)
    fraction = torch.stack(seen).float().mean().item()
    assert 0.5 < fraction < 0.7  # Bernoulli(0.6) per context action token, 960 draws
    assert int(dt.num_updates) == 30 and all(torch.isfinite(p).all() for p in dt.policy.parameters())

    plain = tiny("dt", 10, batch_size=8, **{"policy.context_len": 4, "policy.n_layer": 1, "policy.n_embd": 16, "policy.n_head": 2})
    seen.clear()
    plain.policy.register_forward_pre_hook(record, with_kwargs=True)
    fit(plain, tmp_path / "plain", progress_bar=False)
    assert seen and all(hide is None for hide in seen)


def test_diffusion_sample_prediction_regresses_the_clean_chunk():
    policy = DiffusionPolicy(DiffusionPolicyConfig(obs_dim=3, act_dim=2, denoiser="mlp", hidden_dims=[32, 32],
                                                   prediction_type="sample")).train()
    obs, actions = torch.randn(8, 2, 3), torch.rand(8, 16, 2) * 2 - 1
    loss = policy.loss(obs, actions, generator=torch.Generator().manual_seed(3))["loss"]
    g = torch.Generator().manual_seed(3)
    eps = torch.randn(actions.shape, generator=g)
    t = torch.randint(0, 100, (8,), generator=g)
    abar = policy.noise_scheduler.alphas_cumprod[t][:, None, None]
    prediction = policy.denoiser(abar.sqrt() * actions + (1 - abar).sqrt() * eps, t, obs.reshape(8, 6))
    torch.testing.assert_close(loss, (prediction - actions).square().mean())  # target: the clean chunk, not eps


def test_diffusion_trains_with_sample_prediction(tmp_path):
    dataset = make_dataset(num_episodes=6, length=12)
    values = {"policy.denoiser": "mlp", "policy.hidden_dims": [64, 64], "policy.prediction_type": "sample",
              "policy.num_inference_steps": 5, "batch_size": 64, "optim.lr": 3e-3, "optim.warmup_steps": 0}
    algo = tiny("diffusion-mlp", 300, dataset, **values)

    def loss_on_fixed_draw() -> float:
        batch = algo.sample_batch()
        return algo.policy.loss(*algo.normalized(batch), generator=torch.Generator().manual_seed(0))["loss"].item()

    start = loss_on_fixed_draw()
    fit(algo, tmp_path, progress_bar=False)
    end = loss_on_fixed_draw()
    assert end < 0.5 * start, (start, end)
    chunks = load_policy(tmp_path).sample(dataset.observations[:4].numpy(), 3)
    assert chunks.shape[:2] == (4, 3) and torch.isfinite(torch.as_tensor(chunks)).all()


def test_mask_padding_passes_the_padding_mask_to_the_loss():
    dataset = make_dataset(num_episodes=3, length=6)  # short episodes: many chunks run past the end
    values = {"policy.denoiser": "mlp", "policy.hidden_dims": [16], "policy.pred_horizon": 8, "policy.action_horizon": 4}
    for mask_padding in (True, False):
        algo = tiny("diffusion-mlp", 10, dataset, mask_padding=mask_padding, **values)
        seen = []
        original = algo.policy.loss
        algo.policy.loss = lambda *args, valid=None, **kwargs: seen.append(valid) or original(*args, valid=valid, **kwargs)
        batch = algo.sample_batch()
        algo.step = lambda name, loss: None  # exercise `update` without an optimizer
        algo.update(batch)
        if mask_padding:
            assert torch.equal(seen[0], ~batch["action_is_pad"]) and not bool(seen[0].all())
        else:
            assert seen[0] is None


def test_gradients_flow_through_denoise():
    """Diffusion-QL backpropagates a critic through sampling: ``denoise`` must be differentiable
    in the observation condition and in the denoiser's weights, exactly (gradcheck in float64)."""
    torch.manual_seed(0)
    config = DiffusionPolicyConfig(obs_dim=3, act_dim=2, pred_horizon=4, action_horizon=2, denoiser="mlp",
                                   hidden_dims=[16], num_inference_steps=3, clip_sample=False)
    policy = DiffusionPolicy(config).double()
    noise = torch.randn(2, 4, 2, dtype=torch.float64)
    cond = torch.randn(2, config.obs_horizon * 3, dtype=torch.float64, requires_grad=True)  # To observations
    assert torch.autograd.gradcheck(lambda c: policy.denoise(c, noise), (cond,))
    policy.zero_grad()
    policy.denoise(cond.detach(), noise).square().sum().backward()
    grads = [p.grad for p in policy.denoiser.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
