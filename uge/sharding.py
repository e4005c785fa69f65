"""FSDP2 (torch `fully_shard`) for the UGE trainer: shard the frozen backbone, keep the small heads replicated.

Why not `accelerator.prepare(model)`: accelerate only turns FSDP on for GPUs (with `Accelerator(cpu=True)` an
FSDP launch silently becomes plain MULTI_CPU data parallel), its FSDP2 preparation is written for Hugging Face
causal LMs (input/output embeddings, final norm) rather than for an embedder around one, and it cannot keep
parameters out of FSDP per module. This module reads the same launch settings (`fsdp_config` of the accelerate
YAML, via accelerate's FullyShardedDataParallelPlugin) and applies `fully_shard` itself.

What is sharded and why. FSDP issues collectives inside every forward and backward of a sharded unit, so
every process must run the same units the same number of times, and a reduce-scatter needs the same set of
gradients on every process. The UGE model's control flow depends on the data (the vision tower runs only for
batches with images, the graph encoder only for items with a subgraph), so:
  * units = the layer classes (`fsdp_transformer_layer_cls_to_wrap`, else the backbone's `_no_split_modules`)
    that run on a text-only probe input, i.e. the language model's decoder layers, which every input passes;
  * the root unit (the whole UGEModel) holds the other frozen weights (embeddings, vision tower, lm head):
    sharded at rest, gathered once at the start of every forward, whatever the batch holds;
  * trainable parameters outside the units (projection, temperature -- a scalar FSDP cannot shard --, the
    graph encoder, vision-tower LoRA) are left out of FSDP: replicated, and averaged by the trainer's one flat
    all-reduce per step (uge.distributed.all_reduce_grads), exactly as without FSDP.
GradCache runs a data-dependent number of forward passes; the trainer pads every process to the same chunk
count (uge.gradcache.gradcache_step, `n_chunks`).

Checkpoints stay what they are without FSDP: the trainable tensors are gathered to full size on every
process (collective; LoRA only, small) and rank 0 writes the peft adapter and heads as safetensors, and the
optimizer state in torch's usual index-keyed layout, so an FSDP checkpoint resumes with or without FSDP.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ugcore.errors import UserError

DEEPSPEED_UNSUPPORTED = (
    "DeepSpeed launches are not supported by uge's trainer: it runs several backward passes per optimizer step "
    "(GradCache chunks, train.gradient_accumulation_steps), and under DeepSpeed ZeRO-2 a second engine.backward() "
    "before engine.step() does not add to the gradient (deepspeed 0.19.8, measured on CPU: the update equals that "
    "of one backward), so training would silently use part of each batch. ZeRO-2 also shards only gradients and "
    "optimizer state, i.e. the LoRA/graph-encoder state (<0.5 GB even for 7B backbones), not the frozen weights. "
    "Launch with configs/accelerate/multi_gpu_ddp.yaml, or configs/accelerate/fsdp.yaml to shard the frozen "
    "backbone (docs/training.md, 'Launch modes')"
)


def _env_true(name: str) -> bool:
    return os.environ.get(name, "false").lower() in ("1", "true", "yes")


def deepspeed_requested() -> bool:
    """True for a DeepSpeed launch (`accelerate launch` sets ACCELERATE_USE_DEEPSPEED), also on CPU where
    accelerate ignores DeepSpeed. Checked before the Accelerator exists: creating one for a DeepSpeed launch
    without deepspeed installed fails with an ImportError that would hide the real reason."""
    return _env_true("ACCELERATE_USE_DEEPSPEED")


def fsdp_requested(accelerator) -> bool:
    """True for an FSDP launch, also on CPU (accelerate then reports MULTI_CPU and has no FSDP plugin)."""
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.FSDP or _env_true("ACCELERATE_USE_FSDP")


@dataclass
class FSDPSettings:
    """The launch's fsdp_config, as far as uge uses it."""

    reshard_after_forward: bool = True
    wrap_classes: list[str] | None = None  # None: the backbone's _no_split_modules
    wrap: bool = True  # False: NO_WRAP (one unit, the root)


def fsdp_settings(accelerator) -> FSDPSettings:
    """Read and check the FSDP launch settings; unsupported ones are a UserError (before any weights load)."""
    from accelerate.utils import FullyShardedDataParallelPlugin
    from torch.distributed.fsdp.wrap import size_based_auto_wrap_policy, transformer_auto_wrap_policy

    plugin = getattr(accelerator.state, "fsdp_plugin", None) or FullyShardedDataParallelPlugin()
    bad = []
    if plugin.fsdp_version != 2:
        bad.append(f"fsdp_version: {plugin.fsdp_version} (FSDP1 wraps modules in FlatParameter units, which the "
                   "adapter's direct access to input embeddings and the replicated heads do not survive); set fsdp_version: 2")
    if plugin.activation_checkpointing:
        bad.append("fsdp_activation_checkpointing: true; set it false and use backbone.gradient_checkpointing "
                   "(Hugging Face checkpointing of the decoder layers, on by default)")
    from torch.distributed.fsdp import CPUOffloadPolicy

    if isinstance(plugin.cpu_offload, CPUOffloadPolicy) or getattr(plugin.cpu_offload, "offload_params", False):
        bad.append("fsdp_offload_params: true (untested with the replicated heads and GradCache); set it false")
    policy = plugin.auto_wrap_policy
    fn = getattr(policy, "func", policy)
    if fn is size_based_auto_wrap_policy:
        bad.append("fsdp_auto_wrap_policy: SIZE_BASED_WRAP (it may wrap modules that only some batches run, e.g. "
                   "the vision tower); use TRANSFORMER_BASED_WRAP or NO_WRAP")
    if bad:
        raise UserError("unsupported FSDP setting(s) in the accelerate config: " + "; ".join(bad))
    rafw = plugin.reshard_after_forward
    return FSDPSettings(
        reshard_after_forward=bool(rafw) if not isinstance(rafw, str) else rafw.upper() != "NO_SHARD",
        wrap_classes=list(plugin.transformer_cls_names_to_wrap) if plugin.transformer_cls_names_to_wrap else None,
        wrap=fn is transformer_auto_wrap_policy,
    )


@dataclass
class ShardPlan:
    """What `shard_model` did: the sharded units and the trainable parameters left replicated."""

    units: list[str] = field(default_factory=list)  # qualified names of the sharded layer modules
    replicated: list[nn.Parameter] = field(default_factory=list)  # trainable, outside FSDP: all-reduced by the trainer
    sharded: list[nn.Parameter] = field(default_factory=list)  # trainable DTensors: FSDP reduce-scatters their grads


def _no_split_classes(model: nn.Module) -> list[str]:
    names: list[str] = []
    for m in model.modules():
        for n in getattr(m, "_no_split_modules", None) or []:
            if n not in names:
                names.append(n)
    return names


def _modules_run_on_probe(model: nn.Module, candidates: list[nn.Module], probe: Any) -> set[int]:
    """ids of the candidate modules that a forward on `probe` runs (eval mode, no RNG use, no gradient)."""
    ran: set[int] = set()
    hooks = [m.register_forward_hook(lambda mod, *_: ran.add(id(mod))) for m in candidates]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            model(probe)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return ran


def shard_model(model: nn.Module, settings: FSDPSettings, device: torch.device, probe: Any,
                keep_whole: list[nn.Module | None] = ()) -> ShardPlan:
    """Apply FSDP2 in place (see the module docstring); `probe` is a text-only input the model can encode.

    keep_whole: modules whose parameters (trainable or not) stay out of FSDP, so that their state_dict() is
    the plain full one (the projection, temperature and graph encoder, saved as uge_heads.safetensors)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    world = dist.get_world_size()
    units: list[tuple[str, nn.Module]] = []
    if settings.wrap:
        classes = settings.wrap_classes or _no_split_classes(model)
        if not classes:
            raise UserError("FSDP: the backbone names no decoder-layer class (_no_split_modules); set "
                            "fsdp_transformer_layer_cls_to_wrap in the accelerate config's fsdp_config")
        found = [(n, m) for n, m in model.named_modules() if type(m).__name__ in classes]
        if not found:
            raise UserError(f"FSDP: no module of class {', '.join(classes)} in {type(model).__name__}; fix "
                            "fsdp_transformer_layer_cls_to_wrap")
        ran = _modules_run_on_probe(model, [m for _, m in found], probe)
        units = [(n, m) for n, m in found if id(m) in ran]
        if not units:
            raise UserError(f"FSDP: no {', '.join(classes)} module runs for a text-only input, so none can be "
                            "sharded safely; name the language model's decoder layer in fsdp_transformer_layer_cls_to_wrap")
    in_unit = {id(p) for _, m in units for p in m.parameters()}
    replicated = [p for p in model.parameters() if p.requires_grad and id(p) not in in_unit]
    whole = [p for m in keep_whole if m is not None for p in m.parameters()]
    overlap = {id(p) for p in whole} & in_unit
    if overlap:
        raise UserError(f"FSDP: {len(overlap)} head parameters lie inside a sharded layer; fix "
                        "fsdp_transformer_layer_cls_to_wrap")
    mesh = init_device_mesh(device.type, (world,))
    kw = {"mesh": mesh, "ignored_params": set(replicated) | set(whole)}
    for _, m in reversed(units):  # children before parents
        fully_shard(m, reshard_after_forward=settings.reshard_after_forward, **kw)
    fully_shard(model, **kw)  # root: reshard_after_forward=None -> kept through backward (torch's root heuristic)
    rep = {id(p) for p in replicated}
    sharded = [p for p in model.parameters() if p.requires_grad and id(p) not in rep]
    return ShardPlan(units=[n for n, _ in units], replicated=replicated, sharded=sharded)


def is_dtensor(t: torch.Tensor) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(t, DTensor)


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A DTensor gathered to its full value (collective: every process must call it); other tensors as they are."""
    return t.full_tensor() if is_dtensor(t) else t


def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> float:
    """clip_grad_norm_ over sharded (DTensor) and replicated gradients together; returns the total norm.

    torch's clip_grad_norm_ cannot mix DTensor and plain gradients. Sharded gradients add their local squared
    norms across processes; replicated ones (identical everywhere after the all-reduce) count once."""
    grads = [p.grad for p in params if p.grad is not None]
    dev = grads[0].device if grads else torch.device("cpu")
    sharded_sq = torch.zeros((), dtype=torch.float32, device=dev)
    rep_sq = torch.zeros((), dtype=torch.float32, device=dev)
    for g in grads:
        if is_dtensor(g):
            sharded_sq += g.to_local().float().pow(2).sum()
        else:
            rep_sq += g.float().pow(2).sum()
    if dist.is_initialized():
        dist.all_reduce(sharded_sq)
    total = (sharded_sq + rep_sq).sqrt()
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.to(g.dtype) if not is_dtensor(g) else float(coef))
    return float(total)


# ------------------------------------------------------------------------------------------------ checkpoints


def full_trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """{name: full CPU tensor} of `module`'s trainable parameters (collective). Names as module.state_dict()."""
    return {n: full_tensor(p.detach()).cpu() for n, p in module.named_parameters() if p.requires_grad}


@contextmanager
def state_dict_override(module: nn.Module, full: dict[str, torch.Tensor]) -> Iterator[None]:
    """Within the block, `module.state_dict()` returns its state with `full` in place of the sharded entries.

    peft's save_pretrained reads the adapter from model.state_dict(); FSDP2 state dicts hold DTensor shards
    (its pre-state-dict hook re-installs them, so swapping parameters does not help). The override is an
    instance attribute, removed on exit."""
    original = module.state_dict

    def patched(*args, **kwargs):
        sd = original(*args, **kwargs)
        prefix = kwargs.get("prefix", "")
        for k in list(sd):
            key = k[len(prefix):] if prefix and k.startswith(prefix) else k
            if key in full:
                sd[k] = full[key]
            elif is_dtensor(sd[k]):
                del sd[k]  # frozen sharded weights: not part of an adapter file
        return sd

    module.state_dict = patched  # type: ignore[method-assign]
    try:
        yield
    finally:
        del module.state_dict


class FullOptimizerState:
    """`.state_dict()` of an optimizer over FSDP parameters in torch's plain, index-keyed layout (rank 0).

    Built collectively on every process (get_optimizer_state_dict with full_state_dict); its layout is that of
    a plain optimizer over the same parameters, so `optimizer.pt` is the same file with or without FSDP."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        full = get_optimizer_state_dict(model, optimizer,
                                        options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        self._sd = _fqn_to_index(full) if full else {}

    def state_dict(self) -> dict[str, Any]:
        return self._sd


def _fqn_to_index(full: dict[str, Any]) -> dict[str, Any]:
    state, groups, i = {}, [], 0
    for g in full["param_groups"]:
        ids = []
        for fqn in g["params"]:
            if fqn in full["state"]:
                state[i] = full["state"][fqn]
            ids.append(i)
            i += 1
        groups.append({**g, "params": ids})
    return {"state": state, "param_groups": groups}


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, sd: dict[str, Any]) -> None:
    """Load an index-keyed (plain) optimizer state dict into an optimizer over FSDP parameters (every process)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    names = {id(p): n for n, p in model.named_parameters()}
    if len(sd["param_groups"]) != len(optimizer.param_groups):
        raise UserError(f"optimizer state has {len(sd['param_groups'])} parameter groups, this model "
                        f"{len(optimizer.param_groups)}; the checkpoint does not match this config")
    state, groups = {}, []
    for g_sd, g in zip(sd["param_groups"], optimizer.param_groups, strict=True):
        if len(g_sd["params"]) != len(g["params"]):
            raise UserError(f"optimizer group '{g.get('name')}' has {len(g_sd['params'])} parameters in the "
                            f"checkpoint and {len(g['params'])} here; the checkpoint does not match this config")
        fqns = [names[id(p)] for p in g["params"]]
        for idx, fqn in zip(g_sd["params"], fqns, strict=True):
            if idx in sd["state"]:
                state[fqn] = sd["state"][idx]
        groups.append({**g_sd, "params": fqns})
    set_optimizer_state_dict(model, optimizer, {"state": state, "param_groups": groups},
                             options=StateDictOptions(full_state_dict=True))
