"""The embedded emulator's own Python environment.

MiniStack pins its own botocore, so it must not share the test environment. The harness keeps
one venv per MiniStack version under the user cache (created once, reused afterwards) and
installs boto3 beside it because the emulator's Lambda workers run with this interpreter and
the real Lambda Python runtime provides boto3.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from s3pipe.errors import EnvironmentSetupError
from s3pipe.progress import Progress

#: What the Lambda Python runtime provides besides the standard library.
LAMBDA_RUNTIME_PACKAGES = ("boto3",)


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Serialise venv creation across processes (pytest-xdist workers, parallel CLIs)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _venv_python(venv_dir: Path) -> Path:
    return venv_dir / "bin" / "python"


def ensure_ministack_python(
    spec: str, cache_dir: Path, progress: Progress, explicit_python: Path | None = None
) -> Path:
    """Return an interpreter that can ``import ministack`` and ``boto3``, creating its venv on first use."""
    if explicit_python is not None:
        return explicit_python
    version_tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    digest = hashlib.sha256(f"{spec}|{','.join(LAMBDA_RUNTIME_PACKAGES)}".encode()).hexdigest()[:10]
    venv_dir = cache_dir / "venvs" / f"ministack-{version_tag}-{digest}"
    marker = venv_dir / ".s3pipe-ready"
    if marker.exists():
        return _venv_python(venv_dir)
    with _exclusive(cache_dir / "venvs" / f".{venv_dir.name}.lock"):
        if marker.exists():  # another process finished it while we waited
            return _venv_python(venv_dir)
        started = time.monotonic()
        progress.stage("emulator env", f"creating {venv_dir} ({spec}, once per machine)")
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
        command = [
            str(_venv_python(venv_dir)),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            spec,
            *LAMBDA_RUNTIME_PACKAGES,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise EnvironmentSetupError.command_failed(
                command, result.returncode, (result.stdout + result.stderr).splitlines(), str(venv_dir)
            )
        marker.write_text(spec + "\n")
        progress.done("emulator env", time.monotonic() - started)
    return _venv_python(venv_dir)
