"""Model registry: names and aliases -> loader functions, with "did you mean" suggestions.

After lm-evaluation-harness's registry. Every module in ugbench/models/ is imported on first lookup, so an
adapter registers itself by existing: adding one touches no other file. A loader takes the name or path the
user typed plus keyword options and returns an object satisfying ugcore.protocol.EncoderProtocol.

Resolution order for `--model X`: exact name or alias; then a `matches(X)` predicate (local folders, hub ids
such as "Qwen/Qwen2-VL-2B-Instruct", "module:attr"); otherwise an error with the closest names.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ugcore.errors import UserError

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


_REGISTRY: dict[str, ModelEntry] = {}
_ALIASES: dict[str, str] = {}
_DISCOVERED = False
BROKEN: dict[str, str] = {}  # adapter module -> why it failed to import (shown by list-models and errors)


class UnknownModelError(UserError):
    pass


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
        if name in _REGISTRY or name in _ALIASES:
            raise ValueError(f"model name '{name}' registered twice")
        entry = ModelEntry(name, fn, tuple(aliases), description, matches, priority)
        _REGISTRY[name] = entry
        for a in entry.aliases:
            if a in _ALIASES or a in _REGISTRY:
                raise ValueError(f"model alias '{a}' registered twice")
            _ALIASES[a] = name
        return fn

    return deco


def discover() -> None:
    """Import every adapter module in ugbench.models (once)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    from ugbench import models

    for mod in sorted(pkgutil.iter_modules(models.__path__), key=lambda m: m.name):
        if mod.name != "registry" and not mod.name.startswith("_"):
            # One broken adapter (a missing optional dependency, a bug) must not take every other model
            # down with it: record why, warn, and carry on; `ugbench list-models` shows it.
            try:
                importlib.import_module(f"{models.__name__}.{mod.name}")
            except Exception as e:  # noqa: BLE001 - reported, not swallowed
                import warnings

                BROKEN[mod.name] = f"{type(e).__name__}: {e}"
                warnings.warn(
                    f"ugbench model adapter '{mod.name}' failed to import: {BROKEN[mod.name]}",
                    RuntimeWarning,
                    stacklevel=2,
                )
    _DISCOVERED = True


def _looks_like_path(key: str) -> bool:
    """A file-system path rather than a name or a hub id ("org/model"): absolute, relative with ./ or ../,
    home-relative, Windows-style, or with two or more '/' separators."""
    return (key.startswith(("/", "./", "../", "~", ".\\")) or "\\" in key or key.count("/") >= 2
            or key.endswith("/")) and not Path(key).expanduser().exists()


def entries() -> list[ModelEntry]:
    discover()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def resolve(name_or_path: str) -> ModelEntry:
    discover()
    key = name_or_path.strip()
    if key in _REGISTRY:
        return _REGISTRY[key]
    if key in _ALIASES:
        return _REGISTRY[_ALIASES[key]]
    matching = [e for e in _REGISTRY.values() if e.matches is not None and e.matches(key)]
    if matching:
        return max(matching, key=lambda e: e.priority)
    if _looks_like_path(key):
        raise UnknownModelError(
            f"no such path '{name_or_path}': no model folder or file there (and it is not a registered model "
            "name); check the path, e.g. a training run's final/ folder"
        )
    names = sorted(set(_REGISTRY) | set(_ALIASES))
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    if BROKEN:
        hint += f" (adapters that failed to import: {', '.join(sorted(BROKEN))})"
    if "/" in key and not Path(key).expanduser().exists():
        hint += f" There is no path '{name_or_path}' either, and it is not a hub id of a supported family."
    raise UnknownModelError(
        f"unknown model '{name_or_path}'.{hint} See `ugbench list-models`; a local folder, a hub id of a "
        "supported family, or `module:attr` also work."
    )


def load_model(name_or_path: str, **options: Any):
    """Resolve and load a model; the result satisfies EncoderProtocol."""
    entry = resolve(name_or_path)
    return entry.loader(name_or_path, **options)
