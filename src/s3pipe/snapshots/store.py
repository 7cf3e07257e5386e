"""Snapshots on disk: ``<cache>/snapshots/<key>/`` with the emulator's state, Terraform's state, the outputs
and a manifest, written atomically and read back only after checking every byte.

Layout of one snapshot::

    <key>/manifest.json      format, key parts, versions, created, files (size + sha256), complete
    <key>/emulator/...       MiniStack's STATE_DIR after a graceful stop (ports as placeholders)
    <key>/terraform.tfstate  Terraform's state (ports and workspace path as placeholders)
    <key>/outputs.json       the module's outputs (ports as placeholders)
    <key>/verified.json      written once a restore of it passed a check that needs no repeating (a clean plan)

A snapshot is built in ``.tmp-<key>-<pid>-<random>/`` beside the others and renamed into place
once complete; a process that loses the race to another one drops its copy. Creators of the same
key take ``.<key>.lock`` first, so two xdist workers do not both apply for it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from s3pipe.snapshots.key import SNAPSHOT_FORMAT, KeyParts
from s3pipe.snapshots.rebase import Placement, leftover_placeholders

MANIFEST = "manifest.json"
EMULATOR_DIR = "emulator"
TERRAFORM_STATE = "terraform.tfstate"
OUTPUTS = "outputs.json"
VERIFIED = "verified.json"
#: Bumped when what a verification proves changes: markers of another version do not count.
VERIFICATION_VERSION = 1
_TEMPORARY_PREFIX = ".tmp-"
_DISCARDED_PREFIX = ".discarded-"
#: A temporary directory older than this is left over by a process that died while writing.
STALE_TEMPORARY_SECONDS = 3600.0
#: Emulator state files whose ports and paths are rewritten (service state as JSON); the rest is copied as is.
_TEXT_SUFFIXES = (".json",)
_SKIPPED_SUFFIXES = (".tmp",)


def default_snapshot_root(cache_dir: Path) -> Path:
    """``<cache>/snapshots`` (the cache is ``$XDG_CACHE_HOME/s3pipe``, default ``~/.cache/s3pipe``)."""
    return cache_dir / "snapshots"


@dataclass(frozen=True)
class Unusable:
    """Why a snapshot cannot be used, in one line; ``present`` when there is something on disk to discard."""

    reason: str
    present: bool = True


@dataclass(frozen=True)
class SnapshotContent:
    """What a freshly applied stack leaves behind to be snapshotted."""

    #: MiniStack's STATE_DIR, written by a graceful stop.
    emulator_state: Path
    outputs: Mapping[str, Any]
    placement: Placement
    stack: str
    versions: Mapping[str, str]
    terraform_state: Path | None = None
    #: Emulator state files that must exist (a stop that was not graceful writes none).
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    format: int
    key: str
    parts: dict[str, Any]
    created: float
    stack: str
    versions: dict[str, str]
    #: relative path -> [size, sha256]
    files: dict[str, list[Any]]
    complete: bool = True
    size: int = field(default=0)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        return cls(**data)


@dataclass(frozen=True)
class Restored:
    """A snapshot's state, rebased onto a placement: the emulator's STATE_DIR is filled, the rest returned."""

    outputs: dict[str, Any]
    terraform_state: str | None


@dataclass(frozen=True)
class Snapshot:
    path: Path
    manifest: Manifest

    @property
    def key(self) -> str:
        return self.manifest.key

    def verified_by(self, check: str) -> bool:
        """Whether a restore of this snapshot already passed ``check`` (:meth:`SnapshotStore.mark_verified`)."""
        try:
            marker = json.loads((self.path / VERIFIED).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(marker, dict) and marker.get(check) == VERIFICATION_VERSION

    def restore_into(self, emulator_state: Path, placement: Placement) -> Restored:
        """Copy the emulator state into ``emulator_state`` (a fresh, empty STATE_DIR) with this placement's ports."""
        source = self.path / EMULATOR_DIR
        for relative in sorted(self.manifest.files):
            if not relative.startswith(EMULATOR_DIR + "/"):
                continue
            inner = Path(relative).relative_to(EMULATOR_DIR)
            target = emulator_state / inner
            target.parent.mkdir(parents=True, exist_ok=True)
            origin = source / inner
            if _rewritable(inner):
                target.write_text(_rebased(origin.read_text(encoding="utf-8"), placement, relative), encoding="utf-8")
            else:
                shutil.copyfile(origin, target)
        outputs = json.loads(_rebased((self.path / OUTPUTS).read_text(encoding="utf-8"), placement, OUTPUTS))
        state_path = self.path / TERRAFORM_STATE
        state = None
        if state_path.exists():
            state = _rebased(state_path.read_text(encoding="utf-8"), placement, TERRAFORM_STATE)
        return Restored(outputs=outputs, terraform_state=state)


class SnapshotWriteError(OSError):
    """A snapshot could not be written; the message is the one line to show."""


def _rewritable(relative: Path) -> bool:
    """Top-level service state files (JSON) hold ports and paths; blobs and S3 bodies are copied as they are."""
    return len(relative.parts) == 1 and relative.name.endswith(_TEXT_SUFFIXES)


def _rebased(text: str, placement: Placement, name: str) -> str:
    rebased = placement.from_placeholders(text)
    if left := leftover_placeholders(rebased):
        raise ValueError(f"{name} keeps {', '.join(left)} after rebasing onto {placement}")
    return rebased


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _owner_alive(name: str) -> bool:
    """For ``.tmp-<key>-<pid>-<random>``: is the writing process still running?"""
    try:
        pid = int(name.split("-")[-2])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Listed:
    key: str
    path: Path
    snapshot: Snapshot | None
    problem: str | None
    size_on_disk: int


class KeyLock:
    """An ``flock`` on one key's lock file: it dies with its holder, so a crashed creator never blocks the next."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._handle: IO[str] | None = None

    def __enter__(self) -> bool:
        handle = self.path.open("a")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    return False
                time.sleep(0.2)
            else:
                self._handle = handle
                return True

    def __exit__(self, *_: object) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


class SnapshotStore:
    """The snapshot directory: save, open (validated), lock per key, list, discard, prune."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, key: str) -> Path:
        return self.root / key

    # ------------------------------------------------------------------ locking
    def creating(self, key: str, timeout: float) -> KeyLock:
        """The key's creation lock: ``with store.creating(key, 300) as held:`` (False after ``timeout`` seconds)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return KeyLock(self.root / f".{key}.lock", timeout)

    # ------------------------------------------------------------------ reading
    def open(self, parts: KeyParts, installed: Mapping[str, str] | None = None) -> Snapshot | Unusable:
        """The snapshot for ``parts``, checked: complete, same format/key/versions, every file intact."""
        key = parts.key
        path = self.path_for(key)
        if not path.is_dir():
            return Unusable(f"no snapshot for key {key}", present=False)
        manifest_path = path / MANIFEST
        if not manifest_path.exists():
            return Unusable(f"snapshot {key} is half-written (no {MANIFEST})")
        try:
            manifest = Manifest.from_json(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError) as error:
            return Unusable(f"snapshot {key} has a corrupt {MANIFEST} ({type(error).__name__}: {error})")
        if manifest.format != SNAPSHOT_FORMAT:
            return Unusable(f"snapshot {key} has format {manifest.format}, this harness writes {SNAPSHOT_FORMAT}")
        if not manifest.complete:
            return Unusable(f"snapshot {key} is half-written (manifest not marked complete)")
        differ = parts.differences(manifest.parts)
        if manifest.key != key or differ:
            return Unusable(f"snapshot {key} was made for other inputs ({', '.join(differ) or 'key'} differ)")
        for name, now in sorted((installed or {}).items()):
            then = manifest.versions.get(name)
            if then != now:
                return Unusable(f"snapshot {key} was made with {name} {then}, this machine has {now}")
        if problem := self._check_files(path, manifest):
            return Unusable(f"snapshot {key} is corrupt: {problem}")
        return Snapshot(path, manifest)

    @staticmethod
    def _check_files(path: Path, manifest: Manifest) -> str | None:
        if not any(name.startswith(EMULATOR_DIR + "/") for name in manifest.files) or OUTPUTS not in manifest.files:
            return "the manifest lists no emulator state or no outputs"
        for relative, (size, digest) in sorted(manifest.files.items()):
            file = path / relative
            if not file.is_file():
                return f"{relative} is missing"
            if file.stat().st_size != size:
                return f"{relative} has {file.stat().st_size} bytes, the manifest says {size}"
            if _sha256(file) != digest:
                return f"{relative} does not match its sha256"
        return None

    # ------------------------------------------------------------------ writing
    def save(self, parts: KeyParts, content: SnapshotContent) -> Snapshot:
        """Write the snapshot atomically; if another process stored the key first, return theirs.

        Raises :class:`SnapshotWriteError` (one line: what failed) and leaves nothing behind.
        """
        key = parts.key
        missing = [name for name in content.required if not (content.emulator_state / name).is_file()]
        if missing:
            raise SnapshotWriteError(
                f"the emulator left no {', '.join(missing)} in {content.emulator_state} (was it stopped gracefully?)"
            )
        if not any(path.is_file() for path in content.emulator_state.rglob("*")):
            raise SnapshotWriteError(
                f"the emulator left no state in {content.emulator_state} (was it stopped gracefully?)"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f"{_TEMPORARY_PREFIX}{key}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            manifest = self._write(temporary, parts, content)
            try:
                temporary.rename(self.path_for(key))
            except OSError:
                if not (self.path_for(key) / MANIFEST).exists():
                    raise
                shutil.rmtree(temporary, ignore_errors=True)  # lost the race: theirs is as good as ours
                existing = self.open(parts, None)
                if isinstance(existing, Snapshot):
                    return existing
                raise SnapshotWriteError(
                    f"another process stored {key} first and it is unusable: {existing.reason}"
                ) from None
        except OSError as error:
            shutil.rmtree(temporary, ignore_errors=True)
            if isinstance(error, SnapshotWriteError):
                raise
            raise SnapshotWriteError(f"could not write snapshot {key}: {error}") from error
        return Snapshot(self.path_for(key), manifest)

    @staticmethod
    def _write(temporary: Path, parts: KeyParts, content: SnapshotContent) -> Manifest:
        placement = content.placement
        emulator = temporary / EMULATOR_DIR
        emulator.mkdir(parents=True)
        for source in sorted(content.emulator_state.rglob("*")):
            if not source.is_file() or source.name.endswith(_SKIPPED_SUFFIXES):
                continue
            inner = source.relative_to(content.emulator_state)
            target = emulator / inner
            target.parent.mkdir(parents=True, exist_ok=True)
            if _rewritable(inner):
                target.write_text(placement.to_placeholders(source.read_text(encoding="utf-8")), encoding="utf-8")
            else:
                shutil.copyfile(source, target)
        outputs = json.dumps(dict(content.outputs), indent=2, sort_keys=True) + "\n"
        (temporary / OUTPUTS).write_text(placement.to_placeholders(outputs), encoding="utf-8")
        if content.terraform_state is not None and content.terraform_state.exists():
            state = content.terraform_state.read_text(encoding="utf-8")
            (temporary / TERRAFORM_STATE).write_text(placement.to_placeholders(state), encoding="utf-8")
        files: dict[str, list[Any]] = {
            path.relative_to(temporary).as_posix(): [path.stat().st_size, _sha256(path)]
            for path in sorted(temporary.rglob("*"))
            if path.is_file()
        }
        manifest = Manifest(
            format=SNAPSHOT_FORMAT,
            key=parts.key,
            parts=parts.to_json(),
            created=time.time(),
            stack=content.stack,
            versions=dict(content.versions),
            files=files,
            size=sum(int(size) for size, _ in files.values()),
        )
        manifest_path = temporary / MANIFEST
        with manifest_path.open("w", encoding="utf-8") as handle:  # last: its presence means complete
            handle.write(manifest.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        return manifest

    # ------------------------------------------------------------------ housekeeping
    def mark_verified(self, snapshot: Snapshot, check: str) -> None:
        """Record that a restore of ``snapshot`` passed ``check`` (atomically; best effort: a failure only costs a
        later session the same check)."""
        marker = {check: VERIFICATION_VERSION, "at": time.time()}
        temporary = snapshot.path / f".{VERIFIED}.{os.getpid()}.{secrets.token_hex(3)}"
        try:
            temporary.write_text(json.dumps(marker) + "\n", encoding="utf-8")
            temporary.replace(snapshot.path / VERIFIED)
        except OSError:
            temporary.unlink(missing_ok=True)

    def discard(self, key: str) -> bool:
        """Remove a snapshot (renamed away first, so no reader sees it half-deleted). True if there was one."""
        path = self.path_for(key)
        if not path.exists():
            return False
        doomed = self.root / f"{_DISCARDED_PREFIX}{key}-{secrets.token_hex(4)}"
        try:
            path.rename(doomed)
        except FileNotFoundError:
            return False  # another process discarded it first
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    def entries(self) -> list[Listed]:
        if not self.root.is_dir():
            return []
        listed: list[Listed] = []
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".") or not path.is_dir():
                continue
            size = sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
            snapshot, problem = self._peek(path)
            listed.append(Listed(path.name, path, snapshot, problem, size))
        return listed

    def _peek(self, path: Path) -> tuple[Snapshot | None, str | None]:
        try:
            manifest = Manifest.from_json((path / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, f"half-written (no {MANIFEST})"
        except (OSError, ValueError, TypeError) as error:
            return None, f"corrupt {MANIFEST} ({type(error).__name__})"
        if manifest.format != SNAPSHOT_FORMAT:
            return None, f"format {manifest.format} (this harness: {SNAPSHOT_FORMAT})"
        if problem := self._check_files(path, manifest):
            return None, f"corrupt: {problem}"
        return Snapshot(path, manifest), None

    def prune(self, keep: set[str], *, everything: bool = False) -> list[tuple[str, str]]:
        """Remove snapshots not in ``keep`` (all with ``everything``) and leftovers of dead writers.

        Returns (name, why) per removed entry.
        """
        removed: list[tuple[str, str]] = []
        if not self.root.is_dir():
            return removed
        now = time.time()
        for path in sorted(self.root.iterdir()):
            name = path.name
            if name.startswith(_DISCARDED_PREFIX) or (
                name.startswith(_TEMPORARY_PREFIX)
                and (not _owner_alive(name) or now - path.stat().st_mtime > STALE_TEMPORARY_SECONDS)
            ):
                shutil.rmtree(path, ignore_errors=True)
                removed.append((name, "left over by a writer that is gone"))
            elif name.startswith(".") or not path.is_dir():
                continue
            elif (everything or name not in keep) and self.discard(name):
                removed.append((name, "all removed" if everything else "not the current key"))
        return removed
