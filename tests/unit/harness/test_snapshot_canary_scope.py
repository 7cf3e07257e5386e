"""Which handlers the snapshot canary can verify (others are applied, never restored)."""

from __future__ import annotations

from pathlib import Path

from s3pipe.snapshots.canary import SHIPPED_HANDLER, canary_can_check

REPO = Path(__file__).resolve().parents[3]


def test_the_shipped_handler_is_one_the_canary_can_check() -> None:
    assert canary_can_check(REPO / "lambda")


def test_a_handler_of_your_own_is_not(tmp_path: Path) -> None:
    (tmp_path / "handler").mkdir()
    (tmp_path / "handler" / "app.py").write_text("def handler(event, context):\n    return None\n")
    assert not canary_can_check(tmp_path)
    assert not canary_can_check(REPO / "examples" / "article")


def test_the_marker_names_a_real_module_of_the_handler() -> None:
    assert (REPO / "lambda" / SHIPPED_HANDLER).is_file()
