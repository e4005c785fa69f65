"""Named, pinned build presets: `ugdata build --preset NAME --out DIR` (package data: `<NAME>.yaml` here).

Why: a benchmark release is one exact build (cities, boxes, points per city, held-out cities, seed, task sizes).
Writing it down as package data, rather than as a long command line in a README, lets anyone rebuild the same
data (and so the same fingerprint) with one name, and lets the manifest record which preset it came from.

A preset file holds `name`, `description` and `config`: BuildConfig fields (an unknown field is refused, so a
typo cannot silently fall back to a default). Explicit CLI flags or keyword overrides win over preset values.
The preset's name is recorded in manifest["config"]["preset"] but not on the dataset card: the fingerprint is the
data's, so the same values given flag by flag build the same fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

from ugcore.errors import UserError
from ugcore.registry import Registry


class UnknownPresetError(UserError):
    """A --preset that names no packaged preset (the message lists the closest names)."""


@dataclass(frozen=True)
class Preset:
    """One preset file, parsed."""

    name: str
    description: str
    config: dict[str, Any]  # BuildConfig field -> value (lists where BuildConfig wants tuples: see build_config)


def _registry() -> Registry[Preset]:
    """Every `*.yaml` in this package, read once (a broken file is a packaging bug: ValueError, not a user error)."""
    import yaml

    reg: Registry[Preset] = Registry("preset", None, error=UnknownPresetError, list_command="ugdata presets")
    for f in sorted(resources.files(__name__).iterdir(), key=lambda p: p.name):
        if not f.name.endswith(".yaml"):
            continue
        raw = yaml.safe_load(f.read_text(encoding="utf-8"))
        name = f.name[: -len(".yaml")]
        if not isinstance(raw, dict) or raw.get("name") != name or not isinstance(raw.get("config"), dict):
            raise ValueError(f"preset file {f.name}: needs name: {name}, description and a config mapping")
        reg.add(name, Preset(name, str(raw.get("description", "")).strip(), dict(raw["config"])))
    return reg


_REG: Registry[Preset] | None = None


def presets() -> Registry[Preset]:
    global _REG
    if _REG is None:
        _REG = _registry()
    return _REG


def get(name: str) -> Preset:
    """The preset called `name`; a one-line UserError with the closest names otherwise."""
    return presets().get(name)


def names() -> list[str]:
    return presets().names()


def build_config(name: str, **overrides: Any):
    """A BuildConfig holding preset `name` (recorded in its `preset` field), then `overrides` on top."""
    from ugdata.build import BuildConfig

    p = get(name)
    known = {f.name for f in fields(BuildConfig)}
    bad = sorted(set(p.config) - known)
    if bad:
        raise ValueError(f"preset {name}: unknown build option(s) {bad}")
    vals = {k: (tuple(v) if k in ("clip", "bbox") and v is not None else v) for k, v in p.config.items()}
    cfg = BuildConfig(**vals, preset=name)
    for k, v in overrides.items():
        if k not in known:
            raise UserError(f"unknown build option '{k}'")
        setattr(cfg, k, v)
    cfg.__post_init__()  # floats stay floats whichever way they came (the card prints them)
    return cfg
