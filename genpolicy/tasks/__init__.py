"""Built-in tasks: an env, a scripted expert and measured reference scores for each.

Importing this package registers genpolicy's own gymnasium ids (``genpolicy/TwoPaths-v0`` and
the episodic PointMaze twins) so ``gym.make(task.env_id)`` works anywhere afterwards. MuJoCo
and gymnasium-robotics are imported only when a PointMaze env is actually built.
"""

from __future__ import annotations

from genpolicy.tasks import maze2d, point2d, pointmaze, skills, two_paths, wall_point  # skills: registers the 'skill' env wrapper
from genpolicy.tasks.base import Expert, RandomExpert, ScriptedExpert, Task, rollout, success_of
from genpolicy.tasks.maze2d import MAZE2D_MEDIUM, MAZE2D_UMAZE
from genpolicy.tasks.point2d import POINT2D
from genpolicy.tasks.pendulum import PENDULUM
from genpolicy.tasks.pointmaze import POINTMAZE_MEDIUM, POINTMAZE_UMAZE
from genpolicy.tasks.two_paths import TWO_PATHS, TWO_PATHS_VALUE

two_paths.register()
pointmaze.register()
maze2d.register()
point2d.register()
wall_point.register()  # AIRL's transfer check (not in TASKS: a benchmark world, like lane)

TASKS: dict[str, Task] = {
    task.name: task for task in (PENDULUM, POINTMAZE_UMAZE, POINTMAZE_MEDIUM, MAZE2D_UMAZE, MAZE2D_MEDIUM, TWO_PATHS, TWO_PATHS_VALUE,
                       POINT2D)
}


def list_tasks() -> list[str]:
    return sorted(TASKS)


def get_task(name: str | Task) -> Task:
    """The built-in task called ``name`` (a `Task` passes through unchanged)."""
    if isinstance(name, Task):
        return name
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}") from None


__all__ = ["TASKS", "Task", "Expert", "ScriptedExpert", "RandomExpert", "get_task", "list_tasks", "rollout", "success_of"]
