"""Online SAC speed: the Lightning loop vs a plain loop, Stable-Baselines3, and BRO's critic.

Three figures, each measured in one run on the same machine:

1. SAC updates/s in genpolicy's Lightning online loop against a plain PyTorch loop that steps
   the same env and calls the *same* update (networks, losses, optimizers, replay buffer)
   with no Lightning, in this process, both at replay ratio 1 (target >= 0.95x);
2. env steps/s at replay ratio 1 against Stable-Baselines3's SAC with the same sizes (256x256
   actor and twin critics, batch 256, one update per env step), side by side: SB3 runs in
   its own venv (``--sb3-python``; ``--make-sb3-venv`` creates it with torch==2.13.0 first and
   pinned by a constraint), never a genpolicy dependency (target >= 1.5x);
3. BRO's BroNet 512x2 quantile-critic update (``bro-fast`` settings): updates/s and the share of
   wall time spent stepping the env vs in updates, next to plain SAC's.

    .venv/bin/python benchmarks/bench_online.py [--env Pendulum-v1] [--updates 2000]
        [--sb3-python /tmp/venv-sb3/bin/python | --make-sb3-venv /tmp/venv-sb3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from genpolicy.bench import make_peer_venv, run_peer_script
from genpolicy.trainers import get_algorithm
from genpolicy.trainers.lightning_adapter import attach_plain_optimizers
from genpolicy.trainers.runner import limit_threads
from genpolicy.training import build_sources, resolve_config, train

WARMUP = 1_000  # random env steps before the first update, both libraries
SB3_SCRIPT = r"""
import sys, time, json, gymnasium as gym, torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback
env_id, steps, warmup, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)

class Clock(BaseCallback):
    def _on_step(self):
        if self.num_timesteps == warmup + 100:  # timing starts after the warm-up and 100 updates
            self.start = time.perf_counter()
        return True

clock = Clock()
model = SAC("MlpPolicy", gym.make(env_id), policy_kwargs=dict(net_arch=[256, 256]), batch_size=256,
            learning_starts=warmup, train_freq=1, gradient_steps=1, buffer_size=1_000_000, device="cpu", seed=0)
model.learn(total_timesteps=warmup + 100 + steps, callback=clock)
print(json.dumps({"env_steps_per_s": steps / (time.perf_counter() - clock.start)}))
"""


def settings(updates: int, **values) -> dict:
    return {"steps": updates, "updates_per_epoch": updates, "warmup_steps": WARMUP, "log_every": 500,
            "dormant_every": 0, "resets_at": [], "snapshot_every": 0, **values}


def build(name: str, env: str, updates: int, **values):
    """The algorithm alone (no trainer), for the plain loop: the same sources `train` builds."""
    algo_class, config_class, variant = get_algorithm(name)
    config = resolve_config(config_class, variant, overrides=settings(updates, **values))
    torch.manual_seed(0)
    return algo_class(config, build_sources(algo_class, config, env=env))


class _Clock(L.Callback):
    """Updates/s and env steps/s after the first chunk (the warm-up), and time inside ``collect``."""

    def on_train_batch_start(self, trainer, algo, *_):
        if trainer.global_step > 0 and not hasattr(self, "start"):
            self.start, self.updates, self.env_steps = time.perf_counter(), int(algo.num_updates), algo.env_steps
            self.env_seconds = 0.0
            collect = algo.collect

            def timed_collect(until: int) -> None:
                begin = time.perf_counter()
                collect(until)
                self.env_seconds += time.perf_counter() - begin

            algo.collect = timed_collect

    def on_train_end(self, trainer, algo):
        seconds = time.perf_counter() - self.start
        self.rate = (int(algo.num_updates) - self.updates) / seconds
        self.env_rate = (algo.env_steps - self.env_steps) / seconds
        self.env_share = self.env_seconds / seconds


def lightning_run(name: str, env: str, updates: int, **values) -> _Clock:
    clock = _Clock()
    with tempfile.TemporaryDirectory() as run:
        train(name, env=env, out=run, overrides=settings(updates, **values), eval_episodes=0, callbacks=[clock],
              accelerator="cpu", progress_bar=False, verbose=False)
    return clock


def plain_rate(name: str, env: str, updates: int, **values) -> float:
    """Textbook SAC loop: one env step, one update (the same ``update``), torch optimizers only."""
    algo = build(name, env, updates, **values)
    attach_plain_optimizers(algo)
    collector = algo.collector
    collector.start()
    collector.collect(WARMUP, algo.explore, random_until=WARMUP)
    first = 100  # untimed, as in the Lightning run's first chunk
    for index in range(updates + first):
        if index == first:
            start = time.perf_counter()
        collector.collect(collector.env_steps + 1, algo.explore)
        collector.drain()
        algo.update_index = index
        algo.update(algo.sample_batch())
        algo._update_averages(index + 1)
    seconds = time.perf_counter() - start
    collector.close()
    return updates / seconds


def make_sb3_venv(path: Path) -> Path:
    return make_peer_venv(path, ["stable-baselines3", "gymnasium"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--sb3-python", help="python of a venv with stable-baselines3 (side-by-side run)")
    parser.add_argument("--make-sb3-venv", metavar="DIR", help="create that venv first (torch==2.13.0 pinned)")
    parser.add_argument("--out", default="runs/bench_online.json")
    args = parser.parse_args()
    threads = limit_threads()
    print(f"env {args.env}; {threads} threads; {WARMUP} random warm-up steps; replay ratio 1", flush=True)
    results: dict[str, dict] = {}

    runs = {"plain": [], "lightning": []}
    for _ in range(2):  # alternate, keep the best of two: the machine is shared and noisy
        runs["plain"].append(plain_rate("sac", args.env, args.updates, updates_per_step=10))
        runs["lightning"].append(lightning_run("sac", args.env, args.updates, updates_per_step=10))
    plain = max(runs["plain"])
    best = max(runs["lightning"], key=lambda clock: clock.rate)
    results["sac"] = {"plain": plain, "lightning": best.rate, "ratio": best.rate / plain,
                      "env_steps_per_s": best.env_rate, "env_share": best.env_share}
    print(f"SAC      plain {plain:7.1f} upd/s   lightning {best.rate:7.1f} upd/s   ratio {best.rate / plain:.3f}x   "
          f"env share {best.env_share:.0%}", flush=True)

    bro = lightning_run("bro-fast", args.env, max(200, args.updates // 4), updates_per_step=10)
    results["bro-fast"] = {"updates_per_s": bro.rate, "env_steps_per_s": bro.env_rate, "env_share": bro.env_share}
    print(f"BRO-fast (BroNet 512x2, 100 quantiles, optimistic actor) {bro.rate:6.1f} upd/s   "
          f"{bro.env_rate:6.1f} env steps/s   env share {bro.env_share:.0%}", flush=True)

    python = Path(args.sb3_python) if args.sb3_python else (make_sb3_venv(Path(args.make_sb3_venv)) if args.make_sb3_venv else None)
    peer = run_peer_script(python, SB3_SCRIPT, [args.env, args.updates, WARMUP, threads]) if python is not None else None
    if peer is not None:
        theirs, ours = peer["env_steps_per_s"], best.env_rate
        results["sb3-sac"] = {"sb3": theirs, "genpolicy": ours, "ratio": ours / theirs}
        print(f"SAC      SB3 {theirs:7.1f} env steps/s   genpolicy {ours:7.1f} env steps/s   ratio {ours / theirs:.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
