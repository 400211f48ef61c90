"""Diffusion-policy sampling speed: is the DDIM loop just its denoiser calls?

For each denoiser (the reference U-Net (256, 512, 1024), CPU-sized U-Nets (64, 128, 256) and
(32, 64), and the Diffusion-QL MLP (256 x 3)), at batch 1 and batch 64, in one process:

* ``chunk ms``: one ``sample_chunk`` (normalize, draw noise, K denoiser calls, K reverse steps,
  unnormalize), K = num_inference_steps (10, DDIM);
* ``K fwd ms``: K bare ``denoiser(x, t, cond)`` calls on the same shapes;
* ``ratio``: chunk / K forwards (the loop's overhead; target <= 1.2), from the medians and,
  in ``ratio(min)``, from the fastest repeat of each (the least disturbed by other jobs);
* ``actions/s``: executed actions per second with receding horizon, i.e.
  ``batch * Ta / chunk time`` (Ta = 8), and ``chunks/s`` = ``batch / chunk time``.

Timings are medians over repeats, measured alternately so that background load hits both sides
alike. On a machine shared with other jobs use ``--threads 1``: with more OpenMP threads than
free cores every parallel op waits for a descheduled thread and timings swing 10-50x. Run::

    .venv/bin/python benchmarks/bench_sampling.py [--repeats 30] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from genpolicy.models.diffusion import DiffusionPolicy, DiffusionPolicyConfig
from genpolicy.trainers.runner import limit_threads

OBS_DIM, ACT_DIM = 10, 2

DENOISERS = {
    "unet (256,512,1024)": dict(denoiser="unet", down_dims=[256, 512, 1024]),
    "unet (64,128,256)": dict(denoiser="unet", down_dims=[64, 128, 256]),
    "unet (32,64)": dict(denoiser="unet", down_dims=[32, 64]),  # the two-paths CPU config
    "mlp (256x3)": dict(denoiser="mlp", hidden_dims=[256, 256, 256]),
}


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


@torch.inference_mode()
def bench(name: str, kwargs: dict, batch: int, repeats: int) -> dict:
    config = DiffusionPolicyConfig(obs_dim=OBS_DIM, act_dim=ACT_DIM, **kwargs)
    policy = DiffusionPolicy(config).eval()
    obs = torch.randn(batch, config.obs_horizon, OBS_DIM)
    cond = policy.condition(policy.obs_normalizer.normalize(obs))
    x = torch.randn(batch, config.pred_horizon, ACT_DIM)
    timesteps = [step.timestep for step in policy.reverse_steps(x.device)]

    def forwards() -> None:
        for t in timesteps:
            policy.denoiser(x, t, cond)

    def chunk() -> None:
        policy.sample_chunk(obs)

    for _ in range(3):  # warm-up (allocator, oneDNN primitive caches)
        forwards()
        chunk()
    chunk_times, forward_times = [], []
    for _ in range(repeats):  # interleaved, so load spikes hit both
        chunk_times += _time(chunk, 1)
        forward_times += _time(forwards, 1)
    chunk_s = statistics.median(chunk_times)
    forward_s = statistics.median(forward_times)
    return {
        "denoiser": name,
        "batch": batch,
        "params_M": sum(p.numel() for p in policy.denoiser.parameters()) / 1e6,
        "chunk_ms": 1e3 * chunk_s,
        "fwd_ms": 1e3 * forward_s,
        "ratio": chunk_s / forward_s,
        "ratio_min": min(chunk_times) / min(forward_times),
        "chunks_per_s": batch / chunk_s,
        "actions_per_s": batch * config.action_horizon / chunk_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="skip the reference-size U-Net")
    args = parser.parse_args()
    threads = limit_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for name, kwargs in DENOISERS.items():
        if args.quick and "1024" in name:
            continue
        for batch in (1, 64):
            # the reference U-Net takes seconds per chunk on a CPU: fewer repeats
            repeats = args.repeats if "1024" not in name else max(3, args.repeats // (10 if batch == 64 else 4))
            rows.append(bench(name, kwargs, batch, repeats))
    print(f"DDIM-10 chunk sampling, To=2 Tp=16 Ta=8, obs_dim={OBS_DIM} act_dim={ACT_DIM}, "
          f"torch {torch.__version__}, {threads} thread(s)")
    header = f"{'denoiser':<21}{'params':>8}{'batch':>7}{'chunk ms':>10}{'10 fwd ms':>11}{'ratio':>7}{'ratio(min)':>11}{'chunks/s':>10}{'actions/s':>11}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['denoiser']:<21}{r['params_M']:>7.2f}M{r['batch']:>7}{r['chunk_ms']:>10.2f}{r['fwd_ms']:>11.2f}"
            f"{r['ratio']:>7.2f}{r['ratio_min']:>11.2f}{r['chunks_per_s']:>10.1f}{r['actions_per_s']:>11.1f}"
        )


if __name__ == "__main__":
    main()
