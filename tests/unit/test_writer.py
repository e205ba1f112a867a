"""The writer thread of a service's transactions (``shared.infra.writer``)."""

from __future__ import annotations

import asyncio
import contextvars
import threading

from shared.infra.writer import Writer, in_thread

request = contextvars.ContextVar("request", default="none")


async def test_transactions_run_one_at_a_time_in_one_thread_with_the_callers_context() -> None:
    writer = Writer("svc")
    running = 0
    most = 0
    threads: set[str] = set()

    def work(i: int) -> tuple[int, str]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        threads.add(threading.current_thread().name)
        threading.Event().wait(0.01)
        running -= 1
        return i, request.get()

    async def call(i: int) -> tuple[int, str]:
        request.set(f"r{i}")
        return await in_thread(writer, work, i)

    results = await asyncio.gather(*(call(i) for i in range(5)))
    assert results == [(i, f"r{i}") for i in range(5)]
    assert most == 1  # never two transactions at once
    assert len(threads) == 1 and next(iter(threads)).startswith("svc-write")
    await writer.close()
    # a stopped runtime can start again: the thread comes back on the next use
    assert await in_thread(writer, work, 7) == (7, "none")
    await writer.close()


async def test_without_a_writer_the_default_pool_runs_it() -> None:
    assert await in_thread(None, lambda: threading.current_thread().name != threading.main_thread().name)
