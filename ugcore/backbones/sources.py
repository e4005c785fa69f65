"""Where a backbone comes from: names, backbone configs, local folders, cached hub snapshots, adapter folders.

Kept apart from the Backbone class so that "what is this string?" can be answered cheaply (no weights are
loaded; tiny configs are built only when resolved for loading) by the registry matcher and by uge's config
checks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ugcore.errors import UserError
from ugcore.shared import cache_root

from .families import FAMILIES, FamilySpec, detect_family
from .lora import BACKBONE_RECORD, read_backbone_record
from .tiny import build_tiny_backbone, config_hash, configs_dir, is_built, read_backbone_yaml, tiny_marker


@dataclass
class ResolvedSource:
    """Where a backbone comes from, after names, configs and adapter folders are resolved."""

    model_source: str  # local folder or hub id handed to from_pretrained
    family: FamilySpec
    adapter_path: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # backbone YAML, when named by config
    display_name: str = ""
    graph_tokens: bool = False  # the adapter was trained with graph tokens added
    hub_id: str | None = None  # the hub repository, when the weights come from one


def _is_hub_id(s: str) -> bool:
    return s.count("/") == 1 and not s.startswith((".", "/", "~")) and not Path(s).exists()


def _cached_snapshot(hub_id: str, revision: str | None, cache_dir: str | Path | None) -> str | None:
    """The local snapshot folder of a hub repository already in the HF cache, else None (no network)."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(
            hub_id, revision=revision, cache_dir=str(cache_dir) if cache_dir else None, local_files_only=True
        )
    except Exception:  # noqa: BLE001 - not cached (or not a valid id): the caller falls back to the hub
        return None


def resolve_source(
    name_or_path: str | Path, *, seed: int = 0, cache_dir: str | Path | None = None
) -> ResolvedSource:
    """Turn what the user typed into (model folder or hub id, family, adapter); builds tiny configs."""
    key = str(name_or_path)
    path = Path(key).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        marker = tiny_marker(path)  # a tiny folder remembers its config, so adapters can name it
        cfg = dict(marker["config"]) if marker and isinstance(marker.get("config"), dict) else {}
        name = cfg.get("name") or path.name
        return ResolvedSource(str(path), detect_family(path), config=cfg, display_name=name)
    if path.is_dir() and (path / "adapter_config.json").is_file():
        return _resolve_adapter_dir(path, seed, cache_dir)
    if path.is_dir():
        raise UserError(
            f"{path} holds neither a model (config.json) nor a LoRA adapter (adapter_config.json)"
        )
    if path.suffix in (".yaml", ".yml") or (configs_dir() / f"{key}.yaml").is_file():
        cfg, cfg_path = read_backbone_yaml(key)
        if is_built(cfg):
            name = cfg.get("name", cfg_path.stem)
            out = cache_root() / "backbones" / f"{name}-{config_hash(cfg, seed)}"
            built = build_tiny_backbone(cfg_path, out, seed=seed)
            return ResolvedSource(str(built), FAMILIES[cfg["family"]], config=cfg, display_name=name)
        if "hub_id" not in cfg:
            raise UserError(f"{cfg_path}: a real backbone config needs 'hub_id'")
        local = _cached_snapshot(cfg["hub_id"], cfg.get("revision"), cache_dir)
        return ResolvedSource(
            local or cfg["hub_id"],
            FAMILIES[cfg["family"]],
            config=cfg,
            display_name=cfg["hub_id"],
            hub_id=cfg["hub_id"],
        )
    if _is_hub_id(key):
        local = _cached_snapshot(key, None, cache_dir)
        if local:  # already downloaded: load the snapshot folder (its name is the commit = revision)
            return ResolvedSource(local, detect_family(local), display_name=key, hub_id=key)
        return ResolvedSource(key, detect_family(key), display_name=key, hub_id=key)
    raise UserError(
        f"'{key}' is not a folder, a backbone config ({', '.join(sorted(p.stem for p in configs_dir().glob('*.yaml')))}) "
        "or a hub id of a supported VLM family"
    )


def _resolve_adapter_dir(path: Path, seed: int, cache_dir: str | Path | None) -> ResolvedSource:
    record = read_backbone_record(path) or {}
    base = record.get("base")
    if record.get("base_config") and not (base and Path(base).is_dir()):
        base = record["base_config"]  # a tiny base is rebuilt from its config name on this machine
        seed = int(record.get("base_seed", seed))
    if not base:
        base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base:
        raise UserError(f"{path}: adapter folder names no base model; pass the base and adapter_path=")
    inner = resolve_source(base, seed=seed, cache_dir=cache_dir)
    inner.adapter_path = str(path)
    inner.graph_tokens = bool(record.get("graph_tokens"))
    inner.display_name = path.name
    return inner


def is_vlm_source(name_or_path: str) -> bool:
    """True for a local VLM folder, an adapter folder, or a hub id of a supported family (no download)."""
    path = Path(name_or_path).expanduser()
    try:
        if path.is_dir():
            if (path / "config.json").is_file():
                detect_family(path)
                return True
            if not (path / "adapter_config.json").is_file():
                return False
            if (path / BACKBONE_RECORD).is_file():
                return True
            base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path") or ""
            return bool(base) and is_vlm_source(base)
    except (UserError, OSError, json.JSONDecodeError):
        return False
    if not _is_hub_id(str(name_or_path)):
        return False
    try:  # the cached config's model_type when downloaded, else the repository name
        detect_family(str(name_or_path))
    except UserError:
        return False
    return True


def weights_revision(source: str, config: dict[str, Any]) -> str:
    """A stable id of the weights: the hub commit, the tiny config hash, or a hash of a local folder."""
    marker = tiny_marker(source) if Path(source).is_dir() else None
    if marker:
        kind = "tiny" if (marker.get("config") or {}).get("tiny") else "built"
        return f"{kind}-{marker['config_hash']}"
    p = Path(source).resolve()
    if p.is_dir():
        if p.parent.name == "snapshots":  # a folder inside the HF cache is named by its commit
            return p.name
        h = hashlib.sha256((p / "config.json").read_bytes())
        for f in sorted(p.glob("*.safetensors")) + sorted(p.glob("*.bin")):
            h.update(f"{f.name}:{f.stat().st_size}".encode())
        return f"local-{h.hexdigest()[:16]}"
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(source, "config.json", revision=config.get("revision"))
        if isinstance(found, str):
            return Path(found).parent.name
    except Exception:  # noqa: BLE001 - revision is informative only
        pass
    return str(config.get("revision") or "unknown")
