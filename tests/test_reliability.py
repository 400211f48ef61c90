"""Runs you can trust (issue 10): stopping on a signal, exact resume, atomic and corrupt
checkpoints, evaluation history across resumes, progress output, quiet Lightning, logs.

Training here is tiny BC on the synthetic dataset (one thread, a few hundred updates), so the
whole file runs in well under a minute.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
from types import SimpleNamespace

import lightning as L
import pytest
import torch

from genpolicy.training import resolve_config
from genpolicy.trainers import get_algorithm
from genpolicy.trainers.callbacks import EvalCallback, ProgressReport, format_duration
from genpolicy.trainers.runner import (
    LAST_CHECKPOINT,
    AtomicCheckpointIO,
    CheckpointError,
    TrainingStopped,
    fit,
)
from tests.conftest import make_dataset


def tiny_bc(steps: int = 200, **sets):
    """BC with a 32x32 MLP: 10 updates per Lightning step, 50 per epoch (a checkpoint)."""
    algo_class, config_class, variant = get_algorithm("bc")
    values = {"policy.hidden_dims": [32, 32], "batch_size": 16, "updates_per_step": 10, "updates_per_epoch": 50, **sets}
    config = resolve_config(config_class, variant, overrides=[f"{k}={json.dumps(v)}" for k, v in values.items()], steps=steps)
    torch.manual_seed(0)
    return algo_class(config, make_dataset())


def weights(algo) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in algo.export_policy().state_dict().items()}


class SignalAt(L.Callback):
    """Sends ``signum`` to this process at the start of Lightning step ``batch`` (once)."""

    def __init__(self, signum: int, batch: int) -> None:
        self.signum, self.batch, self.sent = signum, batch, False

    def on_train_batch_start(self, trainer, algo, batch, batch_idx) -> None:
        if not self.sent and trainer.global_step // 10 >= self.batch:
            self.sent = True
            os.kill(os.getpid(), self.signum)


# ------------------------------------------------------------------- stop and resume
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_within_an_update_and_resume_is_exact(tmp_path, signum):
    reference = fit(tiny_bc(), tmp_path / "reference", progress_bar=False)
    run = tmp_path / "run"
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}  # SIG_IGN under nohup
    with pytest.raises(TrainingStopped) as stopped:
        fit(tiny_bc(), run, progress_bar=False, callbacks=[SignalAt(signum, batch=7)])
    # The signal came before the 8th chunk's first update: that update finishes, no more.
    assert stopped.value.updates == 71 and stopped.value.signum == signum
    assert str(stopped.value).startswith("stopped at update 71; checkpoint ") and "run the same command to resume" in str(stopped.value)
    assert (run / LAST_CHECKPOINT).exists() and not (run / "policy").exists()
    assert {s: signal.getsignal(s) for s in before} == before  # the caller's handlers are back
    resumed = fit(tiny_bc(), run, progress_bar=False)
    assert int(resumed.num_updates) == 200
    for key, value in weights(reference).items():
        assert torch.equal(weights(resumed)[key], value), key


class SignalAfterStep(SignalAt):
    """Sends ``signum`` once Lightning step ``batch`` has ended and every own callback has seen it:
    the stop comes between two steps, not inside an update chunk."""

    def on_train_batch_start(self, *args) -> None:
        pass

    def on_train_batch_end(self, trainer, algo, outputs, batch, batch_idx) -> None:
        if not self.sent and trainer.global_step // 10 >= self.batch:
            self.sent = True
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("batch", [15, 17])
def test_signal_between_steps_of_the_last_epoch_resumes_to_the_end(tmp_path, batch):
    """A stop between two steps (not inside an update chunk) ends Lightning's epoch early and
    the checkpoint is written at that epoch's end (at an epoch boundary: 150; inside the last
    epoch: 170). Resuming must still finish the last epoch, bit for bit as an uninterrupted run,
    not take the cut-short epoch for a finished one."""
    reference = fit(tiny_bc(), tmp_path / "reference", progress_bar=False)
    run = tmp_path / "run"
    with pytest.raises(TrainingStopped) as stopped:
        fit(tiny_bc(), run, progress_bar=False, callbacks=[SignalAfterStep(signal.SIGTERM, batch=batch)])
    assert stopped.value.updates == batch * 10 and stopped.value.signum == signal.SIGTERM
    resumed = fit(tiny_bc(), run, progress_bar=False)
    assert int(resumed.num_updates) == 200
    for key, value in weights(reference).items():
        assert torch.equal(weights(resumed)[key], value), key


def test_signal_after_the_checkpoints_check_still_resumes_mid_epoch(tmp_path):
    """A signal landing after `RollingCheckpoint` looked at the step (here from the module's own
    batch-end hook, which Lightning runs after every callback's) must not end the epoch early:
    saved as a finished epoch, a resume with ``steps`` inside that epoch would do no update.
    It stops within the next update instead, with the exact mid-epoch position."""
    algo = tiny_bc()
    sent = []

    def late_signal(outputs, batch, batch_idx) -> None:
        if not sent and int(algo.num_updates) >= 80:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)

    algo.on_train_batch_end = late_signal
    with pytest.raises(TrainingStopped) as stopped:
        fit(algo, tmp_path, progress_bar=False)
    assert stopped.value.updates == 81
    resumed = fit(tiny_bc(steps=100), tmp_path, progress_bar=False)  # the same epoch (50..100)
    assert int(resumed.num_updates) == 100


def test_resume_with_more_steps_trains_on(tmp_path):
    first = fit(tiny_bc(steps=100), tmp_path, progress_bar=False)
    assert int(first.num_updates) == 100
    longer = fit(tiny_bc(steps=250), tmp_path, progress_bar=False)
    assert int(longer.num_updates) == 250
    assert json.loads((tmp_path / "config.json").read_text())["config"]["steps"] == 250
    # and the longer run is the same as one that asked for 250 from the start
    straight = fit(tiny_bc(steps=250), tmp_path / "straight", progress_bar=False)
    for key, value in weights(straight).items():
        assert torch.equal(weights(longer)[key], value), key


# ----------------------------------------------------------------------- checkpoints
def test_atomic_save_keeps_the_previous_checkpoint_when_writing_fails(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"step": 1, "weights": torch.arange(1000)}, path)
    before = path.read_bytes()
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        io.save_checkpoint({"step": 2, "weights": torch.arange(1000), "bad": lambda: None}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]  # no temporary left
    assert io.load_checkpoint(path)["step"] == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_checkpoint_is_one_clear_error(tmp_path, damage):
    fit(tiny_bc(steps=50), tmp_path, progress_bar=False)
    last = tmp_path / LAST_CHECKPOINT
    data = last.read_bytes()
    last.write_bytes(b"not a checkpoint" if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"last\.ckpt: unreadable checkpoint .*--restart"):
        fit(tiny_bc(steps=100), tmp_path, progress_bar=False)
    assert int(fit(tiny_bc(steps=50), tmp_path, resume=False, progress_bar=False).num_updates) == 50


# ------------------------------------------------------------------------ evaluation
class ScriptedEval(EvalCallback):
    """EvalCallback whose rollouts return a scripted score per call (no env needed)."""

    def __init__(self, scores: list[float]) -> None:
        super().__init__("two-paths", episodes=1, every_n_epochs=1)
        self.scores = list(scores)

    def _roll_out(self, policy):
        return SimpleNamespace(mean_return=0.0, normalized_score=self.scores.pop(0), success_rate=None)


def test_eval_history_and_best_score_survive_resume(tmp_path):
    fit(tiny_bc(steps=100), tmp_path, progress_bar=False, callbacks=[ScriptedEval([10.0, 70.0])])
    assert [e["updates"] for e in json.loads((tmp_path / "eval_history.json").read_text())] == [50, 100]
    second = ScriptedEval([30.0, 20.0])
    fit(tiny_bc(steps=200), tmp_path, progress_bar=False, callbacks=[second])
    history = json.loads((tmp_path / "eval_history.json").read_text())
    assert [e["updates"] for e in history] == [50, 100, 150, 200]
    assert [e["eval/normalized_score"] for e in history] == [10.0, 70.0, 30.0, 20.0]
    assert history[-1]["eval/best_normalized_score"] == 70.0  # best of the run, not of this invocation
    assert second.tracker.best_step == 100


def test_eval_callback_state_round_trip():
    callback = ScriptedEval([])
    callback.history = [{"updates": 5, "eval/return": 1.0}]
    callback.tracker.update(42.0, 5)
    restored = ScriptedEval([])
    restored.load_state_dict(callback.state_dict())
    assert restored.history == callback.history and restored.tracker.best == 42.0 and restored.tracker.best_step == 5


# ---------------------------------------------------------------------- what is shown
def test_eta_and_progress_lines(tmp_path, capsys):
    fit(tiny_bc(steps=200), tmp_path, progress_bar=False, progress_every_s=0.0, callbacks=[ScriptedEval([55.0] * 4)])
    out = capsys.readouterr().out.splitlines()
    eta = [line for line in out if " updates at " in line]
    assert len(eta) == 1 and eta[0].startswith("[fit] ") and "updates/s ≈ " in eta[0]
    lines = [line for line in out if "/200 updates" in line]
    assert len(lines) >= 5
    assert all("updates/s" in line and "loss " in line and "ETA " in line for line in lines)
    assert "last eval score 55.0" in lines[-1]


def test_progress_interval_follows_the_clock():
    now = [0.0]
    stream = __import__("io").StringIO()
    report = ProgressReport(every_s=10.0, lines=True, timing_s=1e9, timing_steps=100, stream=stream, clock=lambda: now[0])
    algo = SimpleNamespace(num_updates=torch.tensor(0), config=SimpleNamespace(steps=1000))
    trainer = SimpleNamespace(is_global_zero=True, callback_metrics={"train/loss": torch.tensor(0.5)}, callbacks=[])
    for _ in range(30):  # 10 updates per second of (fake) time
        report.on_train_batch_start(trainer, algo, None, 0)
        now[0] += 1.0
        algo.num_updates = algo.num_updates + 10
        report.on_train_batch_end(trainer, algo, None, None, 0)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "[fit] 110/1000 updates (11%)  10.0 updates/s  loss 0.5  ETA 1 min 29 s",
        "[fit] 210/1000 updates (21%)  10.0 updates/s  loss 0.5  ETA 1 min 19 s",
    ]


def test_format_duration():
    assert [format_duration(s) for s in (4.4, 65, 3 * 3600 + 7 * 60)] == ["4 s", "1 min 05 s", "3 h 07 min"]


def test_lightning_noise_is_silenced(tmp_path, capsys, caplog, recwarn):
    caplog.set_level("INFO")
    fit(tiny_bc(steps=50), tmp_path, progress_bar=False)
    shown = capsys.readouterr().out + caplog.text + "\n".join(str(w.message) for w in recwarn)
    for noise in ("litlogger", "GPU available", "TPU available", "LeafSpec", "weights_only", "logging interval"):
        assert noise not in shown, noise


def test_csv_and_tensorboard_share_a_log_version(tmp_path):
    fit(tiny_bc(steps=50), tmp_path, progress_bar=False)
    fit(tiny_bc(steps=100), tmp_path, progress_bar=False)
    versions = sorted((tmp_path / "logs").iterdir())
    assert [v.name for v in versions] == ["version_0", "version_1"]
    for version in versions:
        names = [p.name for p in version.iterdir()]
        assert "metrics.csv" in names and any(n.startswith("events.out.tfevents") for n in names), names


class SignalDuringEvaluation(ScriptedEval):
    """A SIGTERM that arrives while the first periodic evaluation runs."""

    def _roll_out(self, policy):
        if len(self.scores) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return super()._roll_out(policy)


def test_signal_during_evaluation_still_stops_with_a_checkpoint(tmp_path):
    with pytest.raises(TrainingStopped) as stopped:
        fit(tiny_bc(steps=200), tmp_path, progress_bar=False, callbacks=[SignalDuringEvaluation([1.0, 2.0])])
    assert stopped.value.updates == 50 and not (tmp_path / "policy").exists()
    checkpoint = torch.load(tmp_path / LAST_CHECKPOINT, weights_only=False)
    assert int(checkpoint["state_dict"]["num_updates"]) == 50
    assert [e["updates"] for e in checkpoint["callbacks"]["EvalCallback"]["history"]] == [50]
    resumed = fit(tiny_bc(steps=200), tmp_path, progress_bar=False, callbacks=[ScriptedEval([3.0, 4.0, 5.0])])
    assert int(resumed.num_updates) == 200
    assert [e["updates"] for e in json.loads((tmp_path / "eval_history.json").read_text())] == [50, 100, 150, 200]
