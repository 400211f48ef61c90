"""`genpolicy demo`: the multimodality story end to end on two-paths, on a CPU, in minutes.

1. collect scripted demonstrations (the expert passes the obstacle left or right, 50/50);
2. train BC baselines and generative policies on them with the Lightning trainer;
3. evaluate each in simulation (success, which way it went, normalized mode entropy);
4. write ``report.md`` + ``report.json`` with rollout plots and the diffusion policy's samples.

Every run directory is resumable, so an interrupted demo continues where it stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from genpolicy.evaluation import EvalResult

TASK = "two-paths"

# Diffusion Policy's horizons (To=2, Tp=16, Ta=8) for the chunked baselines, so they differ
# from the diffusion policy only in how they model the chunk.
CHUNKED = {"policy.obs_horizon": 2, "policy.pred_horizon": 16, "policy.action_horizon": 8}
MLP = {"policy.hidden_dims": [256, 256]}

# name -> (algorithm, config overrides (dotted keys reach nested configs), steps). Budgets
# chosen for ~2 CPU cores; every policy on two-paths, side by side
# (benchmarks/two_paths_table.py runs them all).
TWO_PATHS_ALGOS: dict[str, tuple[str, dict, int]] = {
    # Single-step (Markov) BC: after the first step the position tells which way the episode
    # goes, so even an MSE policy can break the tie from the start jitter and succeed.
    "bc-mse": ("bc", MLP, 5_000),
    "bc-gaussian": ("bc-gaussian", MLP, 5_000),
    "bc-gmm": ("bc-gmm", MLP, 5_000),
    # Chunked BC: one chunk is planned from the (ambiguous) start, so averaging the two ways
    # sends it straight into the obstacle.
    "bc-mse-chunk": ("bc", {**MLP, **CHUNKED}, 5_000),
    "bc-gaussian-chunk": ("bc-gaussian", {**MLP, **CHUNKED}, 5_000),
    "bc-gmm-chunk": ("bc-gmm", {**MLP, **CHUNKED}, 5_000),
    # The prior must be informative at a 2-D action: a higher KL weight keeps z ~ N(0, I)
    # samples on the data (kl_weight=1 leaves holes in the prior and ~80 % success).
    "vae": ("vae", {"kl_weight": 3.0}, 3_000),
    # Two observations of history let the GMM head tell the ways apart once committed.
    "gpt": ("gpt", {"policy.obs_horizon": 2}, 6_000),
    # A small U-Net is plenty for 2-D actions: 96-100 % success, both ways ~50/50.
    "diffusion": ("diffusion", {"policy.down_dims": [32, 64], "batch_size": 128, "optim.lr": 1e-3,
                                "optim.warmup_steps": 100}, 5_000),
}
DEMO_ALGOS = ("bc-mse", "bc-mse-chunk", "diffusion")


def train_and_evaluate(
    name: str, dataset, out: Path, *, steps: int | None = None, eval_episodes: int = 50, seed: int = 1_000,
) -> tuple["EvalResult", float]:
    """Train ``TWO_PATHS_ALGOS[name]`` on ``dataset`` into ``out / name`` (resumable), then
    evaluate it on two-paths. Returns the result and the training wall time in seconds."""
    from genpolicy.evaluation import evaluate
    from genpolicy.training import train

    algo_name, overrides, default_steps = TWO_PATHS_ALGOS[name]
    steps = steps or default_steps
    chunk = 20
    start = time.perf_counter()
    run = train(algo_name, data=dataset, out=out / name, overrides={
        **overrides, "steps": steps, "updates_per_step": chunk, "updates_per_epoch": max(chunk, steps // 4 // chunk * chunk)},
        eval_episodes=0, progress_bar=False, device_preset=False, verbose=False)
    algo = run.algo
    seconds = time.perf_counter() - start
    result = evaluate(algo.export_policy(), TASK, episodes=eval_episodes, seed=seed, record_observations=True)
    return result, seconds


def run_demo(out: Path, quick: bool = False, episodes: int | None = None) -> Path:
    from genpolicy.datasets import load_dataset
    from genpolicy.datasets.collect import collect
    from genpolicy.evaluation import results_table
    from genpolicy.sampling import sample_figure

    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    if not data.exists():
        collect(TASK, episodes or (20 if quick else 200), data, seed=0)
    dataset = load_dataset(data)
    print(f"[demo] data: {dataset.summary()}")

    results, timings = {}, {}
    for name in DEMO_ALGOS:
        results[name], timings[name] = train_and_evaluate(
            name, dataset, out, steps=40 if quick else None, eval_episodes=8 if quick else 50)
        print(f"[demo] {name}: {results[name].table()}  ({timings[name]:.0f}s training)")

    plot_rollout_grid(results, out / "rollouts.png")
    sample_figure(out / "diffusion" / "policy", out / "samples.png", num=64, rollouts=16, seed=0)
    report = {name: {**r.to_dict(per_episode=False), "train_seconds": timings[name]} for name, r in results.items()}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(_markdown(results_table(results), quick))
    print(f"[demo] wrote {out / 'report.md'}, rollouts.png, samples.png")
    return out / "report.md"


def plot_rollout_grid(results: dict, path: Path) -> None:
    """One panel per policy: its rollouts over the obstacle, titled with its success rate."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from genpolicy.evaluation.plots import plot_rollouts

    cols = min(4, len(results))
    rows = -(-len(results) // cols)
    fig = Figure(figsize=(4.2 * cols, 4.4 * rows))
    FigureCanvasAgg(fig)
    for i, (name, result) in enumerate(results.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        rate = 100 * (result.success_rate or 0.0)
        plot_rollouts(TASK, result, ax=ax, title=f"{name}: success {rate:.0f}%")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _markdown(table: str, quick: bool) -> str:
    note = "\n**Quick mode: tiny budgets, a smoke test rather than a result.**\n" if quick else ""
    return f"""# genpolicy demo: two paths around an obstacle
{note}
The expert passes the obstacle on the left or on the right with equal probability. A policy
that averages the two ways drives into the obstacle; a generative policy picks one way per
episode and takes both about equally often (normalized mode entropy near 1).

* `bc-mse`: single-step MSE behaviour cloning. After one step the position already tells
  which way the episode goes, so it breaks the tie from the start jitter and often succeeds.
* `bc-mse-chunk`: the same regression with Diffusion Policy's chunking (To=2, Tp=16, Ta=8):
  the first chunk is planned from the ambiguous start, averages the two ways and crashes
  (the side a crashed episode leaned to is still counted in `modes`).
* `diffusion`: the same chunking, with a diffusion model of the chunk.

{table}

![rollouts](rollouts.png)

Sampled futures of the diffusion policy from one start (left) and its rollouts (right):

![samples](samples.png)
"""
