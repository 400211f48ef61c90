"""Lightning's share of a fit's wall time: a speed check that holds on a busy machine.

The Lightning-vs-plain-loop ratios (`genpolicy bench train`, bench_offline_rl.py,
bench_online.py) time two separate runs; on a machine shared with other training jobs they
swing by ±15 % between repeats. This measures one run instead: a `genpolicy.train` fit whose
``sample_batch``, ``update``, ``_update_averages`` and ``collect`` (all that a plain PyTorch
loop does) are timed from inside. Everything else — Lightning's loop, callbacks, logging, the
epoch-end checkpoint — is the trainer's share, and ``work / total`` bounds the ratio
Lightning / plain loop from below (the plain loop still pays its own Python loop). Load slows
both parts alike, so the share is stable where the ratio is not.

    .venv/bin/python benchmarks/lightning_share.py --algos bc iql td3bc sac [--updates 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L

TIMED = ("sample_batch", "update", "_update_averages", "collect")


class WorkShare(L.Callback):
    """Total wall time from the second Lightning step to the end, and the part spent in ``TIMED``."""

    def on_train_batch_start(self, trainer: L.Trainer, algo: L.LightningModule, *_) -> None:
        if trainer.global_step > 0 and not hasattr(self, "start"):
            self.start, self.work = time.perf_counter(), 0.0
            for name in TIMED:
                setattr(algo, name, self._timed(getattr(algo, name)))

    def _timed(self, method):
        def timed(*args, **kwargs):
            begin = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.work += time.perf_counter() - begin
        return timed

    def on_train_end(self, trainer: L.Trainer, algo: L.LightningModule) -> None:
        self.total = time.perf_counter() - self.start


def share_of(algo: str, updates: int, data) -> WorkShare:
    from genpolicy.training import train

    share = WorkShare()
    if algo == "sac":
        kw = {"env": "Pendulum-v1", "overrides": {"steps": updates, "updates_per_epoch": updates, "warmup_steps": 1000,
                                                  "log_every": 500, "snapshot_every": 0}}
    else:
        kw = {"data": data, "overrides": {"steps": updates, "updates_per_step": 50, "updates_per_epoch": updates,
                                          "log_every": 500}}
    with tempfile.TemporaryDirectory() as run:
        train(algo, out=run, eval_episodes=0, callbacks=[share], progress_bar=False, verbose=False, accelerator="cpu",
              device_preset=False, **kw)
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algos", nargs="*", default=["bc", "iql", "td3bc", "sac"])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/hopper-medium-v5.hdf5"))
    args = parser.parse_args()
    from genpolicy.bench import synthetic_dataset
    from genpolicy.datasets import load_dataset
    from genpolicy.trainers.runner import limit_threads

    threads = limit_threads()
    data = load_dataset(args.data) if Path(args.data).exists() else synthetic_dataset(obs_dim=11, act_dim=3)
    print("| algorithm | updates | fit s | in the plain-loop work | trainer's share | ratio bound | threads |")
    print("|---|---|---|---|---|---|---|")
    for algo in args.algos:
        share = share_of(algo, args.updates, data)
        print(f"| {algo} | {args.updates} | {share.total:.1f} | {share.work:.1f} | {100 * (1 - share.work / share.total):.2f} % "
              f"| {share.work / share.total:.3f} | {threads} |", flush=True)


if __name__ == "__main__":
    main()
