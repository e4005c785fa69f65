"""UGBench tasks, one file each; see ugbench/tasks/registry.py for how a file registers a task."""

from .registry import TaskMeta, entries, get_task, register_task

__all__ = ["TaskMeta", "entries", "get_task", "register_task"]
