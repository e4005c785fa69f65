"""Compiled (numba) query kernels of the co-cluster engine: the same bounds as the numpy path, one pass.

Why compiled: a query touches ~15k cluster summaries and a few thousand objects, each with a handful of
arithmetic operations. In numpy every step is a separate pass over temporaries plus ~5 us of Python per
call, and the scan must be cut into batches to amortise that, which visits more clusters than needed.
Compiled, the cluster bounds are one loop, the clusters are popped one by one from a heap in bound order,
and every object goes through the cheapest test first (its distance with the cluster's Sim bound, then its
prefix bound, then its int8 bound, then the full inner product) with the k-th score updated after each
object. Everything runs on the calling thread (no numba parallelism: the machine is shared).

Exactness does not depend on these kernels' rounding: every bound carries the same margins as the numpy
path (SCREEN_MARGIN, passed in), inner products accumulate in float64, and the final ranking re-scores the
candidates with scoring.exact_scores like every engine.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _from_chord(ch: float, haversine: bool, radius: float) -> float:
    if not haversine:
        return ch
    return 2.0 * radius * np.arcsin(min(max(ch / 2.0, 0.0), 1.0))


@njit(cache=True, nogil=True)
def _dist_lb(ch: float, haversine: bool, radius: float) -> float:
    """A lower bound of the metric distance from a chord, without the arcsin: arc = 2R asin(c/2) >= R c.
    Used in every bound test (a few 10k per query); the exact distance only for scored objects."""
    if not haversine:
        return ch
    return radius * ch * (1.0 - 1e-9)


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _dot(a, b) -> float:
    """float64 sum of a[j] * b[j]; reassociation lets it vectorise (order changes the last bits only,
    far inside the margins)."""
    s = 0.0
    for j in range(a.shape[0]):
        s += np.float64(a[j]) * b[j]
    return s


@njit(cache=True, nogil=True)
def project(basis, q):
    """basis^T q for a (dim, m) basis: the query's prefix, without a BLAS call (whose thread hand-off
    costs more than these 50k multiply-adds on a busy machine)."""
    out = np.zeros(basis.shape[1])
    for i in range(basis.shape[0]):
        qi = q[i]
        for j in range(basis.shape[1]):
            out[j] += basis[i, j] * qi
    return out


@njit(cache=True, nogil=True)
def cluster_bounds(lo, hi, qe, cents, qhat, qn, cos_t, sin_t, pmax, pmin, rmax, q_r, haversine, radius):
    """Per cluster: lower bound of d(Q, o) (metric units, with GeoSpace.min_dist_boxes's margins, from the
    chord without arcsin: _dist_lb), the
    farthest-corner distance (embedding units) and the Sim upper bound (cocluster.sim_upper_bounds)."""
    n_c, e = lo.shape
    near = np.empty(n_c)
    far = np.empty(n_c)
    sim = np.empty(n_c)
    for c in range(n_c):
        n2 = 0.0
        f2 = 0.0
        for j in range(e):
            a = lo[c, j] - qe[j]
            b = qe[j] - hi[c, j]
            g = max(a, b, 0.0)
            w = max(abs(a), abs(b))
            n2 += g * g
            f2 += w * w
        near[c] = max(_dist_lb(np.sqrt(n2), haversine, radius) * (1.0 - 1e-9) - 1e-6, 0.0)
        far[c] = np.sqrt(f2)
        if qn == 0.0:
            sim[c] = q_r * rmax[c]
            continue
        cs = min(max(_dot(cents[c], qhat), -1.0), 1.0)
        if cs >= cos_t[c]:
            capcos = 1.0
        else:
            capcos = min(cs * cos_t[c] + np.sqrt(max(1.0 - cs * cs, 0.0)) * sin_t[c], 1.0)
        capcos += 1e-6
        pn = pmax[c] if capcos >= 0 else pmin[c]
        sim[c] = min(qn * pn * capcos + q_r * rmax[c], 1.0)
    return near, far, sim


@njit(cache=True, nogil=True)
def d_max_candidates(far, start, emb, qe):
    """Rows that may hold max_o d(Q, o), from the cluster boxes' farthest corners `far` (embedding units).

    Every metric here is a monotone function of the embedding-space (chord) distance, so the farthest
    object is among those whose chord is within a relative 1e-7 of the largest chord; the canonical
    distances (haversine formula, rounded to the micrometre) differ from the chord's by far less than that.
    Clusters whose farthest corner is below that threshold are skipped. The caller takes the max of the
    canonical distances of the returned rows, which equals max(GeoSpace.distances(q)) bit for bit.
    """
    n_c = len(far)
    e = emb.shape[1]
    top = np.argmax(far)
    best = 0.0
    for i in range(start[top], start[top + 1]):
        d2 = 0.0
        for j in range(e):
            t = emb[i, j] - qe[j]
            d2 += t * t
        best = max(best, np.sqrt(d2))
    thr = best * (1.0 - 1e-7)
    chord = np.empty(start[n_c])
    keep = np.zeros(n_c, dtype=np.bool_)
    for c in range(n_c):
        if far[c] < thr:
            continue
        keep[c] = True
        for i in range(start[c], start[c + 1]):
            d2 = 0.0
            for j in range(e):
                t = emb[i, j] - qe[j]
                d2 += t * t
            chord[i] = np.sqrt(d2)
            best = max(best, chord[i])
    thr = best * (1.0 - 1e-7)
    n_out = 0
    out = np.empty(start[n_c], dtype=np.int64)
    for c in range(n_c):
        if keep[c]:
            for i in range(start[c], start[c + 1]):
                if chord[i] >= thr:
                    out[n_out] = i
                    n_out += 1
    return out[:n_out]


@njit(cache=True, nogil=True)
def quantize_rows(v):
    """Per-row symmetric int8 codes (see cocluster.quantize_int8): codes, scales, error norms (float64)."""
    n, dim = v.shape
    codes = np.empty((n, dim), dtype=np.int8)
    scale = np.empty(n)
    err = np.empty(n)
    for i in range(n):
        amax = 0.0
        for j in range(dim):
            amax = max(amax, abs(np.float64(v[i, j])))
        sc = amax / 127.0 if amax > 0 else 1.0
        e2 = 0.0
        for j in range(dim):
            x = np.float64(v[i, j])
            c = min(max(np.rint(x / sc), -127.0), 127.0)
            codes[i, j] = np.int8(c)
            r = x - sc * c
            e2 += r * r
        scale[i] = sc
        err[i] = np.sqrt(e2) * (1 + 1e-6) + 1e-9
    return codes, scale, err


@njit(cache=True, nogil=True)
def _heap_down(heap, key, i, size):
    """Max-heap of cluster ids keyed by key[id]: sift heap[i] down."""
    while True:
        left = 2 * i + 1
        if left >= size:
            return
        big = left
        if left + 1 < size and key[heap[left + 1]] > key[heap[left]]:
            big = left + 1
        if key[heap[big]] <= key[heap[i]]:
            return
        heap[i], heap[big] = heap[big], heap[i]
        i = big


@njit(cache=True, nogil=True)
def _topk_push(vals, size, kk, f):
    """Min-heap of the kk best screened scores; returns the new size."""
    if size < kk:
        i = size
        vals[i] = f
        size += 1
        while i > 0:
            p = (i - 1) // 2
            if vals[p] <= vals[i]:
                break
            vals[p], vals[i] = vals[i], vals[p]
            i = p
        return size
    if f <= vals[0]:
        return size
    vals[0] = f
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        small = left
        if left + 1 < size and vals[left + 1] < vals[left]:
            small = left + 1
        if vals[small] >= vals[i]:
            break
        vals[i], vals[small] = vals[small], vals[i]
        i = small
    return size


@njit(cache=True, nogil=True)
def scan(
    near, sim_ub, start, emb, qe, prefix, qt, resid, q_r, codes, qc, cscale, cerr, use_codes, vectors, q64,
    mu, dmax, haversine, radius, kk, slack, margin,
):
    """Visit clusters by decreasing bound until the k-th screened score beats the next bound.

    Per object, in order of cost: (1) its screening distance with the cluster's Sim bound, (2) the prefix
    bound q~.p + |q_r| r, (3) when `use_codes`, the int8 bound s (q.c) + |q| e (e = the norm of the
    quantisation error), (4) the full float32 inner product (float64 accumulation). An object is dropped at
    the first bound below kth. `slack` (approximate mode) only ends the scan early: clusters whose bound is
    below kth + slack are not visited, so every object left out has F <= kth + slack. Returns the fully
    scored rows and their screened F, the final k-th screened score and counters (clusters visited, prefix rows, int8 rows, full vectors).
    """
    n_c = len(near)
    w = 1.0 - mu
    ub = np.empty(n_c)
    for c in range(n_c):
        dst = 1.0 - near[c] / dmax if dmax > 0 else 1.0
        ub[c] = mu * dst + w * (sim_ub[c] + margin) + margin
    heap = np.arange(n_c)
    for i in range(n_c // 2 - 1, -1, -1):
        _heap_down(heap, ub, i, n_c)
    size = n_c
    e = emb.shape[1]
    top = np.empty(kk)
    n_top = 0
    kth = -np.inf
    out_rows = np.empty(start[n_c], dtype=np.int64)
    out_f = np.empty(start[n_c])
    n_out = 0
    n_vis = 0
    n_pre = 0
    n_code = 0
    while size > 0:
        c = heap[0]
        if ub[c] - slack < kth:
            break
        size -= 1
        heap[0] = heap[size]
        _heap_down(heap, ub, 0, size)
        n_vis += 1
        s_c = w * (sim_ub[c] + margin) + margin
        for i in range(start[c], start[c + 1]):
            d2 = 0.0
            for j in range(e):
                t = emb[i, j] - qe[j]
                d2 += t * t
            ch = np.sqrt(d2)
            dst = 1.0 - _dist_lb(ch, haversine, radius) / dmax if dmax > 0 else 1.0  # upper bound of Dst
            if mu * dst + s_c < kth:
                continue
            n_pre += 1
            s = _dot(prefix[i], qt)
            if mu * dst + w * (s + q_r * resid[i] + margin) + margin < kth:
                continue
            if use_codes:
                n_code += 1
                a = _dot(codes[i], qc)
                if mu * dst + w * (a * cscale[i] + cerr[i] + margin) + margin < kth:
                    continue
            s = _dot(vectors[i], q64)
            if dmax > 0:
                dst = 1.0 - _from_chord(ch, haversine, radius) / dmax
            f = mu * dst + w * s
            out_rows[n_out] = i
            out_f[n_out] = f
            n_out += 1
            n_top = _topk_push(top, n_top, kk, f)
            if n_top == kk:
                kth = top[0]
    return out_rows[:n_out], out_f[:n_out], kth, n_vis, n_pre, n_code


# numba's cache made safe for several processes at once (a file lock per kernel, damaged caches recompiled)
from ._numba_cache import protect as _protect_cache  # noqa: E402

_protect_cache(globals())
