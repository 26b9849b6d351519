"""Queue backends for the contract suite. Each yields a QueueHarness; add Redis here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import QueuePolicy
from finagent.services.persistence import JobWriter, PersistentJobQueue, WriteRequest

EPOCH = 1_700_000_000.0


def virtual_now() -> float:
    """Epoch seconds that move with Trio's (mock) clock."""
    return EPOCH + trio.current_time()


@dataclass
class QueueHarness:
    """What a contract test gets: the queue (JobQueue + QueueAdmin) and its policy."""

    queue: PersistentJobQueue
    policy: QueuePolicy
    writer: JobWriter


@asynccontextmanager
async def open_sqlite_harness(
    path: Path,
    policy: QueuePolicy,
    *,
    inline: bool = True,
    retain_done_s: float | None = None,
    mailbox: int = 256,
) -> AsyncIterator[QueueHarness]:
    """Run a JobWriter over a real SQLite file; the queue talks to it through its mailbox."""
    store = SqliteJobStore.open(path)
    send, receive = trio.open_memory_channel[WriteRequest](mailbox)
    writer = JobWriter(store, policy, virtual_now, inline=inline, retain_done_s=retain_done_s)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.serve, receive)
            yield QueueHarness(PersistentJobQueue(send), policy, writer)
            nursery.cancel_scope.cancel()
    finally:
        store.close()
