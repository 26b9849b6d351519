"""WAL checkpoints off the writer's path: a second connection on its own thread.

SQLite's automatic checkpoint runs inside the COMMIT that crosses ``wal_autocheckpoint`` pages:
that commit copies the WAL into the database and fsyncs it, so one writer's request in a few
hundred waits milliseconds (the previous p99). With :class:`Checkpointer` the write connection
turns automatic checkpoints off, and a second connection runs ``PRAGMA wal_checkpoint(PASSIVE)``
from a background thread a short while after commits happened. A PASSIVE checkpoint never blocks
the writer (WAL lets it append while the checkpointer copies committed frames), and the writer
restarts the WAL from its beginning at its next transaction once a checkpoint caught up, so the
WAL stays bounded. Durability does not change: a commit is durable when it is in the WAL.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Checkpointer"]

log = logging.getLogger(__name__)


@final
class Checkpointer:
    """Checkpoints the WAL of ``path`` every ``interval_s`` while commits happen.

    Args:
        path: the database file (already in WAL mode).
        interval_s: the longest time committed frames wait before a checkpoint starts.
    """

    def __init__(self, path: Path, *, interval_s: float = 0.1) -> None:
        self._conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        self._interval_s = interval_s
        self._dirty = threading.Event()
        self._closing = threading.Event()
        self.checkpoints = 0
        self.ran = threading.Event()  # set after each checkpoint (tests wait on it)
        self._thread = threading.Thread(target=self._loop, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """The writer committed: a checkpoint is due within ``interval_s``. Cheap, any thread."""
        if not self._dirty.is_set():  # set() takes a lock even when already set: skip it
            self._dirty.set()

    def _loop(self) -> None:
        while True:
            self._dirty.wait()
            # Let commits accumulate for a moment (one checkpoint for many); close cuts it short.
            if self._closing.wait(self._interval_s):
                return
            self._dirty.clear()
            # close() sets _closing before _dirty: if our clear() swallowed close's wake-up,
            # _closing is already visible here; we skip the checkpoint and the next turn's
            # waits return at once, so the thread can never wait forever.
            if not self._closing.is_set():
                self.checkpoint()

    def checkpoint(self) -> None:
        """Run one PASSIVE checkpoint now (on the calling thread); errors are logged."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
            self.ran.set()
        except sqlite3.Error as exc:  # e.g. a file removed under us: the next commit tries again
            log.warning("WAL checkpoint failed: %s", exc)

    def close(self) -> None:
        """Stop the thread and close its connection (closing the writer checkpoints the rest)."""
        self._closing.set()
        self._dirty.set()
        self._thread.join()
        self._conn.close()
