"""The task data builders, found by themselves: each ugdata/tasks/*.py module registers its writers with
`@register_builder("<task folder name>", order=N)`; the build runs them in ascending `order`.

`order` is explicit (not the module name) because it is the builder's order of writing tasks, part of what a
build does; the values below reproduce the order of the former hand-written table exactly:
    10 geoloc_rank, 20 retrieval_caption2image, 30 retrieval_path2image, 40 retrieval_image2image,
    50 perception_osm, 60 grounding_nearest_poi, 70 grounding_distance_direction, 80 streetsem, 90 streetsem_fov.
A new task takes the next free number (or any: builders are independent of each other).

A builder is `fn(inp: TaskInputs) -> TaskOutput | None` (None or TaskNotBuilt: the data cannot support the
task; the build records why in manifest["omitted_tasks"]). A module that fails to import is recorded in
`BUILDERS.broken`, and `task_builders()` refuses to build without it (the data would silently lack its tasks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ugcore.errors import UserError
from ugcore.registry import Registry

Builder = Callable[[Any], Any]  # TaskInputs -> TaskOutput | None


@dataclass(frozen=True)
class BuilderEntry:
    name: str  # the task folder it writes: DIR/tasks/<name>/
    build: Builder
    order: int


class UnknownBuilderError(UserError):
    pass


BUILDERS: Registry[BuilderEntry] = Registry("task builder", "ugdata.tasks", error=UnknownBuilderError)


def register_builder(name: str, *, order: int) -> Callable[[Builder], Builder]:
    """Decorator on a task writer: `@register_builder("geoloc_rank", order=10)`."""

    def deco(fn: Builder) -> Builder:
        taken = {e.order: e.name for e in BUILDERS.entries_.values()}
        if order in taken:
            raise ValueError(f"task builder order {order} of '{name}' is already taken by '{taken[order]}'")
        BUILDERS.add(name, BuilderEntry(name, fn, order))
        return fn

    return deco


def task_builders() -> dict[str, Builder]:
    """Every registered builder, name -> function, in build order."""
    BUILDERS.discover()
    if BUILDERS.broken:
        raise RuntimeError("task builder modules failed to import, so a build would lack their tasks: "
                           + "; ".join(f"ugdata.tasks.{m}: {why}" for m, why in sorted(BUILDERS.broken.items())))
    return {e.name: e.build for e in sorted(BUILDERS.values(), key=lambda e: e.order)}


def __getattr__(name: str):
    """`TASK_BUILDERS` (the former hand-written table's name): the discovered builders, in build order."""
    if name == "TASK_BUILDERS":
        return task_builders()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
