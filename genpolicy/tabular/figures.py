"""The IRL picture: true reward, recovered reward, expert and recovered visitation as images."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def irl_figure(path: str | Path, shape: tuple[int, int], true_reward: np.ndarray, recovered_reward: np.ndarray,
               expert_visitation: np.ndarray, recovered_visitation: np.ndarray, title: str = "",
               subtitle: str = "", marks: Sequence[tuple[int, str]] = ()) -> Path:
    """Four panels side by side, written to ``path`` (PNG).

    The recovered reward is shown after subtracting its mean and adding the true reward's
    (a state reward is identified only up to a constant), on the same colour scale as the
    true one; both visitations share one scale. ``marks`` are ``(state, letter)`` labels
    (e.g. holes and goal of FrozenLake). matplotlib is imported here, with the Agg backend,
    so importing `genpolicy.tabular` never needs a display or matplotlib at all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true_reward = np.asarray(true_reward, dtype=float).reshape(shape)
    shown = np.asarray(recovered_reward, dtype=float).reshape(shape)
    shown = shown - shown.mean() + true_reward.mean()
    lim = max(np.abs(true_reward).max(), np.abs(shown).max(), 1e-12)
    vmax = max(np.max(expert_visitation), np.max(recovered_visitation), 1e-12)
    panels = [("true reward", true_reward, "RdBu_r", -lim, lim),
              ("recovered reward (mean-aligned)", shown, "RdBu_r", -lim, lim),
              ("expert visitation", np.asarray(expert_visitation).reshape(shape), "viridis", 0, vmax),
              ("recovered visitation", np.asarray(recovered_visitation).reshape(shape), "viridis", 0, vmax)]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
    for ax, (name, image, cmap, lo, hi) in zip(axes, panels):
        im = ax.imshow(image, cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(name)
        ax.set_xticks([]), ax.set_yticks([])
        for state, letter in marks:
            ax.text(state % shape[1], state // shape[1], letter, ha="center", va="center", color="k", fontsize=11)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title or subtitle:
        fig.suptitle(title + ("\n" + subtitle if subtitle else ""), fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
