"""Content-addressed emulator snapshots: a cold apply stored once, restored in seconds by later sessions."""

from __future__ import annotations

from s3pipe.snapshots.key import KeyParts, session_independent
from s3pipe.snapshots.rebase import Placement
from s3pipe.snapshots.store import (
    Listed,
    Manifest,
    Restored,
    Snapshot,
    SnapshotContent,
    SnapshotStore,
    SnapshotWriteError,
    Unusable,
    default_snapshot_root,
)

__all__ = [
    "KeyParts",
    "Listed",
    "Manifest",
    "Placement",
    "Restored",
    "Snapshot",
    "SnapshotContent",
    "SnapshotStore",
    "SnapshotWriteError",
    "Unusable",
    "default_snapshot_root",
    "session_independent",
]
