"""Evaluation: vectorized rollouts, normalized scores, success, videos, modes and plots.

    from genpolicy.evaluation import evaluate
    result = evaluate(policy, "two-paths", episodes=50, seed=0, num_envs=8, video="ep0.mp4")
    print(result.table()); json.dump(result.to_dict(), f)

``Evaluator(env, num_envs)`` keeps the vector env open across calls (periodic evaluation).
Plots live in ``genpolicy.evaluation.plots`` (imported on use: matplotlib is slow to import).
"""

from genpolicy.evaluation.multimodality import ModeStats, mode_counts, mode_fractions, normalized_entropy
from genpolicy.evaluation.rollout import (
    EnvTarget,
    EvalResult,
    Evaluator,
    evaluate,
    make_vector_env,
    resolve_env,
    results_table,
)
from genpolicy.evaluation.scores import ScoreTracker, normalized_score
from genpolicy.evaluation.video import ffmpeg_available, record_video

__all__ = [
    "EnvTarget",
    "EvalResult",
    "Evaluator",
    "ModeStats",
    "ScoreTracker",
    "evaluate",
    "ffmpeg_available",
    "make_vector_env",
    "mode_counts",
    "mode_fractions",
    "normalized_entropy",
    "normalized_score",
    "record_video",
    "resolve_env",
    "results_table",
]
