"""Offline-RL update speed: the Lightning trainer vs a plain loop, ensemble size, and d3rlpy.

Three figures, each a ratio measured in one run on the same machine:

1. IQL / CQL / TD3+BC updates/s in genpolicy's Lightning trainer against a plain PyTorch loop
   calling the *same* update (same networks, losses, optimizers, batches) with no Lightning,
   in this process (target >= 0.95x);
2. the cost of a 10-member critic ensemble against a 2-member one (one batched matmul per
   layer; target <= 3x), MLP 256x256 and BroNet 512x2;
3. genpolicy IQL against d3rlpy 2.8.1's IQL on the same data and network sizes (256x256
   actor, critics and value net, batch 256), side by side: d3rlpy runs in its own venv
   (``--d3rlpy-python``; created by ``--make-d3rlpy-venv`` with torch==2.13.0 first and
   pinned by a constraint), never a genpolicy dependency. Target >= 1.5x.

    .venv/bin/python benchmarks/bench_offline_rl.py [--data ../shared/data/hopper-medium-v5.hdf5]
        [--updates 2000] [--d3rlpy-python /tmp/venv-d3rlpy/bin/python]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from genpolicy.bench import run_peer_script, synthetic_dataset
from genpolicy.models.critics import CriticConfig, EnsembleCritic
from genpolicy.trainers import get_algorithm
from genpolicy.trainers.lightning_adapter import attach_plain_optimizers
from genpolicy.trainers.runner import limit_threads
from genpolicy.training import resolve_config, train

D3RLPY_SCRIPT = r"""
import sys, time, json, h5py, numpy as np, torch, d3rlpy
path, updates, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
with h5py.File(path) as f:
    data = {k: f[k][()] for k in ("observations", "actions", "rewards", "terminals", "timeouts")}
dataset = d3rlpy.dataset.MDPDataset(data["observations"], data["actions"], data["rewards"],
                                    data["terminals"], timeouts=data["timeouts"])
enc = d3rlpy.models.VectorEncoderFactory(hidden_units=[256, 256])
iql = d3rlpy.algos.IQLConfig(actor_encoder_factory=enc, critic_encoder_factory=enc, value_encoder_factory=enc,
                             batch_size=256).create(device="cpu:0")
iql.build_with_dataset(dataset)
kw = dict(show_progress=False, save_interval=10**9, with_timestamp=True,
          logger_adapter=d3rlpy.logging.NoopAdapterFactory())
iql.fit(dataset, n_steps=100, n_steps_per_epoch=100, **kw)  # warm-up
start = time.perf_counter()
iql.fit(dataset, n_steps=updates, n_steps_per_epoch=updates, **kw)
print(json.dumps({"updates_per_s": updates / (time.perf_counter() - start)}))
"""


class _Timer(L.Callback):
    def on_train_batch_start(self, trainer, *_):
        if trainer.global_step > 0 and not hasattr(self, "start"):  # first chunk is warm-up
            self.start, self.from_step = time.perf_counter(), trainer.global_step

    def on_train_end(self, trainer, algo):
        self.rate = (int(algo.num_updates) - self.from_step) / (time.perf_counter() - self.start)


def settings(updates: int, **values) -> dict:
    return {"steps": updates, "updates_per_step": 50, "updates_per_epoch": updates, "log_every": 500, **values}


def build(name: str, dataset, updates: int, **values):
    """The algorithm alone (no trainer), for the plain loop."""
    algo_class, config_class, variant = get_algorithm(name)
    config = resolve_config(config_class, variant, overrides=settings(updates, **values))
    torch.manual_seed(0)
    return algo_class(config, dataset)


def lightning_rate(name: str, dataset, updates: int, **values) -> float:
    timer = _Timer()
    with tempfile.TemporaryDirectory() as run:
        train(name, data=dataset, out=run, overrides=settings(updates, **values), eval_episodes=0, callbacks=[timer],
              accelerator="cpu", progress_bar=False, verbose=False)
    return timer.rate


def plain_rate(name: str, dataset, updates: int, **values) -> float:
    """The same ``update`` with torch optimizers and no Lightning at all."""
    algo = build(name, dataset, updates, **values)
    attach_plain_optimizers(algo)
    for index in range(updates + 50):
        if index == 50:
            start = time.perf_counter()
        algo.update_index = index
        algo.update(algo.sample_batch())
        algo._update_averages(index + 1)
    return updates / (time.perf_counter() - start)


def ensemble_rate(config: CriticConfig, batch: int = 256, updates: int = 300) -> float:
    torch.manual_seed(0)
    critic = EnsembleCritic(17, 6, config)
    optimizer = torch.optim.AdamW(critic.parameters(), lr=3e-4, fused=True)
    obs, act, target = torch.randn(batch, 17), torch.randn(batch, 6), torch.randn(batch)
    for index in range(updates + 20):
        if index == 20:
            start = time.perf_counter()
        loss = (critic.q_value(obs, act) - target).square().mean(1).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return updates / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/hopper-medium-v5.hdf5"))
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--algos", nargs="*", default=["iql", "td3bc", "cql"])
    parser.add_argument("--d3rlpy-python", help="python of a venv with d3rlpy==2.8.1 (side-by-side run)")
    parser.add_argument("--out", default="runs/bench_offline_rl.json")
    args = parser.parse_args()
    threads = limit_threads()
    from genpolicy.datasets import load_dataset

    dataset = load_dataset(args.data) if Path(args.data).exists() else synthetic_dataset(obs_dim=11, act_dim=3)
    print(f"data: {dataset.summary()}; {threads} threads")
    results: dict[str, dict] = {}
    for name in args.algos:
        updates = args.updates if name != "cql" else max(100, args.updates // 10)
        rates = {"plain": [], "lightning": []}
        for _ in range(2):  # alternate, keep the best of two: the machine is shared and noisy
            rates["plain"].append(plain_rate(name, dataset, updates))
            rates["lightning"].append(lightning_rate(name, dataset, updates))
        plain, lightning = max(rates["plain"]), max(rates["lightning"])
        results[name] = {"plain": plain, "lightning": lightning, "ratio": lightning / plain}
        print(f"{name:8s} plain {plain:7.1f} upd/s   lightning {lightning:7.1f} upd/s   ratio {lightning / plain:.3f}x", flush=True)

    for arch, base in (("mlp", {"hidden_dims": [256, 256]}), ("bronet", {"width": 512, "blocks": 2})):
        two = ensemble_rate(CriticConfig(arch=arch, ensemble=2, **base))
        ten = ensemble_rate(CriticConfig(arch=arch, ensemble=10, **base))
        results[f"ensemble-{arch}"] = {"e2": two, "e10": ten, "cost_ratio": two / ten}
        print(f"critic {arch:6s} E=2 {two:7.1f} upd/s   E=10 {ten:7.1f} upd/s   cost 10 vs 2: {two / ten:.2f}x", flush=True)
    # the same ensembles inside a whole IQL update (actor, value net, target copy, batch sampling)
    for arch, base in (("mlp", {}), ("bronet", {"critic.arch": "bronet"})):
        two = plain_rate("iql", dataset, args.updates // 2, **base, **{"critic.ensemble": 2})
        ten = plain_rate("iql", dataset, args.updates // 2, **base, **{"critic.ensemble": 10})
        results[f"iql-ensemble-{arch}"] = {"e2": two, "e10": ten, "cost_ratio": two / ten}
        print(f"IQL update, {arch:6s} critics E=2 {two:7.1f} upd/s   E=10 {ten:7.1f} upd/s   cost 10 vs 2: {two / ten:.2f}x", flush=True)

    peer = run_peer_script(args.d3rlpy_python, D3RLPY_SCRIPT, [args.data, args.updates, threads]) if args.d3rlpy_python else None
    if peer is not None:
        theirs = peer["updates_per_s"]
        ours = results.get("iql", {}).get("lightning") or lightning_rate("iql", dataset, args.updates)
        results["d3rlpy-iql"] = {"d3rlpy": theirs, "genpolicy": ours, "ratio": ours / theirs}
        print(f"IQL      d3rlpy {theirs:7.1f} upd/s   genpolicy {ours:7.1f} upd/s   ratio {ours / theirs:.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
