"""The one registry: names and aliases -> entries, "did you mean", lazy discovery, broken modules reported.

After lm-evaluation-harness's registry. One instance per kind of thing (ugbench models, ugbench tasks, ugdata
task builders); each kind keeps its own entry type and its own extra resolution (the model registry's
`matches()` predicates, the task registry's derived variants), and shares this:

- names and aliases, each registered once (a second registration of a name or alias is a ValueError: two
  files claiming one name is a bug, not a user mistake);
- lazy discovery: on the first lookup every module of `package` (not `_private`, not in `skip`) is imported,
  in name order, so a file registers itself by existing and adding one touches no other file;
- broken entries are reported, not fatal: a module that fails to import is recorded in `broken` with its
  error (list commands show it, an unknown-name error names it) and a RuntimeWarning; the other modules load;
- "did you mean": an unknown name raises `error` (a UserError subclass) with the closest names (difflib).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from ugcore.errors import UserError

T = TypeVar("T")


class UnknownNameError(UserError):
    """A name that no entry of a registry has (the message lists the closest names)."""


class Registry(Generic[T]):
    """Entries of one kind by name, with aliases; `package` is discovered on first lookup."""

    def __init__(self, kind: str, package: str | None = None, *, skip: tuple[str, ...] = ("registry",),
                 error: type[UserError] = UnknownNameError, list_command: str = ""):
        self.kind = kind  # "model", "task", "task builder": used in messages
        self.package = package
        self.skip = skip
        self.error = error
        self.list_command = list_command  # e.g. "ugbench list-tasks", named in unknown-name errors
        self.entries_: dict[str, T] = {}
        self.aliases: dict[str, str] = {}
        self.broken: dict[str, str] = {}  # module name -> why it failed to import
        self.discovered = package is None

    # -- registering -------------------------------------------------------------------------------------
    def add(self, name: str, entry: T, aliases: tuple[str, ...] | list[str] = ()) -> T:
        for key in (name, *aliases):
            if key in self.entries_ or key in self.aliases:
                raise ValueError(f"{self.kind} name or alias '{key}' registered twice")
        if len(set(aliases)) != len(aliases) or name in aliases:
            raise ValueError(f"{self.kind} '{name}' lists an alias twice")
        self.entries_[name] = entry
        for a in aliases:
            self.aliases[a] = name
        return entry

    # -- discovery ---------------------------------------------------------------------------------------
    def discover(self) -> None:
        """Import every public module of `package` (once); a module that fails is recorded, not raised."""
        if self.discovered:
            return
        self.discovered = True  # set first: a module that looks a name up while importing must not recurse
        pkg = importlib.import_module(self.package)
        for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            if mod.name in self.skip or mod.name.startswith("_"):
                continue
            try:
                importlib.import_module(f"{pkg.__name__}.{mod.name}")
            except Exception as e:  # noqa: BLE001 - reported (warning, list commands, lookup errors), not swallowed
                self.broken[mod.name] = f"{type(e).__name__}: {e}"
                warnings.warn(f"{self.package}: {self.kind} module '{mod.name}' failed to import: "
                              f"{self.broken[mod.name]}", RuntimeWarning, stacklevel=3)

    # -- lookup ------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        self.discover()
        return sorted(self.entries_)

    def values(self) -> list[T]:
        """Every entry, sorted by name."""
        self.discover()
        return [self.entries_[k] for k in sorted(self.entries_)]

    def find(self, name: str) -> T | None:
        """The entry named `name` (or aliased so), else None."""
        self.discover()
        key = name.strip()
        if key in self.entries_:
            return self.entries_[key]
        if key in self.aliases:
            return self.entries_[self.aliases[key]]
        return None

    def unknown(self, name: str, extra: str = "") -> UserError:
        """The error for an unknown name: closest names, broken modules, where to list them, `extra`."""
        close = difflib.get_close_matches(name.strip(), sorted(set(self.entries_) | set(self.aliases)), n=3,
                                          cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        if self.broken:
            hint += f" ({self.kind} modules that failed to import: " + "; ".join(
                f"{m} ({why})" for m, why in sorted(self.broken.items())) + ")"
        if extra:
            hint += f" {extra}"
        if self.list_command:
            hint += f" See `{self.list_command}`."
        return self.error(f"unknown {self.kind} '{name}'.{hint}")

    def get(self, name: str) -> T:
        """The entry named `name`; `error` with suggestions otherwise."""
        found = self.find(name)
        if found is None:
            raise self.unknown(name)
        return found

    # -- tests -------------------------------------------------------------------------------------------
    @contextmanager
    def scratch(self) -> Iterator[Registry[T]]:
        """Within the block, registrations (and a fresh discovery) are undone on exit: for tests that add a
        module to `package` or register an entry by hand. Enter it BEFORE adding a folder to the package's
        path: it discovers first, and what it finds is the state it restores."""
        self.discover()
        saved = (dict(self.entries_), dict(self.aliases), dict(self.broken))
        try:
            yield self
        finally:
            for live, old in zip((self.entries_, self.aliases, self.broken), saved, strict=True):
                live.clear()  # in place: modules hold references (e.g. ugbench.models.registry.BROKEN)
                live.update(old)
            self.discovered = True

    def rediscover(self) -> None:
        """Import `package`'s modules again that are not imported yet (a test added a folder to its path)."""
        self.discovered = False
        self.discover()

