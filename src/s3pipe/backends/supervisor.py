"""Process supervisor for the embedded emulator (stdlib only; runs in the emulator's own venv).

Usage: ``python supervisor.py [--watch-stdin] -- COMMAND...``

It starts COMMAND in a new process group and, when told to stop (SIGTERM/SIGINT/SIGHUP) or,
with ``--watch-stdin``, when its stdin reaches EOF because the harness that started it died,
terminates the whole group (a ``detach`` line on stdin ends the watch: the emulator is
kept): the emulator *and* the Lambda worker processes it spawned.
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

GRACE_SECONDS = 5.0


def _terminate_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    watch_stdin = "--watch-stdin" in argv
    if "--" not in argv:
        print("usage: supervisor.py [--watch-stdin] -- COMMAND...", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)  # noqa: S603
    pgid = child.pid
    stopping = threading.Event()

    def stop(*_: object) -> None:
        if not stopping.is_set():
            stopping.set()
            _terminate_group(pgid)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)

    if watch_stdin:

        def watch() -> None:
            for line in sys.stdin.buffer:
                if line.strip() == b"detach":
                    return  # the harness hands the emulator over to a later session (warm reuse)
            stop()

        threading.Thread(target=watch, daemon=True).start()

    code = child.wait()
    stop()  # reap workers the emulator left behind, whatever the reason it ended
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
