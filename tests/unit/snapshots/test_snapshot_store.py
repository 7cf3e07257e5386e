"""Snapshots are written atomically, restored onto new ports, and refused with one line when unusable."""

from __future__ import annotations

import errno
import json
import multiprocessing
import shutil
import time
from pathlib import Path

import pytest

from s3pipe.snapshots import Placement, Snapshot, SnapshotStore, SnapshotWriteError, Unusable
from s3pipe.snapshots.rebase import EMULATOR_PORT
from s3pipe.snapshots.store import MANIFEST, Manifest

from .fakes import NEW, OLD, QUEUE, content, parts


def saved(store: SnapshotStore, tmp_path: Path) -> Snapshot:
    return store.save(parts(), content(tmp_path))


def test_a_saved_snapshot_opens_and_restores_onto_the_new_ports(store: SnapshotStore, tmp_path: Path) -> None:
    saved(store, tmp_path)
    snapshot = store.open(parts(), {"ministack": "1.5.33"})
    assert isinstance(snapshot, Snapshot)

    restored = snapshot.restore_into(tmp_path / "fresh-state", NEW)

    sqs = (tmp_path / "fresh-state" / "sqs.json").read_text()
    assert f"localhost:{NEW.emulator_port}/000000000000/{QUEUE}" in sqs
    assert str(OLD.emulator_port) not in sqs
    environment = json.loads((tmp_path / "fresh-state" / "lambda.json").read_text())["payload"]["functions"]["env"]
    assert environment == {
        "DLQ_URL": f"http://127.0.0.1:{NEW.emulator_port}/000000000000/dlq",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{NEW.gateway_port}",
    }
    assert restored.outputs["queue_url"] == f"http://127.0.0.1:{NEW.emulator_port}/000000000000/{QUEUE}"
    assert restored.terraform_state is not None
    assert f"{NEW.workspace}/artifacts/lambda.zip" in restored.terraform_state
    assert str(OLD.emulator_port) not in restored.terraform_state


def test_blobs_are_copied_byte_for_byte_and_temporary_files_left_out(store: SnapshotStore, tmp_path: Path) -> None:
    snapshot = saved(store, tmp_path)
    snapshot.restore_into(tmp_path / "fresh", NEW)
    assert (tmp_path / "fresh" / "lambda-blobs" / "c0ffee").read_bytes() == b"PK\x03\x04 localhost:43561 \xff\xfe"
    assert not (tmp_path / "fresh" / "sqs.json.tmp").exists()
    assert "emulator/sqs.json.tmp" not in snapshot.manifest.files


def test_stored_files_hold_placeholders_not_ports(store: SnapshotStore, tmp_path: Path) -> None:
    snapshot = saved(store, tmp_path)
    stored = (snapshot.path / "emulator" / "sqs.json").read_text()
    assert f"localhost:{EMULATOR_PORT}" in stored
    assert str(OLD.emulator_port) not in (snapshot.path / "outputs.json").read_text()


def test_the_manifest_records_versions_sizes_and_completeness(store: SnapshotStore, tmp_path: Path) -> None:
    snapshot = saved(store, tmp_path)
    manifest = Manifest.from_json((snapshot.path / MANIFEST).read_text())
    assert manifest.complete
    assert manifest.key == parts().key
    assert manifest.versions == {"ministack": "1.5.33", "terraform": "1.11.4"}
    assert manifest.stack == "pytest-gw0"
    assert manifest.size == sum(size for size, _ in manifest.files.values()) > 0
    assert {"outputs.json", "terraform.tfstate", "emulator/sqs.json", "emulator/lambda-blobs/c0ffee"} <= set(
        manifest.files
    )
    assert time.time() - manifest.created < 60


def test_nothing_is_left_beside_the_snapshot(store: SnapshotStore, tmp_path: Path) -> None:
    saved(store, tmp_path)
    assert sorted(p.name for p in store.root.iterdir()) == [parts().key]


# ---------------------------------------------------------------------------- unusable, each with its line


def reason(result: Snapshot | Unusable) -> str:
    assert isinstance(result, Unusable), f"expected an unusable snapshot, got {result}"
    return result.reason


def test_a_missing_snapshot_is_not_present(store: SnapshotStore) -> None:
    result = store.open(parts())
    assert result == Unusable(f"no snapshot for key {parts().key}", present=False)


def test_a_half_written_snapshot_without_manifest(store: SnapshotStore, tmp_path: Path) -> None:
    (saved(store, tmp_path).path / MANIFEST).unlink()
    assert reason(store.open(parts())) == f"snapshot {parts().key} is half-written (no manifest.json)"


def test_a_manifest_not_marked_complete(store: SnapshotStore, tmp_path: Path) -> None:
    path = saved(store, tmp_path).path / MANIFEST
    path.write_text(path.read_text().replace('"complete": true', '"complete": false'))
    assert "half-written (manifest not marked complete)" in reason(store.open(parts()))


def test_a_corrupt_manifest(store: SnapshotStore, tmp_path: Path) -> None:
    (saved(store, tmp_path).path / MANIFEST).write_text('{"format": 1, "key": ')
    assert "has a corrupt manifest.json (JSONDecodeError" in reason(store.open(parts()))


def test_a_manifest_of_another_shape(store: SnapshotStore, tmp_path: Path) -> None:
    (saved(store, tmp_path).path / MANIFEST).write_text('{"format": 1, "unexpected": true}')
    assert "has a corrupt manifest.json (TypeError" in reason(store.open(parts()))


def test_a_corrupt_state_file(store: SnapshotStore, tmp_path: Path) -> None:
    path = saved(store, tmp_path).path / "emulator" / "sqs.json"
    path.write_text(path.read_text().replace("queues", "QUEUES"))
    assert (
        reason(store.open(parts())) == f"snapshot {parts().key} is corrupt: emulator/sqs.json does not match its sha256"
    )


def test_a_truncated_state_file(store: SnapshotStore, tmp_path: Path) -> None:
    path = saved(store, tmp_path).path / "emulator" / "lambda.json"
    path.write_text(path.read_text()[:10])
    assert "emulator/lambda.json has 10 bytes, the manifest says" in reason(store.open(parts()))


def test_a_missing_state_file(store: SnapshotStore, tmp_path: Path) -> None:
    (saved(store, tmp_path).path / "emulator" / "lambda-blobs" / "c0ffee").unlink()
    assert reason(store.open(parts())).endswith("corrupt: emulator/lambda-blobs/c0ffee is missing")


def test_another_ministack_version(store: SnapshotStore, tmp_path: Path) -> None:
    saved(store, tmp_path)
    assert reason(store.open(parts(), {"ministack": "1.5.34"})) == (
        f"snapshot {parts().key} was made with ministack 1.5.33, this machine has 1.5.34"
    )


def test_another_format(store: SnapshotStore, tmp_path: Path) -> None:
    path = saved(store, tmp_path).path / MANIFEST
    path.write_text(path.read_text().replace('"format": 1', '"format": 99'))
    assert "has format 99, this harness writes 1" in reason(store.open(parts()))


def test_a_snapshot_stored_under_a_key_whose_parts_differ(store: SnapshotStore, tmp_path: Path) -> None:
    snapshot = saved(store, tmp_path)
    other = parts(terraform="1.12.0")
    shutil.copytree(snapshot.path, store.path_for(other.key))
    assert "was made for other inputs (terraform differ)" in reason(store.open(other))


def test_a_gateway_placeholder_without_a_gateway_refuses_to_restore(store: SnapshotStore, tmp_path: Path) -> None:
    snapshot = saved(store, tmp_path)
    with pytest.raises(ValueError, match=r"lambda.json keeps \{\{s3pipe:gateway_port\}\}"):
        snapshot.restore_into(tmp_path / "fresh", Placement(5000, None, "/w"))


# ---------------------------------------------------------------------------- writing fails cleanly


def test_an_emulator_that_saved_nothing_is_not_snapshotted(store: SnapshotStore, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SnapshotWriteError, match=r"left no sqs.json, lambda.json in .*stopped gracefully"):
        store.save(parts(), content(tmp_path, emulator_state=empty))
    assert not store.path_for(parts().key).exists()


def test_disk_full_while_writing_leaves_nothing_behind(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)
    with pytest.raises(SnapshotWriteError) as raised:
        store.save(parts(), content(tmp_path))
    assert str(raised.value) == f"could not write snapshot {parts().key}: [Errno 28] No space left on device"
    assert list(store.root.iterdir()) == []


def test_losing_the_race_returns_the_winners_snapshot(store: SnapshotStore, tmp_path: Path) -> None:
    winner = store.save(parts(), content(tmp_path / "a"))
    second = store.save(parts(), content(tmp_path / "b"))
    assert second.path == winner.path
    assert second.manifest == winner.manifest
    assert sorted(p.name for p in store.root.iterdir()) == [parts().key]


def _save_in_child(root: str, tmp: str) -> None:
    SnapshotStore(Path(root)).save(parts(), content(Path(tmp)))


def test_two_processes_saving_the_same_key_leave_one_good_snapshot(store: SnapshotStore, tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_save_in_child, args=(str(store.root), str(tmp_path / str(i)))) for i in range(4)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
    assert [child.exitcode for child in children] == [0, 0, 0, 0]
    assert isinstance(store.open(parts()), Snapshot)
    assert sorted(p.name for p in store.root.iterdir()) == [parts().key]


def test_the_creation_lock_is_exclusive_and_times_out(store: SnapshotStore) -> None:
    with store.creating("k", timeout=1) as first:
        assert first
        started = time.monotonic()
        with open(store.root / ".k.lock") as other:  # noqa: PTH123 - a second open file description, as another process has
            import fcntl

            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert time.monotonic() - started < 1
    with store.creating("k", timeout=0) as again:
        assert again


def _hold_lock(root: str, ready: str, release: str) -> None:
    store = SnapshotStore(Path(root))
    with store.creating("k", timeout=5):
        Path(ready).touch()
        deadline = time.monotonic() + 30
        while not Path(release).exists() and time.monotonic() < deadline:
            time.sleep(0.02)


def test_a_second_process_waits_for_the_lock_then_gives_up(store: SnapshotStore, tmp_path: Path) -> None:
    ready, release = tmp_path / "ready", tmp_path / "release"
    child = multiprocessing.get_context("spawn").Process(
        target=_hold_lock, args=(str(store.root), str(ready), str(release))
    )
    child.start()
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert time.monotonic() < deadline, "the child never took the lock"
            time.sleep(0.02)
        started = time.monotonic()
        with store.creating("k", timeout=0.5) as acquired:
            assert not acquired
        assert 0.5 <= time.monotonic() - started < 5
    finally:
        release.touch()
        child.join(30)
    with store.creating("k", timeout=5) as acquired:
        assert acquired


# ---------------------------------------------------------------------------- housekeeping


def test_discard_removes_a_snapshot(store: SnapshotStore, tmp_path: Path) -> None:
    saved(store, tmp_path)
    assert store.discard(parts().key)
    assert not store.discard(parts().key)
    assert store.open(parts()) == Unusable(f"no snapshot for key {parts().key}", present=False)


def test_entries_list_good_and_unusable_snapshots(store: SnapshotStore, tmp_path: Path) -> None:
    saved(store, tmp_path)
    other = parts(terraform="1.12.0")
    store.save(other, content(tmp_path / "b"))
    (store.path_for(other.key) / MANIFEST).unlink()
    entries = {entry.key: entry for entry in store.entries()}
    assert entries[parts().key].snapshot is not None
    assert entries[parts().key].size_on_disk > 0
    assert entries[other.key].snapshot is None
    assert entries[other.key].problem == "half-written (no manifest.json)"


def test_prune_keeps_the_current_key_and_removes_leftovers(store: SnapshotStore, tmp_path: Path) -> None:
    saved(store, tmp_path)
    old = parts(terraform="1.10.0")
    store.save(old, content(tmp_path / "b"))
    dead_writer = store.root / f".tmp-{old.key}-999999999-abcd"
    dead_writer.mkdir()
    removed = dict(store.prune({parts().key}))
    assert removed == {old.key: "not the current key", dead_writer.name: "left over by a writer that is gone"}
    assert [entry.key for entry in store.entries()] == [parts().key]
    assert dict(store.prune(set(), everything=True)) == {parts().key: "all removed"}
    assert store.entries() == []
