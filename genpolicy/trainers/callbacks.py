"""Lightning callbacks for side jobs: periodic evaluation in simulation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L

from genpolicy.evaluation import Evaluator, ScoreTracker


class EvalCallback(L.Callback):
    """Every ``every_n_epochs`` epochs, roll out the exported policy (EMA weights if any).

    Logs ``eval/return``, ``eval/normalized_score``, ``eval/success_rate`` and keeps the last
    and best normalized score apart (``eval/best_normalized_score``), as offline-RL papers
    should report both. Runs on rank 0 only; the vector env stays open between evaluations.
    """

    def __init__(self, env: Any, episodes: int = 10, every_n_epochs: int = 1, num_envs: int = 8, seed: int = 10_000) -> None:
        self.env, self.episodes, self.every_n_epochs = env, episodes, every_n_epochs
        self.num_envs, self.seed = min(num_envs, episodes), seed
        self.tracker = ScoreTracker()
        self._evaluator: Evaluator | None = None
        self.history: list[dict[str, Any]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, algo: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs and epoch != trainer.max_epochs:
            return
        if not trainer.is_global_zero:
            return
        policy = algo.export_policy()
        if self._evaluator is None:
            self._evaluator = Evaluator(self.env, self.num_envs, policy=policy)
        result = self._evaluator(policy, episodes=self.episodes, seed=self.seed)
        step = int(algo.num_updates)
        metrics = {"eval/return": result.mean_return}
        if result.normalized_score is not None:
            self.tracker.update(result.normalized_score, step)
            metrics["eval/normalized_score"] = result.normalized_score
            metrics["eval/best_normalized_score"] = self.tracker.best
        if result.success_rate is not None:
            metrics["eval/success_rate"] = result.success_rate
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
        self.history.append({"updates": step, **metrics})
        if trainer.default_root_dir:
            Path(trainer.default_root_dir, "eval_history.json").write_text(json.dumps(self.history, indent=2))

    def teardown(self, trainer: L.Trainer, algo: L.LightningModule, stage: str) -> None:
        if self._evaluator is not None:
            self._evaluator.close()
            self._evaluator = None
