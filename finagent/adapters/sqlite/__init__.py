"""SQLite adapters: the job store (the single writer's connection), trading state and its schema.

The persistence actor (``finagent.services.persistence``) is the only writer; readers open
their own read-only connections through :func:`connect_reader`.
"""

from finagent.adapters.sqlite.schema import StoreError, connect_reader, connect_writer
from finagent.adapters.sqlite.state import SqliteTradingStore
from finagent.adapters.sqlite.store import SqliteJobStore

__all__ = [
    "SqliteJobStore",
    "SqliteTradingStore",
    "StoreError",
    "connect_reader",
    "connect_writer",
]
