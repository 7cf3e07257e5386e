"""Object keys: what people write, within S3's limit, and encoded the way S3 encodes them in notifications."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from s3pipe.strategies import DEFAULT_SUFFIXES, MAX_KEY_BYTES, encode_key, object_keys


@given(object_keys())
def test_keys_round_trip_through_the_notification_encoding(key: str) -> None:
    assert unquote_plus(encode_key(key)) == key
    assert encode_key(key).isascii()
    assert 1 <= len(key.encode()) <= MAX_KEY_BYTES
    assert key.endswith(DEFAULT_SUFFIXES)
    assert not {".", ".."} & set(key.split("/"))


@given(st.data(), st.sampled_from(["", "logs/", "a b/ü/"]), st.sampled_from([".json", "/", ".log.gz"]))
def test_prefix_and_suffix_filters_are_kept_and_the_middle_is_cut(
    data: st.DataObject, prefix: str, suffix: str
) -> None:
    key = data.draw(object_keys(prefix=prefix, suffixes=suffix, max_bytes=64))
    assert key.startswith(prefix)
    assert key.endswith(suffix)
    assert len(key) > len(prefix + suffix)
    assert len(key.encode()) <= 64


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("red flower.jpg", "red+flower.jpg"),  # the S3 user guide's example
        ("dir/my+file.json", "dir/my%2Bfile.json"),  # a real '+' must not read back as a space
        ("100%.log", "100%25.log"),
        ("something/dt=2018-05-04/_SUCCESS", "something/dt%3D2018-05-04/_SUCCESS"),  # aws-sam-cli#379
        ("ログ/日本.json", "%E3%83%AD%E3%82%B0/%E6%97%A5%E6%9C%AC.json"),
    ],
)
def test_encode_key_writes_keys_as_s3_notifications_do(key: str, encoded: str) -> None:
    assert encode_key(key) == encoded
    assert unquote_plus(encoded) == key


@pytest.mark.parametrize(
    ("what", "condition"),
    [
        ("a space", lambda k: " " in k),
        ("a plus", lambda k: "+" in k),
        ("a percent sign", lambda k: "%" in k),
        ("non-ASCII", lambda k: not k.isascii()),
        ("a character outside the BMP", lambda k: any(ord(c) > 0xFFFF for c in k)),
        ("five folders deep", lambda k: k.count("/") >= 5),
        ("a folder marker", lambda k: k.endswith("/")),
        ("no suffix at all", lambda k: "." not in k.rpartition("/")[2] and not k.endswith("/")),
        ("close to the 1,024-byte limit", lambda k: len(k.encode()) > 1000),
    ],
)
def test_keys_people_write_are_drawn(what: str, condition: object) -> None:
    assert condition(find(object_keys(), condition))  # type: ignore[operator,arg-type]


def test_impossible_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="S3's limit"):
        object_keys(max_bytes=MAX_KEY_BYTES + 1)
    with pytest.raises(ValueError, match="no room"):
        object_keys(prefix="x" * 1000, suffixes=".json" * 5)
