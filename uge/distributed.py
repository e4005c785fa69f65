"""Cross-process gathers for contrastive losses.

`accelerator.gather` returns tensors without gradient, so negatives from other processes would not train
this process's encoder. `gather_with_grad` uses torch's functional all-gather with autograd
(`all_gather_single_autograd`); its backward is a reduce-scatter (sum), so each process receives the
gradient that every process's loss sends to its own rows. With gradients then averaged across processes
this equals the gradient of the mean of the per-process losses (checked in tests/uge/test_distributed.py).
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world_size); (0, 1) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather_equal(x: torch.Tensor) -> torch.Tensor:
    from torch.distributed._functional_collectives import AsyncCollectiveTensor, all_gather_single_autograd

    out = all_gather_single_autograd(x.contiguous(), gather_dim=0, group=dist.group.WORLD)
    return out.wait() if isinstance(out, AsyncCollectiveTensor) else out


def gather_with_grad(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate `x` (n_r, ...) from every process along dim 0, keeping gradient to each rank's rows.

    Sizes may differ between processes (padded internally). Returns (gathered, offset of this rank's rows).
    """
    rank, size = world()
    if size == 1:
        return x, 0
    n = torch.tensor([x.shape[0]], dtype=torch.long, device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(size)]
    dist.all_gather(sizes, n)
    sizes_l = [int(s.item()) for s in sizes]
    m = max(sizes_l)
    if m > x.shape[0]:
        pad = torch.zeros((m - x.shape[0], *x.shape[1:]), dtype=x.dtype, device=x.device)
        xp = torch.cat([x, pad], dim=0)
    else:
        xp = x
    g = _gather_equal(xp)
    keep = torch.cat([torch.arange(r * m, r * m + s, device=x.device) for r, s in enumerate(sizes_l)])
    return g.index_select(0, keep), sum(sizes_l[:rank])


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """The same concatenation for tensors that need no gradient (keys, masks)."""
    with torch.no_grad():
        return gather_with_grad(x.detach())[0]


def all_reduce_grads(params: list[torch.nn.Parameter]) -> None:
    """Average the gradients of `params` across processes in one flat all-reduce.

    Why not DDP: GradCache runs several backward passes per step (one per chunk plus one for the loss on
    cached representations) and stage 2 leaves the graph encoder unused in text-only chunks; DDP's reducer
    needs one forward per backward and all parameters used. Only LoRA, projection, temperature and graph
    encoder parameters train, so one flat all-reduce per optimizer step is cheap and exact.
    """
    rank, size = world()
    if size == 1 or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    dist.all_reduce(flat)
    flat /= size
    off = 0
    for p, g in zip(params, grads, strict=True):
        k = g.numel()
        p.grad = flat[off : off + k].view_as(p).to(p.dtype)
        off += k


def common_count(n: int, device: torch.device) -> int:
    """The largest `n` over all processes (1 process: `n`); `device` is where the backend communicates."""
    if world()[1] == 1:
        return n
    t = torch.tensor([n], dtype=torch.long, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())
