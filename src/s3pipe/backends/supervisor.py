"""Process supervisor for the embedded emulator (stdlib only; runs in the emulator's own venv).

Usage: ``python supervisor.py [--watch-stdin] -- COMMAND... [-- COMMAND...]``

It starts each COMMAND (the emulator first, then helpers such as the function gateway) in one
new process group and, when told to stop (SIGTERM/SIGINT/SIGHUP), when any of them exits, or,
with ``--watch-stdin``, when its stdin reaches EOF because the harness that started it died,
terminates the whole group (a ``detach`` line on stdin ends the watch: the emulator is
kept): the emulator, its helpers *and* the Lambda worker processes it spawned.
Watching stdin is what makes an interrupted or killed test run leave nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable

GRACE_SECONDS = 5.0


def _terminate_group(pgid: int, children: Iterable[subprocess.Popen[bytes]] = ()) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        for child in children:
            child.poll()  # reap our own commands: a zombie still counts as a member of the group
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def split_commands(argv: list[str]) -> list[list[str]]:
    """``[opts] -- A a1 -- B b1`` -> ``[["A", "a1"], ["B", "b1"]]`` (empty commands dropped)."""
    commands: list[list[str]] = []
    for word in argv[argv.index("--") :]:
        if word == "--":
            commands.append([])
        else:
            commands[-1].append(word)
    return [command for command in commands if command]


def main(argv: list[str]) -> int:
    watch_stdin = "--watch-stdin" in argv
    commands = split_commands(argv) if "--" in argv else []
    if not commands:
        print("usage: supervisor.py [--watch-stdin] -- COMMAND... [-- COMMAND...]", file=sys.stderr)
        return 2
    # A group of their own, in our session (a process can only join a group of its own session).
    child = subprocess.Popen(commands[0], stdin=subprocess.DEVNULL, process_group=0)  # noqa: S603
    pgid = child.pid
    children = {child.pid: child}
    for command in commands[1:]:
        helper = subprocess.Popen(command, stdin=subprocess.DEVNULL, process_group=pgid)  # noqa: S603
        children[helper.pid] = helper
    stopping = threading.Event()

    def stop(*_: object) -> None:
        if not stopping.is_set():
            stopping.set()
            _terminate_group(pgid, list(children.values()))

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)

    if watch_stdin:

        def watch() -> None:
            # Raw reads of fd 0: a daemon thread blocked inside sys.stdin's buffered reader holds its lock
            # and makes interpreter shutdown abort when a command exits on its own.
            pending = b""
            while chunk := os.read(0, 4096):
                pending += chunk
                lines = pending.split(b"\n")
                pending = lines.pop()
                if any(line.strip() == b"detach" for line in lines):
                    return  # the harness hands the emulator over to a later session (warm reuse)
            stop()

        threading.Thread(target=watch, daemon=True).start()

    code = _wait_any(children)
    stop()  # reap workers the emulator left behind, whatever the reason it ended
    for process in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=GRACE_SECONDS)
    return code


def _wait_any(children: dict[int, subprocess.Popen[bytes]]) -> int:
    """Block until one of the commands exits; its exit code (as ``Popen.returncode`` reports it)."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return next((p.returncode for p in children.values() if p.returncode is not None), 0)
        process = children.get(pid)
        if process is not None:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
