"""Trainer base: exact resume, seeded determinism, policy save/load, BC learning, DDP."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from genpolicy.config import build_config
from genpolicy.models.base import load_policy
from genpolicy.trainers.base import AlgoConfig, Algorithm
from genpolicy.trainers.bc import BC, BCConfig
from genpolicy.trainers.runner import fit
from tests.conftest import make_dataset

REPO = Path(__file__).resolve().parents[1]


def _config(**overrides) -> BCConfig:
    """A small chunked GMM-BC config; keyword ``a__b`` sets the nested key ``a.b``."""
    base = {"head": "gmm", "steps": 120, "updates_per_step": 10, "updates_per_epoch": 30, "batch_size": 32,
            "policy.hidden_dims": [32, 32], "ema_decay": 0.99, "policy.pred_horizon": 2,
            "policy.action_horizon": 2, "policy.obs_horizon": 2}
    base.update({key.replace("__", "."): value for key, value in overrides.items()})
    return build_config(BCConfig, base)


def _new_algo(config: BCConfig) -> BC:
    torch.manual_seed(0)
    return BC(config, make_dataset(num_episodes=6, length=20))


class _CrashAt(L.Callback):
    def __init__(self, batch: int) -> None:
        self.batch, self.seen = batch, 0

    def on_train_batch_end(self, *args) -> None:
        self.seen += 1
        if self.seen == self.batch:
            raise RuntimeError("simulated crash")


def _weights(algo: Algorithm) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in algo.state_dict().items()}


def test_resume_after_crash_is_exact(tmp_path):
    reference = fit(_new_algo(_config()), tmp_path / "a", progress_bar=False)
    crashed = _new_algo(_config())
    with pytest.raises(RuntimeError, match="simulated crash"):
        # Epochs are 3 Lightning steps; crash in the middle of the third epoch.
        fit(crashed, tmp_path / "b", progress_bar=False, callbacks=[_CrashAt(8)])
    assert (tmp_path / "b/checkpoints/last.ckpt").exists()
    resumed = fit(_new_algo(_config()), tmp_path / "b", progress_bar=False)
    assert int(resumed.num_updates) == 120
    want, got = _weights(reference), _weights(resumed)
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(want[key], got[key]), key


def test_updates_per_step_only_changes_chunking(tmp_path):
    a = fit(_new_algo(_config(updates_per_step=10)), tmp_path / "a", progress_bar=False)
    b = fit(_new_algo(_config(updates_per_step=30)), tmp_path / "b", progress_bar=False)
    for (key, va), vb in zip(_weights(a).items(), _weights(b).values()):
        assert torch.equal(va, vb), key


def test_direct_optimizer_steps_match_lightning_path_and_count(tmp_path):
    """The single-device short cut (plain backward + torch optimizer step) gives the same
    weights as Lightning's wrapped path, and trainer.global_step still counts every update."""
    direct = fit(_new_algo(_config(optim__grad_clip=1.0)), tmp_path / "a", progress_bar=False)
    assert direct.direct_steps and direct.trainer.global_step == 120

    class Wrapped(BC):
        def on_train_start(self) -> None:
            super().on_train_start()
            self.direct_steps = False

    torch.manual_seed(0)
    wrapped = fit(Wrapped(_config(optim__grad_clip=1.0), make_dataset(num_episodes=6, length=20)), tmp_path / "b",
                  progress_bar=False)
    assert wrapped.trainer.global_step == 120
    for (key, va), vb in zip(_weights(direct).items(), _weights(wrapped).values()):
        assert torch.equal(va, vb), key


def test_lightning_internals_the_adapter_relies_on(tmp_path):
    """Fails loudly when a Lightning upgrade moves what `lightning_adapter` touches: the
    manual-optimization step counter (``global_step`` must count every direct update), the
    single-device strategy and precision names, and LightningOptimizer's inner optimizer."""
    from lightning.pytorch.core.optimizer import LightningOptimizer

    from genpolicy.trainers import lightning_adapter

    algo = fit(_new_algo(_config()), tmp_path, progress_bar=False)
    trainer = algo.trainer
    lightning_adapter.check_internals(trainer)
    assert lightning_adapter.direct_steps_possible(trainer), (type(trainer.strategy).__name__, trainer.precision)
    assert trainer.global_step == int(algo.num_updates) == 120
    before = trainer.global_step
    lightning_adapter.count_optimizer_steps(trainer, 5)
    assert trainer.global_step == before + 5
    optimizer = algo.optimizers()
    assert isinstance(optimizer, LightningOptimizer)
    assert isinstance(lightning_adapter.torch_optimizer(optimizer), torch.optim.Optimizer)


def test_exported_policy_round_trip(tmp_path):
    algo = fit(_new_algo(_config()), tmp_path, progress_bar=False)
    policy = load_policy(tmp_path / "policy")
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    torch.manual_seed(1)
    want = algo.export_policy().sample(obs, 4)
    torch.manual_seed(1)
    got = policy.sample(obs, 4)
    assert got.shape == (5, 4, 2, 2) and got.dtype == torch.float32
    assert torch.equal(want, got)
    assert policy.act(obs).shape == (5, 2) and policy.act(obs[0]).shape == (2,)
    with pytest.raises(ValueError, match=r"expects observations \[\.\.\., 3\]"):
        policy.act(np.zeros((2, 4)))


def test_action_queue_refills_every_action_horizon(tmp_path):
    policy = fit(_new_algo(_config(policy__pred_horizon=4, policy__action_horizon=3)), tmp_path, progress_bar=False).policy
    calls = []
    original = policy.predict_chunk
    policy.predict_chunk = lambda history: (calls.append(history.shape[0]), original(history))[1]
    obs = np.zeros((2, 3), dtype=np.float32)
    for _ in range(7):
        policy.act(obs)
    assert calls == [2, 2, 2]  # steps 0, 3, 6
    policy.reset(np.array([True, False]))
    policy.act(obs)
    assert calls[-1] == 1  # only the reset env re-plans


@pytest.mark.parametrize("head", ["mse", "gaussian", "gmm"])
def test_bc_heads_learn_a_nonlinear_map(tmp_path, head):
    """Actions are tanh(2 * obs[0]): each head fits it far better than predicting the mean."""
    torch.manual_seed(0)
    n = 4000
    obs = torch.randn(n, 3)
    actions = torch.tanh(2 * obs[:, :1])
    from genpolicy.datasets.episodes import OfflineDataset

    ends = torch.zeros(n, dtype=torch.bool)
    ends[99::100] = True
    ds = OfflineDataset(obs, actions, torch.zeros(n), torch.zeros(n, dtype=torch.bool), ends, obs)
    config = build_config(BCConfig, {"head": head, "steps": 1500, "updates_per_step": 50, "updates_per_epoch": 500,
                                     "policy.hidden_dims": [64, 64]})
    policy = fit(BC(config, ds), tmp_path, progress_bar=False).export_policy()
    test_obs = torch.randn(500, 3).numpy()
    error = np.abs(policy.act(test_obs)[:, 0] - np.tanh(2 * test_obs[:, 0])).mean()
    baseline = np.abs(np.tanh(2 * test_obs[:, 0])).mean()
    assert error < 0.1 * baseline, (error, baseline)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="multiple of"):
        AlgoConfig(updates_per_step=7, updates_per_epoch=10)
    with pytest.raises(ValueError, match="unknown BC head"):
        BCConfig(head="flow")


DDP_SCRIPT = textwrap.dedent(
    """
    import sys, torch, lightning as L
    sys.path.insert(0, {repo!r})
    from tests.conftest import make_dataset
    from genpolicy.trainers.bc import BC, BCConfig
    from genpolicy.trainers.runner import fit

    torch.manual_seed(0)
    from genpolicy.config import build_config
    config = build_config(BCConfig, {{"steps": 40, "updates_per_step": 10, "updates_per_epoch": 20, "batch_size": 16,
                                     "policy.hidden_dims": [16]}})
    algo = BC(config, make_dataset())
    first = {{}}
    original = algo.update
    def spy(batch):
        first.setdefault("obs", batch["observations"].clone())
        return original(batch)
    algo.update = spy
    fit(algo, {run!r}, accelerator="cpu", devices=2, strategy="ddp", progress_bar=False)
    rank = algo.global_rank
    torch.save({{"obs": first["obs"], "weights": algo.policy.state_dict(), "updates": int(algo.num_updates)}},
               {run!r} + f"/rank{{rank}}.pt")
    """
)


def test_ddp_two_cpu_ranks_draw_different_batches_and_stay_in_sync(tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT.format(repo=str(REPO), run=str(tmp_path / "run")))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"run/rank{r}.pt") for r in (0, 1))
    assert not torch.equal(r0["obs"], r1["obs"])  # different data on each rank
    assert r0["updates"] == r1["updates"] == 40  # every rank runs every update
    for key in r0["weights"]:  # gradients were all-reduced: identical weights
        assert torch.allclose(r0["weights"][key], r1["weights"][key]), key
    assert (tmp_path / "run/policy/model.safetensors").exists()


DDP_RESUME_SCRIPT = textwrap.dedent(
    """
    import sys, torch, lightning as L
    sys.path.insert(0, {repo!r})
    from tests.conftest import make_dataset
    from genpolicy.config import build_config
    from genpolicy.trainers.bc import BC, BCConfig
    from genpolicy.trainers.runner import TrainingStopped, fit

    class StopAfterFirstEpoch(L.Callback):
        def on_train_epoch_end(self, trainer, module):
            trainer.should_stop = True

    def run(out, callbacks=()):
        torch.manual_seed(0)
        config = build_config(BCConfig, {{"steps": 40, "updates_per_step": 10, "updates_per_epoch": 20,
                                          "batch_size": 16, "policy.hidden_dims": [16]}})
        algo = BC(config, make_dataset())
        batches = []
        original = algo.update
        def spy(batch):
            batches.append(batch["observations"].clone())
            return original(batch)
        algo.update = spy
        fit(algo, out, accelerator="cpu", devices=2, strategy="ddp", progress_bar=False, callbacks=list(callbacks))
        return algo, batches

    straight, straight_batches = run({run!r} + "/straight")
    try:
        run({run!r} + "/resumed", [StopAfterFirstEpoch()])
    except TrainingStopped:
        pass
    resumed, resumed_batches = run({run!r} + "/resumed")
    rank = resumed.global_rank
    torch.save({{"straight": straight.policy.state_dict(), "resumed": resumed.policy.state_dict(),
                 "straight_batches": straight_batches[20:], "resumed_batches": resumed_batches}},
               {run!r} + f"/rank{{rank}}.pt")
    """
)


def test_ddp_resume_keeps_each_ranks_batches(tmp_path):
    """Every rank's batch generator is in the checkpoint: after a resume the ranks still draw
    different batches, the same ones as an uninterrupted run, and end with the same weights."""
    script = tmp_path / "ddp_resume.py"
    script.write_text(DDP_RESUME_SCRIPT.format(repo=str(REPO), run=str(tmp_path / "run")))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"run/rank{r}.pt") for r in (0, 1))
    assert len(r0["resumed_batches"]) == 20
    assert not torch.equal(r0["resumed_batches"][0], r1["resumed_batches"][0])  # ranks still differ
    for rank in (r0, r1):
        for want, got in zip(rank["straight_batches"], rank["resumed_batches"]):
            assert torch.equal(want, got)  # the batches an uninterrupted run draws
        for key in rank["straight"]:
            assert torch.equal(rank["straight"][key], rank["resumed"][key]), key
