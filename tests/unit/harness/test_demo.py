"""``s3pipe demo``'s tables: columns aligned to the widest cell, long cells truncated."""

from __future__ import annotations

from s3pipe.demo import render_table


def test_columns_are_aligned_to_the_widest_cell() -> None:
    headers = ["object", "line", "reason"]
    rows = [("mixed.jsonl", 3, "not JSON"), ("a.log", 12, "missing field 'status'")]

    lines = render_table(headers, rows).splitlines()

    assert lines == [
        "object       line  reason                ",
        "-----------  ----  ----------------------",
        "mixed.jsonl  3     not JSON              ",
        "a.log        12    missing field 'status'",
    ]


def test_a_header_wider_than_its_cells_sets_the_width() -> None:
    lines = render_table(["a long header", "b"], [("x", "y")]).splitlines()
    assert lines[1] == "-------------  -"
    assert lines[2] == "x              y"


def test_long_cells_are_truncated_with_an_ellipsis() -> None:
    long = "x" * 100
    lines = render_table(["value"], [(long,), ("short",)]).splitlines()
    assert lines[2] == "x" * 63 + "…"
    assert len(lines[2]) == 64
    assert lines[1] == "-" * 64
    assert lines[3] == "short".ljust(64)


def test_a_cell_of_exactly_the_limit_is_kept_whole() -> None:
    exact = "y" * 64
    assert render_table(["v"], [(exact,)]).splitlines()[2] == exact


def test_non_string_values_are_shown_as_json() -> None:
    lines = render_table(["v"], [(12,), ({"a": [1, True, None]},), ("日本",)]).splitlines()
    assert [line.rstrip() for line in lines[2:]] == ["12", '{"a": [1, true, null]}', "日本"]


def test_no_rows_is_just_the_header() -> None:
    assert render_table(["object", "class"], []) == "object  class\n------  -----"
