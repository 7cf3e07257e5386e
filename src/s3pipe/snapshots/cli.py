"""``s3pipe snapshot key|list|prune``: the cache key CI keys on, what is stored, and clearing it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal, assert_never, get_args

from s3pipe.config import HarnessConfig
from s3pipe.snapshots.inputs import default_key_parts
from s3pipe.snapshots.store import SnapshotStore, default_snapshot_root

Action = Literal["key", "list", "prune"]
ACTIONS: tuple[Action, ...] = get_args(Action)


def _size(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size < 1 << 20 else f"{size / (1 << 20):.1f} MiB"


def run(action: Action, config: HarnessConfig, *, everything: bool = False) -> int:
    """Print the current key, list the stored snapshots, or prune all but the current one (all with ``everything``)."""
    store = SnapshotStore(default_snapshot_root(config.cache_dir))
    current = default_key_parts(config).key
    match action:
        case "key":
            print(current)
        case "list":
            _print_list(store, current)
        case "prune":
            removed = store.prune({current}, everything=everything)
            for name, why in removed:
                print(f"removed {name}: {why}")
            kept = "" if everything else f"; kept the current key {current}"
            print(f"{len(removed)} removed from {store.root}{kept}")
        case _:
            assert_never(action)
    return 0


def _print_list(store: SnapshotStore, current: str) -> None:
    entries = store.entries()
    if not entries:
        print(f"no snapshots in {store.root}")
        return
    print(f"snapshots in {store.root} (* = the current key):")
    for entry in entries:
        mark = "*" if entry.key == current else " "
        if entry.snapshot is None:
            print(f"{mark} {entry.key}  {_size(entry.size_on_disk):>9}  unusable: {entry.problem}")
            continue
        manifest = entry.snapshot.manifest
        created = datetime.fromtimestamp(manifest.created, UTC).strftime("%Y-%m-%d %H:%M UTC")
        age_h = (time.time() - manifest.created) / 3600
        versions = ", ".join(f"{name} {value}" for name, value in sorted(manifest.versions.items()))
        print(
            f"{mark} {entry.key}  {_size(entry.size_on_disk):>9}  {created} ({age_h:.1f} h ago)  "
            f"from stack {manifest.stack!r}  {versions}"
        )
