"""Tasks: loss, metrics and output activation per model type. Import registers them all."""

from raytrain.tasks import anomaly, classification, edges, regression  # noqa: F401
from raytrain.tasks.base import (
    Task,
    create_task,
    higher_is_better,
    list_tasks,
    register_task,
    task_class,
)

__all__ = [
    "Task",
    "create_task",
    "higher_is_better",
    "list_tasks",
    "register_task",
    "task_class",
]
