"""What DIAYN's discriminator costs: a DIAYN update against a SAC update of the same sizes, same process.

Both run through `genpolicy.train` on ``point2d`` seen through the same ``skill`` wrapper (K = 16,
so actor and critics take the same ``2 + 16`` inputs), with the same networks (128 x 128 actor,
twin critics and, for DIAYN, discriminator), batch 256 and replay ratio 1. A callback times only
what one update costs — drawing the batch (for DIAYN that includes the discriminator's forward pass
for the intrinsic reward) plus ``update`` (SAC's losses and steps; DIAYN adds the discriminator's
cross-entropy step) — so env stepping, logging and checkpoints are left out of the ratio. SAC is
trained on the env's (zero) reward, which costs the same as any other reward. The two alternate
``--rounds`` times and each keeps its best (the machine is shared and noisy; the best is the
least disturbed): target DIAYN / SAC <= 1.3x.

    GENPOLICY_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_diayn.py [--updates 3000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import lightning as L

from genpolicy.trainers.runner import limit_threads
from genpolicy.training import train

SKILLS = 16
SIZES = {"actor.hidden_dims": [128, 128], "critic.hidden_dims": [128, 128], "batch_size": 256, "replay_ratio": 1.0,
         "warmup_steps": 1_000, "log_every": 500, "snapshot_every": 0}


class UpdateClock(L.Callback):
    """Wall time inside ``sample_batch`` + ``update`` after the first ``skip`` updates."""

    def __init__(self, skip: int = 200) -> None:
        self.skip, self.seconds, self.updates, self._seen = skip, 0.0, 0, 0

    def on_train_start(self, trainer: L.Trainer, algo: L.LightningModule) -> None:
        sample, update = algo.sample_batch, algo.update
        clock = self

        def timed_update(batch):
            begin = time.perf_counter()
            out = update(batch)
            clock._count(time.perf_counter() - begin + clock._sample_seconds)
            return out

        def timed_sample():
            begin = time.perf_counter()
            batch = sample()
            clock._sample_seconds = time.perf_counter() - begin
            return batch

        self._sample_seconds = 0.0
        algo.sample_batch, algo.update = timed_sample, timed_update

    def _count(self, seconds: float) -> None:
        self._seen += 1
        if self._seen > self.skip:
            self.seconds, self.updates = self.seconds + seconds, self.updates + 1

    @property
    def ms_per_update(self) -> float:
        return 1000.0 * self.seconds / max(self.updates, 1)


def time_updates(algo: str, updates: int) -> float:
    """Milliseconds per update of ``algo`` (``diayn`` or ``sac``) on the skill-wrapped point2d."""
    clock = UpdateClock()
    overrides = {**SIZES, "steps": updates, "updates_per_epoch": updates}
    wrappers = []
    if algo == "diayn":
        overrides.update({"skills": SKILLS, "discriminator.hidden_dims": [128, 128], "discriminator.dims": [0, 1],
                          "skill_eval_every": 0})
    else:
        wrappers = [{"name": "skill", "skills": SKILLS}]  # the same inputs as DIAYN's networks
    with tempfile.TemporaryDirectory() as run:
        train(algo, env="point2d", out=run, overrides=overrides, wrappers=wrappers, eval_episodes=0,
              callbacks=[clock], accelerator="cpu", progress_bar=False, verbose=False)
    return clock.ms_per_update


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="runs/bench_diayn.json")
    args = parser.parse_args()
    threads = limit_threads()
    times: dict[str, list[float]] = {"sac": [], "diayn": []}
    for _ in range(args.rounds):
        for name in ("sac", "diayn"):
            times[name].append(time_updates(name, args.updates))
            print(f"{name:6s} {times[name][-1]:.3f} ms/update", flush=True)
    sac, diayn = min(times["sac"]), min(times["diayn"])
    result = {"threads": threads, "updates": args.updates, "sizes": SIZES, "skills": SKILLS, "ms_per_update": times,
              "sac_ms": sac, "diayn_ms": diayn, "ratio": diayn / sac}
    print(f"SAC {sac:.3f} ms/update   DIAYN {diayn:.3f} ms/update   ratio {diayn / sac:.3f}x (target <= 1.3x)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
