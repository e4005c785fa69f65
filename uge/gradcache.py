"""GradCache: a large contrastive batch on a small GPU, by caching representations.

Gao et al. (2021), "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup". The loss of
a contrastive batch depends on the parameters only through the embeddings, so:
1. embed every chunk WITHOUT a graph (no activations kept), remembering each chunk's RNG state;
2. compute the loss on the cached embeddings (gathered across processes) and its gradient w.r.t. them;
3. re-embed each chunk WITH a graph, restoring its RNG state (identical dropout), and backpropagate
   the cached gradient (a surrogate loss <embedding, gradient>).
Peak memory is that of one chunk; the result equals the full-batch gradient (tests/uge/test_gradcache.py).
The VLM2Vec trainer gets large batches only from many GPUs; this works on one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


class RandContext:
    """Capture the CPU (and current CUDA device) RNG state now; restore it inside `with`."""

    def __init__(self):
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None

    def __enter__(self):
        self._saved_cpu = torch.get_rng_state()
        self._saved_cuda = torch.cuda.get_rng_state() if self.cuda is not None else None
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda)

    def __exit__(self, *exc):
        torch.set_rng_state(self._saved_cpu)
        if self._saved_cuda is not None:
            torch.cuda.set_rng_state(self._saved_cuda)
        return False


def gradcache_step(
    encode: Callable[[Any], torch.Tensor],
    chunks: Sequence[Any],
    loss_fn: Callable[[torch.Tensor], Any],
    backward: Callable[[torch.Tensor], None] = lambda t: t.backward(),
    n_chunks: int | None = None,
) -> Any:
    """Run one GradCache forward/backward.

    encode(chunk) -> (n_chunk, D) embeddings; loss_fn(all_embeddings) -> object with `.loss` (or a tensor);
    backward(t) backpropagates a scalar (e.g. accelerator.backward). Returns loss_fn's output, detached.
    n_chunks > len(chunks): run the last chunk again that many extra times, in both passes, with zero
    gradient. Under FSDP every process must run the model equally often (each run all-gathers weights) while
    processes can hold different numbers of documents; the padding runs change no gradient.
    """
    pad = max(0, (n_chunks or 0) - len(chunks))
    reps, states = [], []
    with torch.no_grad():
        for c in chunks:
            states.append(RandContext())
            reps.append(encode(c))
        for _ in range(pad):
            encode(chunks[-1])
    cached = torch.cat(reps).detach().requires_grad_(True)
    out = loss_fn(cached)
    loss = out.loss if hasattr(out, "loss") else out
    backward(loss)
    grad = cached.grad
    off = 0
    for c, state, r in zip(chunks, states, reps, strict=True):
        n = r.shape[0]
        with state:
            again = encode(c)
        backward((again * grad[off : off + n].to(again.dtype)).sum())
        off += n
    for _ in range(pad):
        backward((encode(chunks[-1]) * 0.0).sum())
    if hasattr(out, "loss"):
        out.loss = out.loss.detach()
        return out
    return loss.detach()
