"""The front door: ``s3pipe.__all__`` names the public API, every name imports, and ``import s3pipe`` is cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import s3pipe
from s3pipe import _EXPORTS


@pytest.mark.parametrize("name", s3pipe.__all__)
def test_every_public_name_imports_from_the_package(name: str) -> None:
    value = getattr(s3pipe, name)
    assert value is getattr(__import__(_EXPORTS[name], fromlist=[name]), name)


def test_all_and_the_export_table_agree() -> None:
    assert sorted(s3pipe.__all__) == sorted(_EXPORTS)
    assert len(set(s3pipe.__all__)) == len(s3pipe.__all__)


def test_the_requires_marker_names_a_real_class() -> None:
    from s3pipe.backends.base import Capability

    assert s3pipe.Capability is Capability  # the marker's help text says `s3pipe.Capability`


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = s3pipe.Nope  # type: ignore[attr-defined]


def test_importing_the_package_loads_no_submodule_no_sdk_and_no_hypothesis() -> None:
    code = (
        "import sys, s3pipe\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('s3pipe.', 'boto3', 'botocore', 'hypothesis')))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
