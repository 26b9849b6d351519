"""StoreThread: a call handed to the thread cannot be cancelled; it finishes and tells the truth."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from finagent.services.writer_thread import StoreThread


async def test_a_cancelled_caller_still_gets_the_calls_outcome() -> None:
    release, applied = threading.Event(), []

    def commit(value: int) -> int:
        release.wait(10)
        applied.append(value)
        return value * 2

    thread = StoreThread()
    got: list[int] = []
    try:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:

                async def caller() -> None:
                    got.append(await thread.run(commit, 21))
                    await trio.lowlevel.checkpoint()  # the cancel lands here, after the answer
                    got.append(-1)  # never reached

                nursery.start_soon(caller)
                await trio.testing.wait_all_tasks_blocked()
                scope.cancel()  # the caller is waiting on the thread: the abort is refused
                await trio.testing.wait_all_tasks_blocked()
                assert got == [] and applied == []  # still waiting for the commit
                release.set()
        assert scope.cancelled_caught
        assert applied == [21] and got == [42]  # it finished; the caller saw its real result
    finally:
        thread.stop()


async def test_an_error_on_the_thread_is_raised_to_the_caller() -> None:
    def broken() -> None:
        raise OSError("disk I/O error")

    thread = StoreThread()
    try:
        with pytest.raises(OSError, match="disk I/O error"):
            await thread.run(broken)
        assert await thread.run(len, "abc") == 3  # the thread lives on
    finally:
        thread.stop()
