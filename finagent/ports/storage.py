"""The storage port: what the daemon may ask about the database file it runs on."""

from __future__ import annotations

from typing import Protocol

__all__ = ["StoreIdentity"]


class StoreIdentity(Protocol):
    """The database file the daemon opened, as against what its path names now."""

    def changed(self) -> str | None:
        """None while the path still names the opened file, else one line saying what happened.

        Cheap (one ``stat``): callers poll it.
        """
        ...
