"""Ports and paths become placeholders in a stored snapshot and this session's values when restored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3pipe.snapshots.rebase import EMULATOR_PORT, GATEWAY_PORT, WORKSPACE, Placement, leftover_placeholders

PLACE = Placement(emulator_port=4566, gateway_port=45795, workspace="/w/.s3pipe/stacks/dev")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_every_loopback_host_with_the_emulator_port_is_replaced(host: str) -> None:
    text = f"http://{host}:4566/000000000000/q"
    assert PLACE.to_placeholders(text) == f"http://{host}:{EMULATOR_PORT}/000000000000/q"


def test_a_longer_port_that_starts_with_the_same_digits_is_left_alone() -> None:
    assert PLACE.to_placeholders("http://127.0.0.1:45660/x") == "http://127.0.0.1:45660/x"


def test_a_non_loopback_host_is_left_alone() -> None:
    assert PLACE.to_placeholders("https://sqs.ap-northeast-1.amazonaws.com:4566/q") == (
        "https://sqs.ap-northeast-1.amazonaws.com:4566/q"
    )


def test_gateway_port_and_workspace_get_their_own_placeholders() -> None:
    text = "AWS_ENDPOINT_URL=http://127.0.0.1:45795 filename=/w/.s3pipe/stacks/dev/artifacts/lambda.zip"
    stored = PLACE.to_placeholders(text)
    assert stored == f"AWS_ENDPOINT_URL=http://127.0.0.1:{GATEWAY_PORT} filename={WORKSPACE}/artifacts/lambda.zip"


def test_a_placement_without_gateway_leaves_its_placeholder_to_be_reported() -> None:
    stored = PLACE.to_placeholders("http://127.0.0.1:45795")
    restored = Placement(emulator_port=5000, gateway_port=None, workspace="/x").from_placeholders(stored)
    assert leftover_placeholders(restored) == [GATEWAY_PORT]


@given(
    old=st.integers(1024, 65535),
    new=st.integers(1024, 65535),
    gateway=st.integers(1024, 65535),
    path=st.sampled_from(["", "/q", "/000000000000/s3p-x-queue"]),
)
def test_round_trip_moves_urls_to_the_new_ports(old: int, new: int, gateway: int, path: str) -> None:
    if gateway == old:
        gateway = old + 1 if old < 65535 else old - 1
    before = Placement(old, gateway, "/a/ws")
    after = Placement(new, gateway + 1 if gateway < 65535 else 1024, "/b/ws")
    text = f"q=http://localhost:{old}{path} gw=http://127.0.0.1:{gateway} f=/a/ws/z"
    restored = after.from_placeholders(before.to_placeholders(text))
    assert restored == f"q=http://localhost:{new}{path} gw=http://127.0.0.1:{after.gateway_port} f=/b/ws/z"
    assert leftover_placeholders(restored) == []
