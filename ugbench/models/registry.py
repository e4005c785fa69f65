"""Model registry: names and aliases -> loader functions, with "did you mean" suggestions.

One ugcore.registry.Registry (after lm-evaluation-harness's registry). Every module in ugbench/models/ is imported on first lookup, so an
adapter registers itself by existing: adding one touches no other file. A loader takes the name or path the
user typed plus keyword options and returns an object satisfying ugcore.protocol.EncoderProtocol.

Resolution order for `--model X`: exact name or alias; then a `matches(X)` predicate (local folders, hub ids
such as "Qwen/Qwen2-VL-2B-Instruct", "module:attr"); otherwise an error with the closest names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ugcore.errors import UserError
from ugcore.registry import Registry

Loader = Callable[..., Any]


@dataclass
class ModelEntry:
    name: str
    loader: Loader
    aliases: tuple[str, ...] = ()
    description: str = ""
    matches: Callable[[str], bool] | None = None
    priority: int = 0  # higher wins among matching predicates
    extra: dict[str, Any] = field(default_factory=dict)


class UnknownModelError(UserError):
    pass


#: the registry (ugcore.registry.Registry): entries by name and alias; `.broken`: adapter module -> why it
#: failed to import (one broken adapter, e.g. a missing optional dependency, takes no other model down).
MODELS: Registry[ModelEntry] = Registry("model", "ugbench.models", error=UnknownModelError,
                                        list_command="ugbench list-models")
BROKEN = MODELS.broken  # adapter module -> why it failed to import (shown by list-models and errors)


def register(
    name: str,
    *,
    aliases: tuple[str, ...] | list[str] = (),
    description: str = "",
    matches: Callable[[str], bool] | None = None,
    priority: int = 0,
) -> Callable[[Loader], Loader]:
    """Decorator: `@register("bm25", aliases=["tfidf"], description="...")` on a loader function."""

    def deco(fn: Loader) -> Loader:
        MODELS.add(name, ModelEntry(name, fn, tuple(aliases), description, matches, priority), tuple(aliases))
        return fn

    return deco


def discover() -> None:
    """Import every adapter module in ugbench.models (once)."""
    MODELS.discover()


def _looks_like_path(key: str) -> bool:
    """A file-system path rather than a name or a hub id ("org/model"): absolute, relative with ./ or ../,
    home-relative, Windows-style, or with two or more '/' separators."""
    return (key.startswith(("/", "./", "../", "~", ".\\")) or "\\" in key or key.count("/") >= 2
            or key.endswith("/")) and not Path(key).expanduser().exists()


def entries() -> list[ModelEntry]:
    return MODELS.values()


def resolve(name_or_path: str) -> ModelEntry:
    key = name_or_path.strip()
    found = MODELS.find(key)
    if found is not None:
        return found
    matching = [e for e in MODELS.values() if e.matches is not None and e.matches(key)]
    if matching:
        return max(matching, key=lambda e: e.priority)
    if _looks_like_path(key):
        raise UnknownModelError(
            f"no such path '{name_or_path}': no model folder or file there (and it is not a registered model "
            "name); check the path, e.g. a training run's final/ folder"
        )
    extra = ""
    if "/" in key and not Path(key).expanduser().exists():
        extra = f"There is no path '{name_or_path}' either, and it is not a hub id of a supported family."
    raise MODELS.unknown(name_or_path, extra + (" " if extra else "") + "A local folder, a hub id of a "
                         "supported family, or `module:attr` also work.")


def load_model(name_or_path: str, **options: Any):
    """Resolve and load a model; the result satisfies EncoderProtocol."""
    entry = resolve(name_or_path)
    return entry.loader(name_or_path, **options)
