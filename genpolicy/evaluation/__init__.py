"""Evaluation: vectorized rollouts, normalized scores, success, videos, modes and plots.

    from genpolicy.evaluation import evaluate
    result = evaluate(policy, "two-paths", episodes=50, seed=0, num_envs=8, video="ep0.mp4")
    print(result.table()); json.dump(result.to_dict(), f)

``Evaluator(env, num_envs)`` keeps the vector env open across calls (periodic evaluation).
Plots live in ``genpolicy.evaluation.plots`` (imported on use: matplotlib is slow to import).

Modules, each with one job: ``envs`` (what env an evaluation runs), ``references`` (reference
returns by env id), ``evaluator`` (run a policy, summarize), ``results`` (EvalResult, tables),
``video``, ``multimodality``, ``scores``; the episode loop itself is `genpolicy.tasks.rollout`,
shared with data collection.
"""

from genpolicy.evaluation.envs import EnvTarget, make_vector_env, resolve_env
from genpolicy.evaluation.evaluator import Evaluator, evaluate
from genpolicy.evaluation.multimodality import ModeStats, mode_counts, mode_fractions, normalized_entropy
from genpolicy.evaluation.references import D4RL_LOCOMOTION, reference_scores, register_reference_scores
from genpolicy.evaluation.results import EvalResult, results_table
from genpolicy.evaluation.scores import ScoreTracker, normalized_score
from genpolicy.evaluation.video import ffmpeg_available, record_video

__all__ = [
    "D4RL_LOCOMOTION",
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
    "reference_scores",
    "register_reference_scores",
    "resolve_env",
    "results_table",
]
