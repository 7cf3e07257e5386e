"""Access logs: Common Log Format (``"clf"``) and Combined Log Format (``"combined"``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from .entries import EXCERPT_CHARS, Entry, Record, Rejection, SourceFormat
from .source import ChunkSource, text_lines

_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_ACCESS_LOG_RE: Final = re.compile(
    r"(\S+) (\S+) (\S+) \[([^\]]+)\] " + _QUOTED + r" (\d{3}) (\d+|-)(?: " + _QUOTED + " " + _QUOTED + r")?[ \t]*"
)
_CLF_TIME_RE: Final = re.compile(r"(\d{2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
_MONTHS: Final = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_TIME_CACHE: dict[str, str] = {}
_TIME_CACHE_MAX: Final = 4096


def clf_time_to_iso(value: str) -> str:
    """``10/Oct/2000:13:55:36 -0700`` -> ``2000-10-10T20:55:36Z`` (ValueError when invalid)."""
    cached = _TIME_CACHE.get(value)
    if cached is not None:
        return cached
    match = _CLF_TIME_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"timestamp {value!r} is not in dd/Mon/yyyy:HH:MM:SS +zzzz form")
    day, month_name, year, hour, minute, second, sign, tz_hours, tz_minutes = match.groups()
    month = _MONTHS.get(month_name)
    if month is None:
        raise ValueError(f"timestamp {value!r} has an unknown month {month_name!r}")
    offset = timedelta(hours=int(tz_hours), minutes=int(tz_minutes))
    try:
        moment = datetime(
            int(year),
            month,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone(-offset if sign == "-" else offset),
        )
        iso = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"timestamp {value!r} is not a valid date ({exc})") from None
    if len(_TIME_CACHE) >= _TIME_CACHE_MAX:
        _TIME_CACHE.clear()
    _TIME_CACHE[value] = iso
    return iso


def parse_access_log_line(line: str) -> tuple[dict[str, object], SourceFormat] | str:
    """Parse one CLF/Combined line into typed fields, or return the reason it does not match."""
    match = _ACCESS_LOG_RE.fullmatch(line)
    if match is None:
        return "line does not match Common or Combined Log Format"
    host, ident, user, stamp, request, status, size, referer, agent = match.groups()
    try:
        iso = clf_time_to_iso(stamp)
    except ValueError as exc:
        return str(exc)
    record: dict[str, object] = {"remote_host": host, "ident": ident, "user": user, "time": iso}
    parts = request.split(" ")
    if len(parts) >= 3 and parts[-1].startswith("HTTP/"):
        record["method"] = parts[0]
        record["path"] = " ".join(parts[1:-1])
        record["protocol"] = parts[-1]
    elif len(parts) == 2:
        record["method"] = parts[0]
        record["path"] = parts[1]
    else:
        record["request"] = request
    record["status"] = int(status)
    if size != "-":
        record["bytes"] = int(size)
    if referer is None:
        return record, "clf"
    record["referer"] = referer
    record["user_agent"] = agent
    return record, "combined"


def parse_access_log(src: ChunkSource, max_line: int, skip_through: int = 0) -> Iterator[Entry]:
    for line in text_lines(src, max_line, skip_through):
        if isinstance(line, Rejection):
            yield line
            continue
        line_no, ordinal, data, text = line
        parsed = parse_access_log_line(text)
        if type(parsed) is str:
            yield Rejection(line_no, ordinal, parsed, text[:EXCERPT_CHARS])
            continue
        assert not isinstance(parsed, str)
        yield Record(line_no, ordinal, parsed[0], parsed[1], len(data))
