"""Integration tests run through the deployed stack (fixtures from the s3pipe plugin). No mocks here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from s3pipe.stack import Stack

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@contextmanager
def mapping_paused(stack: Stack) -> Iterator[None]:
    """Hold the event source mapping while messages pile up, so they reach the function in one batch."""
    with stack.mapping_paused():
        yield
