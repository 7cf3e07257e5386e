"""Byte-for-byte reproducible Lambda zips (no ``archive_file``).

Same sources -> same bytes -> same ``filebase64sha256`` -> Terraform sees no change, so an
unchanged handler never causes a redeploy. Entries are sorted, timestamps fixed at
1980-01-01, permissions normalised, caches and tests left out.
"""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "tests"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class LambdaArtifact:
    path: Path
    sha256: str
    size: int

    @property
    def base64sha256(self) -> str:
        """The value Terraform's ``filebase64sha256`` and Lambda's ``CodeSha256`` report."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


def source_files(source_dir: Path) -> dict[str, bytes]:
    """Archive name -> content for every file of the Lambda source tree worth shipping."""
    files: dict[str, bytes] = {}
    for path in sorted(source_dir.rglob("*")):
        relative = path.relative_to(source_dir)
        if any(part in _SKIPPED_DIRS or part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and not path.name.endswith(_SKIPPED_SUFFIXES):
            files[relative.as_posix()] = path.read_bytes()
    return files


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()


def build_lambda_zip(
    source_dir: Path, destination: Path, extra_files: Mapping[str, bytes] | None = None
) -> LambdaArtifact:
    """Zip ``source_dir`` (plus ``extra_files``) to ``destination``; rewrite only when the bytes change."""
    files = source_files(source_dir)
    if not files:
        raise FileNotFoundError(f"no files to package in {source_dir}")
    files.update(extra_files or {})
    data = zip_bytes(files)
    digest = hashlib.sha256(data).hexdigest()
    destination.parent.mkdir(parents=True, exist_ok=True)
    if not destination.exists() or destination.read_bytes() != data:
        temporary = destination.with_suffix(destination.suffix + ".tmp")
        temporary.write_bytes(data)
        temporary.replace(destination)
    return LambdaArtifact(destination, digest, len(data))
