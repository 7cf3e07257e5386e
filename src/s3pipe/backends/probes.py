"""The real :class:`~s3pipe.backends.base.Probes`: process table, health endpoint, function gateway."""

from __future__ import annotations

import os

from s3pipe.backends.base import Probes
from s3pipe.backends.health import probe_health
from s3pipe.gateway.client import probe_gateway


def pid_alive(pid: int | None) -> bool:
    """True while a process with this pid exists (also one of another user)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def real_probes() -> Probes:
    return Probes(pid_alive=pid_alive, health=probe_health, gateway=probe_gateway)
