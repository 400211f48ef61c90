"""`genpolicy bench train`: Lightning trainer vs a plain PyTorch loop, same update, same data.

Both sides run in this process on the same synthetic D4RL-sized batch shapes (obs 17,
act 6, MLP 256x256, batch 256) so the ratio isolates framework overhead: Lightning's loop,
hooks, logging, checkpointing (once per epoch), and our chunked ``updates_per_step``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch

from genpolicy.config import build_config
from genpolicy.datasets.episodes import OfflineDataset
from genpolicy.datasets.samplers import WindowSampler
from genpolicy.trainers.bc import BC, BCConfig
from genpolicy.trainers.runner import limit_threads


def synthetic_dataset(n: int = 100_000, obs_dim: int = 17, act_dim: int = 6, seed: int = 0) -> OfflineDataset:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, obs_dim, generator=g)
    actions = torch.tanh(obs[:, :act_dim] + 0.1 * torch.randn(n, act_dim, generator=g))
    ends = torch.zeros(n, dtype=torch.bool)
    ends[999::1000] = True
    return OfflineDataset(obs, actions, torch.randn(n, generator=g), torch.zeros(n, dtype=torch.bool), ends, obs)


class _Timer(L.Callback):
    """Wall time of the training loop proper (excludes Trainer construction and setup)."""

    def on_train_start(self, *_) -> None:
        self.start = time.perf_counter()

    def on_train_end(self, *_) -> None:
        self.seconds = time.perf_counter() - self.start


def plain_loop_updates_per_s(config: BCConfig, dataset: OfflineDataset, updates: int) -> float:
    torch.manual_seed(config.seed)
    algo = BC(config, dataset)  # same policy, normalizers, sampler and loss; no Lightning
    policy = algo.policy
    optimizer = algo.make_optimizer(policy.parameters(), config.optim)
    sampler = WindowSampler(dataset, config.batch_size, config.policy.obs_horizon, config.policy.pred_horizon)
    generator = torch.Generator().manual_seed(config.seed)
    for step in range(updates + 20):
        if step == 20:  # warm-up excluded, as for Lightning's first chunk
            start = time.perf_counter()
        batch = sampler.sample(generator)
        obs = policy.obs_normalizer.normalize(batch["observations"])
        actions = policy.action_normalizer.normalize(batch["actions"])
        loss = policy.loss(obs, actions)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return updates / (time.perf_counter() - start)


def lightning_updates_per_s(config: BCConfig, dataset: OfflineDataset, run_dir: str) -> float:
    """The same fit through `genpolicy.train` (the path every user takes), timed inside the loop."""
    from dataclasses import asdict

    from genpolicy.training import train

    timer = _Timer()
    train("bc", data=dataset, out=run_dir, config=asdict(config), eval_episodes=0, callbacks=[timer],
          accelerator="cpu", restart=True, progress_bar=False, device_preset=False, verbose=False)
    return config.steps / timer.seconds


@dataclass
class TrainBenchResult:
    plain: float
    lightning: float

    @property
    def ratio(self) -> float:
        return self.lightning / self.plain

    def __str__(self) -> str:
        return (
            f"BC updates/s   plain PyTorch loop: {self.plain:8.1f}   genpolicy Lightning: "
            f"{self.lightning:8.1f}   ratio: {self.ratio:.3f}x"
        )


def bench_train(updates: int = 3000, updates_per_step: int = 50, run_dir: str = "runs/bench") -> TrainBenchResult:
    limit_threads()
    dataset = synthetic_dataset()
    config = build_config(BCConfig, {
        "head": "mse", "steps": updates, "updates_per_step": updates_per_step, "updates_per_epoch": updates,
        "batch_size": 256, "policy.hidden_dims": [256, 256],
    })
    # Alternate and keep the best of two for each side: the machine is shared and noisy.
    plain, lightning = [], []
    for _ in range(2):
        plain.append(plain_loop_updates_per_s(config, dataset, updates))
        lightning.append(lightning_updates_per_s(config, dataset, run_dir))
    return TrainBenchResult(max(plain), max(lightning))


def make_peer_venv(path: str | Path, packages: list[str]) -> Path:
    """A venv at ``path`` with torch==2.13.0 (the CPU wheel on disk, installed first) and a peer
    library's ``packages``, torch pinned by a constraint so the peer cannot pull a CUDA build.
    Returns its python; an existing venv is reused. Raises ``SystemExit`` with pip's error when
    the peer cannot be installed (the reason is the result)."""
    import subprocess
    import sys

    path = Path(path)
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        pin = path / "constraint.txt"
        pin.write_text("torch==2.13.0\n")
        subprocess.run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0"], check=True)
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", *packages, "-c", str(pin)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"pip install {' '.join(packages)} failed:\n{proc.stderr[-4000:]}")
    return python


def run_peer_script(python: str | Path, source: str, args: list[str]) -> dict | None:
    """Run a peer library's benchmark ``source`` with the ``python`` of its own venv (a peer is
    never a genpolicy dependency) and return the JSON of its last stdout line, or ``None``
    after printing its error when it failed."""
    import json
    import subprocess
    import sys
    import tempfile

    script = Path(tempfile.mkdtemp()) / "peer_benchmark.py"
    script.write_text(source)
    proc = subprocess.run([str(python), str(script), *map(str, args)], capture_output=True, text=True, cwd=script.parent)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])
