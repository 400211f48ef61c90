"""CVAE, GPT and Decision Transformer policies: shapes, math, masks, rollouts, learning, saving."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genpolicy.config import build_config
from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.models import build_policy, load_policy
from genpolicy.models.cvae import gaussian_kl, reconstruction_loss
from genpolicy.trainers import ALGORITHMS, fit
from genpolicy.trainers.transformer import DecisionTransformer, DTConfig, GPTConfig, GPTPolicyTrainer, dataset_return_settings
from genpolicy.trainers.vae import VAE, VAEConfig

OBS, ACT = 3, 2
CENTRES = torch.tensor([[0.8, 0.8], [0.8, -0.8], [-0.8, 0.8], [-0.8, -0.8]])

SMALL = {
    "vae": dict(obs_horizon=2, pred_horizon=4, action_horizon=2, hidden_dims=[32, 32], latent_dim=4),
    "vae-transformer": dict(
        obs_horizon=2, pred_horizon=4, action_horizon=2, latent_dim=4, decoder="transformer", n_layer=1, n_embd=16, n_head=2
    ),
    "gpt": dict(obs_horizon=3, pred_horizon=4, action_horizon=2, n_layer=2, n_embd=16, n_head=2, num_modes=3),
    "dt": dict(context_len=5, n_layer=2, n_embd=16, n_head=2, max_ep_len=50, return_scale=10.0, target_return=7.0),
}


def small_policy(kind: str):
    name = "vae" if kind.startswith("vae") else kind
    torch.manual_seed(0)
    policy = build_policy(name, dict(obs_dim=OBS, act_dim=ACT, action_low=[-1.0, -1.0], action_high=[1.0, 1.0], **SMALL[kind]))
    return policy.eval()


def four_mode_toy(n: int = 2048) -> OfflineDataset:
    """Constant observation; 2-D actions from 4 equally likely Gaussians at (+-0.8, +-0.8), sigma 0.05."""
    g = torch.Generator().manual_seed(0)
    actions = CENTRES[torch.randint(4, (n,), generator=g)] + 0.05 * torch.randn(n, 2, generator=g)
    obs = torch.zeros(n, 2)
    return OfflineDataset(obs, actions, torch.zeros(n), torch.ones(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool), obs)


def episodic_data(episodes: int = 6, length: int = 12) -> OfflineDataset:
    g = torch.Generator().manual_seed(1)
    n = episodes * length
    ends = torch.zeros(n, dtype=torch.bool)
    ends[length - 1 :: length] = True
    obs = torch.randn(n, OBS, generator=g)
    return OfflineDataset(
        obs, torch.rand(n, ACT, generator=g) * 2 - 1, torch.rand(n, generator=g), ends, torch.zeros(n, dtype=torch.bool), obs + 0.1
    )


def train(algo_cls, config, dataset, run_dir):
    torch.manual_seed(config.seed)
    algo = algo_cls(config, dataset)
    fit(algo, run_dir, resume=False, progress_bar=False)
    return algo


# ----------------------------------------------------------------------- shapes
@pytest.mark.parametrize("kind", ["vae", "vae-transformer", "gpt", "dt"])
def test_sample_and_act_shapes(kind):
    policy = small_policy(kind)
    tp = policy.config.pred_horizon
    obs = torch.randn(5, OBS)
    samples = policy.sample(obs, 7)
    assert samples.shape == (5, 7, tp, ACT) and samples.dtype == torch.float32
    assert samples.abs().max() <= 1.0  # clipped to the action bounds
    history = torch.randn(5, policy.config.obs_horizon, OBS)
    assert policy.sample(history, 2).shape == (5, 2, tp, ACT)
    actions = policy.act(obs.numpy())
    assert actions.shape == (5, ACT) and actions.dtype == np.float32
    assert policy.act(obs[0].numpy()).shape == (ACT,)


def test_algorithms_registered():
    assert {"vae", "gpt", "dt"} <= set(ALGORITHMS)
    assert ALGORITHMS["vae"][0] is VAE and ALGORITHMS["gpt"][0] is GPTPolicyTrainer and ALGORITHMS["dt"][0] is DecisionTransformer


# ------------------------------------------------------------------------- CVAE
def test_kl_matches_hand_formula():
    mean = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]])
    # dim 1: 0.5 * (1 + 1 - 1 - 0) = 0.5; dim 2: 0.5 * (0 + 4 - 1 - log 4)
    expected = torch.tensor([0.5 + 0.5 * (3.0 - math.log(4.0)), 0.0])
    torch.testing.assert_close(gaussian_kl(mean, logvar), expected)
    mean, logvar = torch.randn(4, 6), torch.randn(4, 6)
    reference = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)
    ).sum(-1)
    torch.testing.assert_close(gaussian_kl(mean, logvar), reference)


def test_reconstruction_loss_sums_over_chunk_and_skips_padding():
    prediction, target = torch.zeros(2, 3, 2), torch.ones(2, 3, 2)
    torch.testing.assert_close(reconstruction_loss(prediction, 2 * target, "l2"), torch.full((2,), 24.0))
    is_pad = torch.tensor([[False, False, True], [False, False, False]])
    torch.testing.assert_close(reconstruction_loss(prediction, target, "l1", is_pad), torch.tensor([4.0, 6.0]))


def test_vae_inference_modes():
    policy = small_policy("vae")
    history = torch.randn(1, 2, OBS).expand(16, -1, -1)
    assert policy.predict_chunk(history).std(0).max() > 1e-4  # z ~ prior: varies per call
    policy.config.inference = "mean"
    assert policy.predict_chunk(history).std(0).max() < 1e-6  # ACT: z = 0


# -------------------------------------------------------------------------- GPT
def test_gpt_is_causal():
    policy = small_policy("gpt")
    tokens = torch.randn(2, 3, OBS)
    changed = tokens.clone()
    changed[:, 2] += 1.0
    before, after = policy.features(tokens), policy.features(changed)
    torch.testing.assert_close(before[:, :2], after[:, :2])
    assert not torch.allclose(before[:, 2], after[:, 2])


# --------------------------------------------------------------------------- DT
def dt_inputs(batch: int = 3, k: int = 5):
    g = torch.Generator().manual_seed(2)
    return (
        torch.randn(batch, k, OBS, generator=g),
        torch.rand(batch, k, ACT, generator=g) * 2 - 1,
        torch.rand(batch, k, generator=g),
        torch.arange(k).repeat(batch, 1) + 3,
    )


def test_dt_padding_does_not_change_real_tokens():
    policy = small_policy("dt")
    states, actions, returns, timesteps = dt_inputs()
    padding = torch.zeros(3, 5, dtype=torch.bool)
    padding[0, :2] = True  # left padding, as at an episode start
    padding[1, :4] = True
    out = policy(states, actions, returns, timesteps, padding)
    # Garbage in the padded slots changes nothing at the real ones...
    noisy = [x.clone() for x in (states, actions, returns)]
    for x in noisy:
        x[padding] = 100.0 * torch.randn_like(x[padding])
    out_noisy = policy(*noisy, timesteps, padding)
    torch.testing.assert_close(out[~padding], out_noisy[~padding])
    # ...and the real steps give what they give without any padding at all.
    alone = policy(states[:1, 2:], actions[:1, 2:], returns[:1, 2:], timesteps[:1, 2:])
    torch.testing.assert_close(out[0, 2:], alone[0])
    assert torch.isfinite(out).all()


def test_dt_predicts_each_action_without_seeing_it():
    policy = small_policy("dt")
    states, actions, returns, timesteps = dt_inputs()
    changed = actions.clone()
    changed[:, 3] += 0.5
    out, out_changed = policy(states, actions, returns, timesteps), policy(states, changed, returns, timesteps)
    torch.testing.assert_close(out[:, :4], out_changed[:, :4])


def test_dt_hidden_action_tokens_are_ignored():
    policy = small_policy("dt")
    states, actions, returns, timesteps = dt_inputs()
    hide = torch.zeros(3, 5, dtype=torch.bool)
    hide[:, 1] = True
    changed = actions.clone()
    changed[:, 1] += 0.7
    out = policy(states, actions, returns, timesteps, hide_actions=hide)
    torch.testing.assert_close(out, policy(states, changed, returns, timesteps, hide_actions=hide))
    assert not torch.allclose(out[:, 2:], policy(states, actions, returns, timesteps)[:, 2:])
    with pytest.raises(ValueError, match="action_dropout"):
        DTConfig(action_dropout=1.0)


def test_dt_return_scaling_round_trips_and_comes_from_the_data():
    policy = small_policy("dt")
    returns = torch.tensor([-1234.5, 0.0, 7.25])
    torch.testing.assert_close(policy.unscale_return(policy.scale_return(returns)), returns)
    torch.testing.assert_close(policy.scale_return(returns), returns / 10.0)
    data = episodic_data()
    settings = dataset_return_settings(data, DTConfig())
    episode_returns = data.episode_returns()
    assert settings["return_scale"] == pytest.approx(float(episode_returns.abs().max()))
    assert settings["target_return"] == pytest.approx(float(episode_returns.max()))
    assert settings["max_ep_len"] == 12
    assert dataset_return_settings(data, DTConfig(return_scale=5.0, target_return=1.0))["return_scale"] == 5.0


def test_dt_rollout_feeds_rewards():
    policy = small_policy("dt")
    obs = torch.randn(2, OBS).numpy()
    first = policy.act(obs)
    policy.observe_reward(np.array([0.5, 2.0]))
    policy.act(obs)
    ctx = policy.context
    torch.testing.assert_close(ctx["returns_to_go"][:, -2:], torch.tensor([[7.0, 6.5], [7.0, 5.0]]))
    assert ctx["timesteps"][:, -2:].tolist() == [[0, 1], [0, 1]]
    assert ctx["length"].tolist() == [2, 2]
    torch.testing.assert_close(ctx["actions"][:, -2], torch.as_tensor(first))
    # Restarting env 1 gives it a fresh context and the full target again.
    policy.observe_reward(np.array([1.0, 1.0]))
    policy.reset(np.array([False, True]))
    policy.act(obs)
    assert ctx["length"].tolist() == [3, 1]
    torch.testing.assert_close(policy.context["returns_to_go"][:, -1], torch.tensor([5.5, 7.0]))
    # The first step of a rollout is what predict_chunk/sample give for a fresh episode.
    policy.reset()
    torch.testing.assert_close(torch.as_tensor(policy.act(obs)), policy.sample(torch.as_tensor(obs), 1)[:, 0, 0])
    with pytest.warns(UserWarning, match="observe_reward"):
        policy.act(obs)


def test_dt_context_is_capped_at_k():
    policy = small_policy("dt")
    obs = torch.randn(1, OBS).numpy()
    for _ in range(8):
        policy.act(obs)
        policy.observe_reward(np.array([1.0]))
    assert policy.context["length"].tolist() == [5]
    assert policy.context["timesteps"][0].tolist() == [3, 4, 5, 6, 7]
    torch.testing.assert_close(policy.context["returns_to_go"][0], torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0]))


# ---------------------------------------------------------------- 4-mode toy
def mode_fractions(policy) -> list[float]:
    torch.manual_seed(0)
    samples = policy.sample(torch.zeros(1, 2), 256)[0, :, 0]
    near = torch.cdist(samples, CENTRES) < 0.3
    return near.float().mean(0).tolist()


def test_cvae_covers_four_modes(tmp_path):
    config = build_config(VAEConfig, {
        "policy": {"pred_horizon": 1, "action_horizon": 1, "hidden_dims": [128, 128], "latent_dim": 8},
        "kl_weight": 0.3, "optim.lr": 3e-3, "batch_size": 256, "steps": 600, "updates_per_step": 50,
        "updates_per_epoch": 600,
    })
    algo = train(VAE, config, four_mode_toy(), tmp_path)
    fractions = mode_fractions(algo.export_policy())
    assert min(fractions) >= 0.10, fractions


def test_gpt_gmm_covers_four_modes(tmp_path):
    config = build_config(GPTConfig, {
        "policy": {"obs_horizon": 1, "pred_horizon": 1, "action_horizon": 1, "n_layer": 1, "n_embd": 32,
                   "n_head": 2, "dropout": 0.0},
        "optim.warmup_steps": 50, "batch_size": 256, "steps": 400, "updates_per_step": 50, "updates_per_epoch": 400,
    })
    algo = train(GPTPolicyTrainer, config, four_mode_toy(), tmp_path)
    fractions = mode_fractions(algo.export_policy())
    assert min(fractions) >= 0.10, fractions


# ------------------------------------------------------------ save / load, seeds
@pytest.mark.parametrize("kind", ["vae", "vae-transformer", "gpt", "dt"])
def test_save_load_round_trip(kind, tmp_path):
    policy = small_policy(kind)
    with torch.no_grad():  # move normalizers off identity so they are part of what must round-trip
        policy.obs_normalizer.shift.uniform_(-1, 1)
        policy.action_normalizer.scale.uniform_(0.5, 1.0)
    loaded = load_policy(policy.save(tmp_path / kind))
    assert type(loaded) is type(policy) and loaded.config == policy.config
    obs = torch.randn(4, OBS)
    torch.manual_seed(3)
    expected = policy.sample(obs, 5)
    torch.manual_seed(3)
    torch.testing.assert_close(loaded.sample(obs, 5), expected, rtol=0, atol=0)
    runs = []
    for model in (policy, loaded):
        torch.manual_seed(4)
        actions = []
        for _ in range(3):
            actions.append(model.act(obs.numpy()))
            if kind == "dt":
                model.observe_reward(np.ones(4))
        runs.append(np.stack(actions))
    np.testing.assert_array_equal(runs[1], runs[0])


@pytest.mark.parametrize("name", ["vae", "gpt", "dt"])
def test_seeded_training_is_deterministic(name, tmp_path):
    algo_cls, config_cls, overrides = ALGORITHMS[name]
    small = {k: v for k, v in SMALL[name].items() if k not in ("return_scale", "target_return", "max_ep_len")}
    config = build_config(config_cls, {**overrides, "policy": small, "batch_size": 16, "steps": 10,
                                       "updates_per_step": 5, "updates_per_epoch": 10})
    torch.manual_seed(config.seed)
    untrained = algo_cls(config, episodic_data()).export_policy().state_dict()
    first = train(algo_cls, config, episodic_data(), tmp_path / "a").export_policy().state_dict()
    assert any(not torch.equal(untrained[key], value) for key, value in first.items())
    second = train(algo_cls, config, episodic_data(), tmp_path / "b").export_policy().state_dict()
    for key, value in first.items():
        torch.testing.assert_close(second[key], value, rtol=0, atol=0, msg=key)
    assert load_policy(tmp_path / "a" / "policy").name == name


# ------------------------------------------------------------ DT learning check
def counting_episodes(length: int = 10, repeats: int = 8) -> OfflineDataset:
    """Episodes that earn exactly ``k`` reward: action +1 (reward 1) for ``k`` steps, then -1
    (reward 0), for every ``k`` in 0..length. The return-to-go alone says which action to take."""
    obs, actions, rewards = [], [], []
    for k in list(range(length + 1)) * repeats:
        for t in range(length):
            obs.append([t / length])
            actions.append([1.0 if t < k else -1.0])
            rewards.append(1.0 if t < k else 0.0)
    n = len(obs)
    ends = torch.zeros(n, dtype=torch.bool)
    ends[length - 1 :: length] = True
    obs_t = torch.tensor(obs)
    return OfflineDataset(
        obs_t, torch.tensor(actions), torch.tensor(rewards), torch.zeros(n, dtype=torch.bool), ends, obs_t + 1.0 / length
    )


def test_dt_delivers_the_return_it_is_asked_for(tmp_path):
    """Rolled out in the counting task (reward (a+1)/2 per step), the trained DT earns about
    the target return it is given, for low, middle and high targets alike."""
    length = 10
    config = build_config(DTConfig, {
        "policy": {"context_len": length, "n_layer": 2, "n_head": 2, "n_embd": 32, "dropout": 0.0},
        "optim": {"warmup_steps": 50, "lr": 3e-3},
        "batch_size": 64, "steps": 600, "updates_per_step": 50, "updates_per_epoch": 600,
    })
    policy = train(DecisionTransformer, config, counting_episodes(length), tmp_path).export_policy().eval()
    achieved = {}
    for target in (2.0, 5.0, 8.0):
        policy.set_target_return(target)
        policy.reset()
        total = 0.0
        for t in range(length):
            action = float(policy.act(np.array([[t / length]], dtype=np.float32))[0, 0])
            reward = (min(max(action, -1.0), 1.0) + 1.0) / 2.0
            policy.observe_reward(np.array([reward]))
            total += reward
        achieved[target] = total
    for target, total in achieved.items():
        assert abs(total - target) <= 0.75, achieved
