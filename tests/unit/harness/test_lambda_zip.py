"""Reproducible Lambda zips: same sources -> same bytes -> same sha, whatever the file system metadata."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import zipfile
from pathlib import Path

import pytest

from s3pipe.lambda_zip import FIXED_TIMESTAMP, build_lambda_zip, source_files, zip_bytes

SOURCES = {
    "log_ingest/__init__.py": b"",
    "log_ingest/handler.py": b"def handler(event, context):\n    return {}\n",
    "log_ingest/formats/json_lines.py": b"FORMAT = 'jsonl'\n",
    "README.txt": "é ünïcode\n".encode(),
}


def write_tree(root: Path, files: dict[str, bytes], order: list[str] | None = None) -> Path:
    for name in order or list(files):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
    return root


def test_same_tree_twice_gives_identical_bytes_and_sha(tmp_path: Path) -> None:
    first_src = write_tree(tmp_path / "a", SOURCES)
    # the second tree: files created in reverse order, other mtimes, other permissions
    second_src = write_tree(tmp_path / "b", SOURCES, order=sorted(SOURCES, reverse=True))
    for index, path in enumerate(sorted(p for p in second_src.rglob("*") if p.is_file())):
        os.utime(path, (1_000_000 + index * 7919, 1_500_000_000 + index * 104_729))
        path.chmod(0o755 if index % 2 else 0o600)

    first = build_lambda_zip(first_src, tmp_path / "out" / "first.zip")
    second = build_lambda_zip(second_src, tmp_path / "out" / "second.zip")

    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256
    assert first.size == second.size == first.path.stat().st_size


def test_entries_are_sorted_with_fixed_time_and_normalised_mode(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", SOURCES, order=sorted(SOURCES, reverse=True))
    (source / "log_ingest" / "handler.py").chmod(0o700)
    artifact = build_lambda_zip(source, tmp_path / "lambda.zip")

    with zipfile.ZipFile(artifact.path) as archive:
        infos = archive.infolist()
        assert [info.filename for info in infos] == sorted(SOURCES)
        for info in infos:
            assert info.date_time == FIXED_TIMESTAMP
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert stat.S_IMODE(info.external_attr >> 16) == 0o644
            assert stat.S_ISREG(info.external_attr >> 16)
            assert archive.read(info) == SOURCES[info.filename]


def test_content_change_changes_the_sha(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", SOURCES)
    before = build_lambda_zip(source, tmp_path / "lambda.zip")
    (source / "log_ingest" / "handler.py").write_bytes(b"def handler(event, context):\n    return None\n")
    after = build_lambda_zip(source, tmp_path / "lambda.zip")
    assert before.sha256 != after.sha256
    assert hashlib.sha256((tmp_path / "lambda.zip").read_bytes()).hexdigest() == after.sha256


def test_renaming_a_file_changes_the_sha(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", SOURCES)
    before = build_lambda_zip(source, tmp_path / "lambda.zip")
    (source / "README.txt").rename(source / "README.md")
    assert build_lambda_zip(source, tmp_path / "lambda.zip").sha256 != before.sha256


@pytest.mark.parametrize(
    "junk",
    [
        "log_ingest/__pycache__/handler.cpython-311.pyc",
        "log_ingest/handler.pyc",
        "log_ingest/handler.pyo",
        "log_ingest/.DS_Store",
        ".env",
        ".venv/lib/site.py",
        ".mypy_cache/3.11/x.json",
        ".pytest_cache/v/cache/lastfailed",
        ".ruff_cache/content",
        "tests/test_handler.py",
        "log_ingest/tests/conftest.py",
    ],
)
def test_caches_dotfiles_and_tests_are_left_out(tmp_path: Path, junk: str) -> None:
    clean = build_lambda_zip(write_tree(tmp_path / "clean", SOURCES), tmp_path / "clean.zip")
    dirty_src = write_tree(tmp_path / "dirty", {**SOURCES, junk: b"junk"})

    assert junk not in source_files(dirty_src)
    dirty = build_lambda_zip(dirty_src, tmp_path / "dirty.zip")
    assert dirty.sha256 == clean.sha256


def test_source_files_maps_posix_names_to_contents(tmp_path: Path) -> None:
    assert source_files(write_tree(tmp_path, SOURCES)) == SOURCES


def test_extra_files_are_added_and_can_replace_a_source_file(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", SOURCES)
    artifact = build_lambda_zip(
        source,
        tmp_path / "lambda.zip",
        extra_files={"fault.py": b"FAULT = True\n", "log_ingest/__init__.py": b"# patched\n"},
    )
    with zipfile.ZipFile(artifact.path) as archive:
        assert archive.read("fault.py") == b"FAULT = True\n"
        assert archive.read("log_ingest/__init__.py") == b"# patched\n"
        assert archive.namelist() == sorted([*SOURCES, "fault.py"])
    assert artifact.sha256 != build_lambda_zip(source, tmp_path / "plain.zip").sha256


def test_extra_files_do_not_depend_on_mapping_order(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", SOURCES)
    one = build_lambda_zip(source, tmp_path / "1.zip", {"a.py": b"a", "b.py": b"b"})
    two = build_lambda_zip(source, tmp_path / "2.zip", {"b.py": b"b", "a.py": b"a"})
    assert one.sha256 == two.sha256


def test_unchanged_sources_do_not_rewrite_the_zip(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", SOURCES)
    destination = tmp_path / "artifacts" / "lambda.zip"
    build_lambda_zip(source, destination)
    os.utime(destination, (1_000_000, 1_000_000))
    inode = destination.stat().st_ino

    build_lambda_zip(source, destination)

    assert destination.stat().st_mtime == 1_000_000
    assert destination.stat().st_ino == inode
    assert not destination.with_suffix(".zip.tmp").exists()


def test_changed_sources_replace_the_zip(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", SOURCES)
    destination = tmp_path / "lambda.zip"
    build_lambda_zip(source, destination)
    os.utime(destination, (1_000_000, 1_000_000))
    (source / "new.py").write_bytes(b"x = 1\n")

    artifact = build_lambda_zip(source, destination)

    assert destination.stat().st_mtime != 1_000_000
    assert destination.read_bytes() == zip_bytes({**SOURCES, "new.py": b"x = 1\n"})
    assert hashlib.sha256(destination.read_bytes()).hexdigest() == artifact.sha256


def test_base64sha256_is_what_terraform_filebase64sha256_gives(tmp_path: Path) -> None:
    artifact = build_lambda_zip(write_tree(tmp_path / "src", SOURCES), tmp_path / "lambda.zip")
    # filebase64sha256(path) = base64encode(raw sha256 digest of the file's bytes)
    expected = base64.b64encode(hashlib.sha256(artifact.path.read_bytes()).digest()).decode()
    assert artifact.base64sha256 == expected
    assert len(artifact.base64sha256) == 44


def test_an_empty_source_tree_is_an_error(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "__pycache__").mkdir(parents=True)
    (source / "__pycache__" / "x.pyc").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no files to package"):
        build_lambda_zip(source, tmp_path / "lambda.zip")
    assert not (tmp_path / "lambda.zip").exists()
