"""Progress lines with timings, e.g. ``[s3pipe] apply ........ 51.2 s``.

The writer is injectable: the CLI prints to stderr, the pytest plugin writes through the
terminal reporter so the lines show even while output is captured.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Progress:
    write: Callable[[str], None] = _stderr
    timings: dict[str, float] = field(default_factory=dict)
    prefix: str = "[s3pipe]"

    def stage(self, name: str, detail: str) -> None:
        self.write(f"{self.prefix} {name:<14} {detail}")

    def done(self, name: str, seconds: float, detail: str = "") -> None:
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        suffix = f"  {detail}" if detail else ""
        self.write(f"{self.prefix} {name:<14} {seconds:6.1f} s{suffix}")

    @contextmanager
    def timed(self, name: str, detail: str = "") -> Iterator[None]:
        started = time.monotonic()
        yield
        self.done(name, time.monotonic() - started, detail)


def silent() -> Progress:
    return Progress(write=lambda _line: None)
