"""The thread a service's write transactions run in.

Each consumer's batch, the parking sweeper's pass and (through the same runtime) the
services' write paths run a whole transaction synchronously in a worker thread
(``shared.infra.db``). With asyncio's default pool, a service's three consumers ran their
transactions in three threads at once, and on SQLite they then queued on the database's write
lock inside SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and
100 ms between tries: a batch of a few records waited tens of milliseconds for a lock released
long before, on every hop of a lifecycle. On one thread the transactions queue in Python and
each starts the moment the last one ends; the GIL made them take turns anyway.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Writer:
    """One thread for a service's write transactions (see the module docstring), started on
    first use and again after :meth:`close`, so that a runtime can be stopped and started."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pool: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)`` in the writer thread, with the caller's context variables."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-write")
        ctx = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(ctx.run, fn, *args))

    async def close(self) -> None:
        """Let the transaction under way finish, then end the thread."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown)


async def in_thread(writer: Writer | None, fn: Callable[..., T], /, *args: Any) -> T:
    """``fn(*args)`` in ``writer``'s thread, or (``None``) in asyncio's default pool as
    ``asyncio.to_thread`` runs it."""
    if writer is None:
        return await asyncio.to_thread(fn, *args)
    return await writer.run(fn, *args)
