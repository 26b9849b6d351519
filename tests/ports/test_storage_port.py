"""FileIdentity satisfies the StoreIdentity port, statically and at run time."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from finagent.adapters.sqlite.dbfile import FileIdentity
from finagent.ports.storage import StoreIdentity


def test_file_identity_has_the_ports_members_with_the_same_signatures() -> None:
    port, ours = StoreIdentity.changed, FileIdentity.changed
    assert list(inspect.signature(ours).parameters) == list(inspect.signature(port).parameters)
    assert inspect.signature(ours).return_annotation == inspect.signature(port).return_annotation


def test_a_file_identity_used_as_a_store_identity(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    db.write_bytes(b"opened")
    identity: StoreIdentity = FileIdentity(db)  # mypy checks the structural match
    assert identity.changed() is None
    moved = tmp_path / "other.db"
    moved.write_bytes(b"another file")
    os.replace(moved, db)  # the path now names a different inode
    assert "replaced by another file" in (identity.changed() or "")
    db.unlink()
    assert "was deleted" in (identity.changed() or "")
