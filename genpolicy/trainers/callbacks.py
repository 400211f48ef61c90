"""Lightning callbacks for a run's side jobs: evaluation, progress, stopping, the resume point.

* `EvalCallback`: periodic evaluation in simulation; its history and best score are part of
  the checkpoint, so a resumed run continues them instead of starting over.
* `ProgressReport`: an ETA once a few updates are timed, and, when stdout is no terminal (CI,
  ``> log``, nohup), one progress line at a steady interval.
* `StopOnSignal`: SIGTERM / Ctrl-C ask the loop to stop at the next update instead of killing
  the process, so the run can be checkpointed and resumed.
* `RollingCheckpoint`: the run's one resume point, written at every epoch end and when a run
  stops early (through the trainer's atomic checkpoint IO, see ``runner.py``).
* `CollectionProgress`, `PolicySnapshots`: added by an algorithm that has an env collector
  (env-step progress lines; the exported policy saved every N epochs for the D4RL recipes).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, TextIO

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from genpolicy.evaluation import Evaluator, ScoreTracker


def _updates(algo: L.LightningModule) -> int:
    """Gradient updates done so far (the algorithm's own counter, not Lightning's steps)."""
    return int(algo.num_updates)


def _at_epoch_boundary(algo: L.LightningModule) -> bool:
    """True at a whole epoch (or the run's end), False when a stop cut an epoch short."""
    done, config = _updates(algo), algo.config
    return done >= config.steps or done % config.updates_per_epoch == 0


# ------------------------------------------------------------------------ evaluation
class EvalCallback(L.Callback):
    """Every ``every_n_epochs`` epochs, roll out the exported policy (EMA weights if any).

    Logs ``eval/return``, ``eval/normalized_score``, ``eval/success_rate`` and keeps the last
    and best normalized score apart (``eval/best_normalized_score``), as offline-RL papers
    should report both. Runs on rank 0 only; the vector env stays open between evaluations.
    The history and the best score are saved in the checkpoint (``state_dict``), so after a
    resume ``eval_history.json`` grows instead of restarting and "best" means best of the run.
    """

    def __init__(self, env: Any, episodes: int = 10, every_n_epochs: int = 1, num_envs: int = 8, seed: int = 10_000) -> None:
        self.env, self.episodes, self.every_n_epochs = env, episodes, every_n_epochs
        self.num_envs, self.seed = min(num_envs, episodes), seed
        self.tracker = ScoreTracker()
        self._evaluator: Evaluator | None = None
        self.history: list[dict[str, Any]] = []

    @property
    def state_key(self) -> str:
        # One evaluation history per run, whatever the episode count of this invocation.
        return "EvalCallback"

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "scores": [list(item) for item in self.tracker.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))
        self.tracker = ScoreTracker()
        for step, score in state_dict.get("scores", []):
            self.tracker.update(score, step)

    def on_train_epoch_end(self, trainer: L.Trainer, algo: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs and epoch != trainer.max_epochs:
            return
        if not trainer.is_global_zero or not _at_epoch_boundary(algo):
            return
        step = _updates(algo)
        if self.history and self.history[-1]["updates"] >= step:
            return  # already evaluated here (a run resumed from its final checkpoint)
        metrics = self._evaluate(algo.export_policy(), step)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
        online = {"env_steps": int(algo.env_steps)} if getattr(algo, "collector", None) is not None else {}
        self.history.append({"updates": step, **online, **metrics})
        if trainer.default_root_dir:
            Path(trainer.default_root_dir, "eval_history.json").write_text(json.dumps(self.history, indent=2))

    def _evaluate(self, policy: Any, step: int) -> dict[str, float]:
        result = self._roll_out(policy)
        metrics = {"eval/return": result.mean_return}
        if result.normalized_score is not None:
            self.tracker.update(result.normalized_score, step)
            metrics["eval/normalized_score"] = result.normalized_score
            metrics["eval/best_normalized_score"] = self.tracker.best
        if result.success_rate is not None:
            metrics["eval/success_rate"] = result.success_rate
        return metrics

    def _roll_out(self, policy: Any) -> Any:
        """The seeded evaluation episodes (an `EvalResult`); the vector env is kept open."""
        if self._evaluator is None:
            self._evaluator = Evaluator(self.env, self.num_envs, policy=policy)
        return self._evaluator(policy, episodes=self.episodes, seed=self.seed)

    def last_score(self) -> str | None:
        """The latest evaluation in a few characters, for progress lines."""
        if not self.history:
            return None
        last = self.history[-1]
        if "eval/normalized_score" in last:
            return f"score {last['eval/normalized_score']:.1f}"
        if "eval/success_rate" in last:
            return f"success {100 * last['eval/success_rate']:.0f}%"
        return f"return {last['eval/return']:.1f}"

    def teardown(self, trainer: L.Trainer, algo: L.LightningModule, stage: str) -> None:
        if self._evaluator is not None:
            self._evaluator.close()
            self._evaluator = None


# -------------------------------------------------------------------------- progress
def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``: an ETA a person reads at a glance."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class ProgressReport(L.Callback):
    """Print an ETA once the speed is known, and steady progress lines without a terminal.

    The ETA (``N updates at X/s ≈ T``) comes once ``timing_steps`` Lightning steps past the
    first (which holds one-off warm-up costs) or ``timing_s`` seconds are timed, or right
    after that first step when it alone took longer than ``timing_s`` (a large network:
    waiting longer would hide the bad news).
    Progress lines (updates, updates/s, loss, ETA, last evaluation) are printed every
    ``every_s`` seconds when ``lines`` is true, by default when stdout is not a terminal,
    where the progress bar would show nothing useful. Rank 0 only.
    """

    def __init__(self, every_s: float = 30.0, lines: bool | None = None, timing_s: float = 5.0, timing_steps: int = 3,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.every_s, self.timing_s, self.timing_steps, self.clock = every_s, timing_s, timing_steps, clock
        self._timed_steps = 0
        self.stream = stream
        self.lines = (not sys.stdout.isatty()) if lines is None else lines
        self._start: tuple[float, int] | None = None  # (time, updates) after the first step
        self._first_step: tuple[float, int] | None = None  # (time, updates) before it
        self._last_line: tuple[float, int] | None = None
        self._eta_printed = False

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def on_train_batch_start(self, trainer: L.Trainer, algo: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._first_step is None:
            self._first_step = (self.clock(), _updates(algo))

    def on_train_batch_end(self, trainer: L.Trainer, algo: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not trainer.is_global_zero:
            return
        now = self.clock()
        line_due = self.lines and self._last_line is not None and now - self._last_line[0] >= self.every_s
        if self._eta_printed and not line_due:
            return  # nothing to print: skip reading the update counter (a device sync on GPU)
        done = _updates(algo)
        if self._start is None:
            self._start = self._last_line = (now, done)
            rate = self._rate(self._first_step, now, done)
            # (an online learner's first step holds its random warm-up: no rate to extrapolate)
            if now - self._first_step[0] > self.timing_s and rate and getattr(algo, "collector", None) is None:
                self._print_eta(algo, rate)
            return
        self._timed_steps += 1
        rate = self._rate(self._start, now, done)
        timed = self._timed_steps >= self.timing_steps or now - self._start[0] >= self.timing_s
        if not self._eta_printed and timed and rate:
            self._print_eta(algo, rate)
        recent = (self._rate(self._last_line, now, done) or rate) if line_due else None
        if recent:
            self._print(self._progress_line(trainer, algo, recent))
            self._last_line = (now, done)

    @staticmethod
    def _rate(since: tuple[float, int], now: float, done: int) -> float | None:
        elapsed, updates = now - since[0], done - since[1]
        return updates / elapsed if elapsed > 0 and updates > 0 else None

    def _print_eta(self, algo: L.LightningModule, rate: float) -> None:
        remaining = algo.config.steps - _updates(algo)
        self._print(f"[fit] {remaining} updates at {rate:.1f} updates/s ≈ {format_duration(remaining / rate)}")
        self._eta_printed = True

    def _progress_line(self, trainer: L.Trainer, algo: L.LightningModule, rate: float) -> str:
        done, total = _updates(algo), algo.config.steps
        parts = [f"[fit] {done}/{total} updates ({100 * done / max(total, 1):.0f}%)", f"{rate:.1f} updates/s"]
        loss = _loss(trainer.callback_metrics)
        if loss is not None:
            parts.append(f"loss {loss:.4g}")
        parts.append(f"ETA {format_duration((total - done) / rate)}")
        for callback in trainer.callbacks:
            if isinstance(callback, EvalCallback) and callback.last_score():
                parts.append(f"last eval {callback.last_score()}")
        return "  ".join(parts)


def _loss(metrics: dict[str, Any]) -> float | None:
    """``train/loss`` if the algorithm logs one, else its first ``train/`` metric."""
    keys = ["train/loss"] + sorted(k for k in metrics if k.startswith("train/") and k != "train/updates")
    for key in keys:
        if key in metrics:
            return float(metrics[key])
    return None


# ---------------------------------------------------------------------------- stopping
class StopOnSignal(L.Callback):
    """SIGTERM and Ctrl-C (SIGINT) ask the training loop to stop at the next update.

    The handler only sets flags (``signum``, and the algorithm's ``stop_requested``, read by its
    update loop); `RollingCheckpoint` turns them into ``trainer.should_stop`` right after the
    step and writes the resume point there, and
    `runner.fit` reports where the run stopped. A second Ctrl-C falls back to Python's
    KeyboardInterrupt, for when even one update takes too long. Under DDP only a flag is set
    here: ranks agree on stopping at the next step end (see `RollingCheckpoint`), because a
    rank that left its update loop alone would leave the others waiting in an all-reduce.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        self._trainer: L.Trainer | None = None
        self._algo: L.LightningModule | None = None

    def on_train_start(self, trainer: L.Trainer, algo: L.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be installed from the main thread
        self._trainer, self._algo = trainer, algo
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            self._restore()
            raise KeyboardInterrupt
        self.signum = signum
        # Not ``trainer.should_stop``: landing between `RollingCheckpoint`'s check and Lightning's
        # end-of-step check, it would end the epoch early and be saved as a finished epoch (a
        # resume would then skip that epoch's remaining updates).
        if self._trainer is not None and self._trainer.world_size == 1 and hasattr(self._algo, "stop_requested"):
            self._algo.stop_requested = True

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def on_train_end(self, trainer: L.Trainer, algo: L.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, algo: L.LightningModule, exception: BaseException) -> None:
        self._restore()


class RollingCheckpoint(Checkpoint):
    """The resume point ``path``: written at every epoch end and when the run stops early.

    An early stop (a signal, or any callback setting ``trainer.should_stop``) is checked after
    every Lightning step; the checkpoint written there holds the exact loop position, so
    resuming does the remaining updates of that epoch and nothing twice. Under DDP the ranks
    first agree on stopping (one small all-reduce per step), since saving is collective.
    A `Checkpoint` subclass, so Lightning runs its epoch-end hook after the other callbacks'
    (the evaluation history of this epoch is in the checkpoint) and adds no checkpointer of
    its own.
    """

    def __init__(self, path: str | Path, stop: StopOnSignal | None = None) -> None:
        self.path = Path(path)
        self.stop = stop
        self.stopped_at: int | None = None
        self._saved_updates: int | None = None

    def on_train_batch_end(self, trainer: L.Trainer, algo: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self._stop_requested(trainer):
            return
        trainer.should_stop = True
        self._save(trainer, algo)
        self.stopped_at = _updates(algo)

    def on_train_epoch_end(self, trainer: L.Trainer, algo: L.LightningModule) -> None:
        # A signal during this epoch's end (an evaluation, say) stops here, at the boundary.
        if self._stop_requested(trainer):
            trainer.should_stop = True
        if self._saved_updates != _updates(algo):
            self._save(trainer, algo)

    def _stop_requested(self, trainer: L.Trainer) -> bool:
        requested = trainer.should_stop or (self.stop is not None and self.stop.signum is not None)
        if trainer.world_size > 1:
            requested = trainer.strategy.reduce_boolean_decision(requested, all=False)
        return requested

    def _save(self, trainer: L.Trainer, algo: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)
        self._saved_updates = _updates(algo)


# -------------------------------------------------------------------------- collecting
class CollectionProgress(L.Callback):
    """Without a terminal, one line every ``every_s`` seconds: env steps and their rate,
    updates and their rate, the latest mean episode return (rank 0)."""

    def __init__(self, every_s: float = 30.0, lines: bool | None = None) -> None:
        self.every_s = every_s
        self.lines = (not sys.stdout.isatty()) if lines is None else lines
        self._last: tuple[float, int, int] | None = None

    def on_train_start(self, trainer: L.Trainer, algo: Any) -> None:
        for callback in trainer.callbacks:  # follow the run's progress settings (--progress-every)
            if isinstance(callback, ProgressReport):
                self.every_s, self.lines = callback.every_s, callback.lines

    def on_train_batch_end(self, trainer: L.Trainer, algo: Any, *args: Any) -> None:
        if not self.lines or not trainer.is_global_zero:
            return
        now = time.perf_counter()
        if self._last is None:
            self._last = (now, algo.env_steps, int(algo.num_updates))
            return
        if now - self._last[0] < self.every_s:
            return
        then, steps, updates = self._last
        done = int(algo.num_updates)
        line = (f"[online] {algo.env_steps} env steps ({(algo.env_steps - steps) / (now - then):.0f}/s), "
                f"{done}/{algo.config.steps} updates ({(done - updates) / (now - then):.1f}/s)")
        metrics = algo._collection_log.last_metrics
        if metrics:
            line += f", return {metrics['env/episode_return']:.1f}"
        print(line, flush=True)
        self._last = (now, algo.env_steps, done)

    def state_dict(self) -> dict[str, Any]:
        return {}


class PolicySnapshots(L.Callback):
    """Every ``every`` epochs, save the exported policy to ``RUN/snapshots/updates-<N>/`` with
    ``snapshot.json`` (updates, env steps, transitions added to the replay buffer so far), so a
    dataset can later be rolled out by the agent *as it was* at a given point (D4RL's medium
    policy) and cut from the replay buffer up to that point (medium-replay). Rank 0 only."""

    DIRECTORY = "snapshots"

    def __init__(self, every: int = 1) -> None:
        self.every = every

    def on_train_epoch_end(self, trainer: L.Trainer, algo: Any) -> None:
        epoch = trainer.current_epoch + 1
        if (epoch % self.every and epoch != trainer.max_epochs) or not trainer.is_global_zero or not _at_epoch_boundary(algo):
            return
        updates = int(algo.num_updates)
        directory = Path(trainer.default_root_dir, self.DIRECTORY, f"updates-{updates:09d}")
        algo.export_policy().save(directory)
        info = {"updates": updates, "env_steps": int(algo.env_steps), "buffer_added": int(algo.collector.buffer.added)}
        (directory / "snapshot.json").write_text(json.dumps(info))
