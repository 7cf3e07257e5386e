"""Warm reuse shared by the pipeline's stack (:mod:`s3pipe.session`) and module stacks (:mod:`.module_stack`).

A stack left running records itself in its workspace's ``stack.json`` (:class:`~s3pipe.deploy.StackRecord`).
These are the checks every kind of stack makes before attaching to one (backend, endpoint, health, owner),
claiming and releasing it, and stopping its emulator when a session replaces it. What the module and its
settings must match is each caller's own check.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

from s3pipe.backends.base import Backend, Probes
from s3pipe.backends.probes import pid_alive
from s3pipe.deploy import StackRecord
from s3pipe.errors import HarnessError
from s3pipe.progress import Progress

#: Is a process with this pid running (:func:`s3pipe.backends.probes.pid_alive` or a stand-in).
PidAlive = Callable[[int | None], bool]


def stop_emulator(record: StackRecord, alive: PidAlive = pid_alive) -> bool:
    """SIGTERM the recorded emulator's supervisor, which reaps the whole group. True if it was running."""
    if not (record.emulator_pid and alive(record.emulator_pid)):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.emulator_pid, signal.SIGTERM)
    return True


def owned_by_another_session(record: StackRecord, alive: PidAlive) -> bool:
    """True while the record's owner is a live process other than this one."""
    return bool(record.owner_pid and record.owner_pid != os.getpid() and alive(record.owner_pid))


#: Why there is nothing to attach to.
NO_RECORD = "no warm stack recorded"


def attach_problem(record: StackRecord, backend_class: type[Backend], probes: Probes) -> str | None:
    """Why a recorded stack cannot be attached to, whatever its module and settings; None if it can."""
    if record.backend != backend_class.name:
        return f"recorded stack runs on backend {record.backend!r}"
    if record.endpoint_url is None:
        return "recorded stack has no endpoint"
    if problem := backend_class.reuse_problem(record, probes):
        return problem
    health = probes.health(record.endpoint_url)
    if not health.healthy:
        return f"{record.endpoint_url} does not answer ({health.detail})"
    if owned_by_another_session(record, probes.pid_alive):
        return f"it is in use by another live session (pid {record.owner_pid})"
    return None


#: How a session that hits a stack in use gets one of its own (the pipeline's stack; a module stack says its own).
OWN_STACK_FIX = "wait for that run to end, or give this run its own stack: S3PIPE_STACK_NAME=<name>"


def retire(
    record: StackRecord,
    record_path: Path,
    *,
    stack_name: str,
    alive: PidAlive,
    progress: Progress,
    fix: str = OWN_STACK_FIX,
) -> None:
    """Stop the emulator of a stack being replaced (a kept stack left detached would run on forever).

    A stack that another live session is using is never touched: that is an error to resolve.
    """
    if owned_by_another_session(record, alive):
        raise HarnessError(
            f"Stack {stack_name!r} is in use by another live session",
            tried=f"reuse or replace the stack recorded in {record_path}",
            seen=f"owner pid {record.owner_pid} is running",
            fix=fix,
        )
    if stop_emulator(record, alive):
        progress.stage("reuse", f"stopped the replaced stack's emulator (pid {record.emulator_pid})")


def claim(record: StackRecord, record_path: Path) -> None:
    """Mark the warm stack as used by this process, so a concurrent session does not attach too."""
    current = StackRecord.load(record_path) or record
    current.owner_pid = os.getpid()
    current.save(record_path)


def release_claim(record_path: Path) -> None:
    """Clear this process's claim on the recorded stack (left as is when another process holds it)."""
    record = StackRecord.load(record_path)
    if record is not None and record.owner_pid in (os.getpid(), None):
        record.owner_pid = None
        record.save(record_path)
