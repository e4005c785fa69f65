"""numba's on-disk cache of the compiled search kernels (`cache=True`), made safe for several processes.

numba writes each cache file atomically, but a save reads the kernel's index, picks a data-file number and
writes the index before the data: two processes compiling different signatures at once can both pick
number 1, and the index of one then points at the other's machine code; and a damaged index or data file
raises from inside the kernel call. Here every load and save of a kernel's cache holds a file lock beside
its index (one process at a time reads or writes it), and a cache that cannot be read is dropped and the
kernel recompiled, with a one-line warning. numba keys each entry by signature, CPU name and features and
the numba version, and drops it when the source file changes, so a cache from another machine is not used.
"""

from __future__ import annotations

import contextlib
import os

from numba.core.caching import FunctionCache

from ugcore.shared import warn


class LockedFunctionCache(FunctionCache):
    def _lock(self):
        from filelock import FileLock

        self._impl.locator.ensure_cache_path()
        return FileLock(os.path.join(self._cache_path, self._cache_file._index_name + ".lock"))

    def _drop_index(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._cache_file._index_path)

    def load_overload(self, sig, target_context):
        with self._lock():
            try:
                return super().load_overload(sig, target_context)
            except Exception as e:  # noqa: BLE001 - any unreadable cache entry: recompile rather than fail
                warn(f"numba cache of {self._py_func.__qualname__} in {self._cache_path} is unreadable "
                     f"({type(e).__name__}); recompiling it")
                self._drop_index()
                return None

    def save_overload(self, sig, data):
        with self._lock():
            try:
                super().save_overload(sig, data)
            except Exception:  # noqa: BLE001 - a damaged index: start it afresh, once
                self._drop_index()
                super().save_overload(sig, data)


def protect(namespace: dict) -> None:
    """Give every cached numba dispatcher in `namespace` (a module's globals()) the locked cache."""
    for obj in list(namespace.values()):
        cache = getattr(obj, "_cache", None)
        if type(cache) is FunctionCache:
            obj._cache = LockedFunctionCache(obj.py_func)
