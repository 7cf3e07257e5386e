"""The Lambda zip holds the handler's runtime modules and nothing else; the bench lives in tests/perf."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from s3pipe.bench import HANDLER_BENCH, load_handler_bench
from s3pipe.errors import HarnessError
from s3pipe.lambda_zip import source_files, zip_bytes

ROOT = Path(__file__).resolve().parents[3]
LAMBDA_DIR = ROOT / "lambda"


def runtime_module_files() -> set[str]:
    """Archive names of every ``log_ingest`` module the Lambda runtime imports (in a fresh process)."""
    script = (
        "import json, sys\n"
        "import log_ingest.handler\n"
        "print(json.dumps(sorted({m.__file__ for n, m in sys.modules.items() if n.split('.')[0] == 'log_ingest'})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=LAMBDA_DIR,
        env={"PYTHONPATH": str(LAMBDA_DIR), "PATH": ""},
    ).stdout
    return {Path(name).relative_to(LAMBDA_DIR).as_posix() for name in json.loads(out)}


def test_the_zip_holds_exactly_the_modules_the_handler_imports() -> None:
    with zipfile.ZipFile(io.BytesIO(zip_bytes(source_files(LAMBDA_DIR)))) as archive:
        entries = set(archive.namelist())
    runtime = runtime_module_files()
    assert "log_ingest/handler.py" in runtime
    assert "log_ingest/formats/dispatch.py" in runtime  # subpackages are packed
    assert entries - runtime == set(), f"shipped but never imported by the handler: {sorted(entries - runtime)}"
    assert runtime - entries == set(), f"imported by the handler but not shipped: {sorted(runtime - entries)}"


def test_the_bench_is_not_in_the_handler_package() -> None:
    assert not (LAMBDA_DIR / "log_ingest" / "bench.py").exists()
    assert (ROOT / HANDLER_BENCH).is_file()


def test_s3pipe_bench_loads_the_handler_bench_from_the_tests_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(LAMBDA_DIR))
    bench = load_handler_bench(ROOT)
    result = bench.parse_and_shape(bench.GeneratedStream(bench.jsonl_lines(100)), key="b.jsonl")
    assert (result.records, result.rejections) == (100, 0)


def test_a_missing_bench_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(HarnessError) as caught:
        load_handler_bench(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / HANDLER_BENCH) in message
    assert "checkout of the repository" in message
