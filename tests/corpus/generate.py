"""The bad-input corpus: its table (outcomes.toml), its inputs (files/ and the generators below).

Used by tests/integration/test_corpus.py (through the deployed stack) and
tests/unit/handler/test_handler_corpus.py (through the handler with fakes, and the README check).

Inputs that are big, binary or byte-exact (BOM, CRLF, invalid UTF-8, gzip variants, the 10 MB
line, the >400 KB item) are made here, deterministically, at test time; nothing big is committed.

Command line (from the repository root)::

    python tests/corpus/generate.py --readme      # rewrite tests/corpus/README.md from the table
    python tests/corpus/generate.py --check       # exit 1 when README.md is out of date
    python tests/corpus/generate.py --out DIR     # write every case's input to DIR (to look at them)
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gzip
import re
import struct
import sys
import tomllib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal, Protocol, get_args

from s3pipe import contract
from s3pipe.contract import MAX_LINE_BYTES

CORPUS_DIR: Final = Path(__file__).resolve().parent
FILES_DIR: Final = CORPUS_DIR / "files"
TABLE: Final = CORPUS_DIR / "outcomes.toml"
README: Final = CORPUS_DIR / "README.md"

#: Committed inputs stay small; anything bigger is generated.
MAX_COMMITTED_BYTES: Final = 50 * 1024

Delivery = Literal["upload", "deleted_version", "delete_marker", "raw_body", "multi_record"]
Outcome = Literal["stored", "partly_stored", "dead_lettered", "ignored"]
DELIVERIES: Final = get_args(Delivery)
OUTCOMES: Final = get_args(Outcome)
#: The handler's terminal log event for an object with each outcome.
OBJECT_EVENTS: Final[Mapping[str, str]] = {
    "stored": contract.EVENT_OBJECT_STORED,
    "partly_stored": contract.EVENT_OBJECT_PARTIALLY_STORED,
    "dead_lettered": contract.EVENT_OBJECT_DEAD_LETTERED,
    "ignored": contract.EVENT_OBJECT_IGNORED,
}
MESSAGE_EVENTS: Final = tuple(sorted(contract.MESSAGE_TERMINAL_EVENTS))
OBJECT_TERMINAL_EVENTS: Final = contract.TERMINAL_EVENTS
#: Every event that ends the handler's work on an object or a message.
TERMINAL_EVENTS: Final = OBJECT_TERMINAL_EVENTS | frozenset(MESSAGE_EVENTS)

# ------------------------------------------------------------------------------------ generators

GOOD_LINES: Final = (FILES_DIR / "good.jsonl").read_bytes().splitlines(keepends=True)


def _good_line(n: int) -> bytes:
    return b'{"msg":"good %d"}\n' % n


def _stored_block_gzip(data: bytes) -> bytes:
    """A gzip member with one *stored* (uncompressed) deflate block: byte offsets are exact,
    whatever the zlib version, so a cut at a known offset loses a known part of the content."""
    assert len(data) < 1 << 16
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    block = b"\x01" + struct.pack("<HH", len(data), len(data) ^ 0xFFFF) + data
    return header + block + struct.pack("<II", zlib.crc32(data), len(data))


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def _truncated_gzip() -> bytes:
    lines = b"".join(b'{"line":%d,"msg":"record %d of 10"}\n' % (n, n) for n in range(1, 11))
    member = _stored_block_gzip(lines)
    start = 10 + 5  # gzip header + stored block header
    cut = start + len(b"".join(lines.splitlines(keepends=True)[:5])) + 12  # 12 bytes into line 6
    return member[:cut]


def _big_line(total: int, name: bytes = b"msg") -> bytes:
    """``{"msg":"aaaa..."}`` of exactly ``total`` bytes."""
    head = b'{"' + name + b'":"'
    return head + b"a" * (total - len(head) - 2) + b'"}'


def _nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


GENERATORS: Final[Mapping[str, Callable[[], bytes]]] = {
    "utf8_bom": lambda: b"\xef\xbb\xbf" + b"".join(GOOD_LINES),
    "invalid_utf8_line": lambda: _good_line(1) + b'{"msg":"caf\xe9 (Latin-1, not UTF-8)"}\n' + _good_line(3),
    "invalid_utf8_document": lambda: b'{\n  "msg": "caf\xe9 (Latin-1, not UTF-8)"\n}\n',
    "crlf_json_lines": lambda: b"".join(line.rstrip(b"\n") + b"\r\n" for line in GOOD_LINES),
    "crlf_access_log": lambda: (
        b'192.0.2.10 - - [20/Oct/2025:19:30:00 +0900] "GET / HTTP/1.1" 200 512\r\n'
        b'192.0.2.11 - - [20/Oct/2025:19:30:01 +0900] "GET /a HTTP/1.1" 200 - "-" "curl/8.0"\r\n'
    ),
    "binary": lambda: bytes(range(256)) * 4,
    "binary_without_nul": lambda: bytes(range(0x80, 0x100)) * 8,
    "utf16_with_bom": lambda: b"".join(GOOD_LINES).decode("utf-8").encode("utf-16"),
    "utf16_without_bom": lambda: b"".join(GOOD_LINES).decode("utf-8").encode("utf-16-le"),
    "truncated_gzip": _truncated_gzip,
    "gzip_header_only": lambda: _gz(b"".join(GOOD_LINES))[:10],
    "gzip_of_garbage": lambda: b"\x1f\x8b" + bytes((n * 73 + 41) % 256 for n in range(510)),
    "gzip_of_binary": lambda: _gz(bytes(range(256)) * 4),
    "gz_suffix_not_gzip": lambda: b"".join(GOOD_LINES),
    "gzip_without_gz_suffix": lambda: _gz(b"".join(GOOD_LINES)),
    "gzip_multi_member": lambda: _gz(GOOD_LINES[0]) + _gz(b"".join(GOOD_LINES[1:])),
    "gzip_trailing_garbage": lambda: _gz(b"".join(GOOD_LINES)) + b"trailing garbage\n",
    "parser_nesting_line": lambda: _good_line(1) + b'{"d":' + _nested_arrays(100_000) + b"}\n" + _good_line(3),
    "parser_nesting_document": lambda: b'{"d":' + _nested_arrays(100_000) + b"}\n",
    "ten_mb_line": lambda: _good_line(1) + _big_line(10 << 20) + b"\n" + _good_line(3),
    "item_over_400kb": lambda: _good_line(1) + _big_line(401 * 1024) + b"\n",
    "item_under_400kb": lambda: _big_line(390 * 1024) + b"\n" + _good_line(2),
    "line_at_max_length": lambda: _gz(_good_line(1) + _big_line(MAX_LINE_BYTES) + b"\n" + _good_line(3)),
    "line_over_max_length": lambda: _gz(_good_line(1) + _big_line(MAX_LINE_BYTES + 1) + b"\n" + _good_line(3)),
}

# ------------------------------------------------------------------------------------ the table


class CorpusError(Exception):
    """outcomes.toml is malformed."""


@dataclass(frozen=True)
class RejectionSpec:
    sk: str
    line: int
    reason: str


@dataclass(frozen=True)
class ValueSpec:
    """An attribute of a stored item: ``number`` is compared as a Decimal, exactly."""

    sk: str
    attribute: str
    pk: str | None = None
    number: str | None = None
    string: str | None = None
    absent: bool = False


@dataclass(frozen=True)
class Part:
    """One S3 record of a multi-record event."""

    outcome: Outcome
    key: str | None = None
    file: str | None = None
    reason: str | None = None
    stored: int | None = None
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    id: str
    what: str
    delivery: Delivery
    outcome: Outcome
    file: str | None = None
    generator: str | None = None
    key: str | None = None
    reason: str | None = None
    event: str | None = None
    records: int | None = None
    stored: int | None = None
    rejected: int | None = None
    items: tuple[str, ...] = ()
    verbatim: tuple[tuple[str, str], ...] = ()
    rejections: tuple[RejectionSpec, ...] = ()
    values: tuple[ValueSpec, ...] = ()
    parts: tuple[Part, ...] = ()
    note: str = ""

    @property
    def source(self) -> str:
        return f"files/{self.file}" if self.file else f"generate.py:{self.generator}"

    @property
    def terminal_event(self) -> str:
        """The handler's log event that ends this case."""
        return self.event or OBJECT_EVENTS[self.outcome]

    @property
    def message_level(self) -> bool:
        """The outcome concerns the SQS message, not an object (a body that names none)."""
        return self.terminal_event in MESSAGE_EVENTS

    @property
    def messages(self) -> int:
        """SQS messages this case puts on the queue (a multi-record event uploads its parts)."""
        return 1 + sum(1 for part in self.parts if part.file)

    def data(self) -> bytes:
        if self.file:
            return file_bytes(self.file)
        assert self.generator is not None
        return generated(self.generator)

    def body(self, bucket: str, prefix: str) -> str:
        """The SQS message body of a raw_body/multi_record case, placeholders filled in."""
        text = self.data().decode("utf-8")
        return text.replace("{{bucket}}", bucket).replace("{{prefix}}", prefix)


def _field_names(cls: type) -> set[str]:
    """The keys a table of ``outcomes.toml`` may use: the fields of the dataclass it becomes."""
    return {f.name for f in dataclasses.fields(cls)}


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise CorpusError(f"{where}: unknown field(s) {sorted(unknown)}")


def _case(raw: Mapping[str, Any]) -> Case:
    where = f"case {raw.get('id', '?')!r}"
    _check_keys(raw, _field_names(Case), where)
    if raw.get("delivery") not in DELIVERIES:
        raise CorpusError(f"{where}: delivery must be one of {DELIVERIES}")
    if raw.get("outcome") not in OUTCOMES:
        raise CorpusError(f"{where}: outcome must be one of {OUTCOMES}")
    if ("file" in raw) == ("generator" in raw):
        raise CorpusError(f"{where}: exactly one of file and generator")
    if "generator" in raw and raw["generator"] not in GENERATORS:
        raise CorpusError(f"{where}: unknown generator {raw['generator']!r}")
    if "file" in raw and not (FILES_DIR / raw["file"]).is_file():
        raise CorpusError(f"{where}: no file files/{raw['file']}")
    needs_reason = raw["delivery"] != "multi_record" and raw.get("event") != "s3_test_event"
    if raw["outcome"] in ("dead_lettered", "ignored") and needs_reason and "reason" not in raw:
        raise CorpusError(f"{where}: a {raw['outcome']} case needs its reason")
    if raw["delivery"] in ("upload", "deleted_version", "delete_marker") and "key" not in raw and "file" not in raw:
        raise CorpusError(f"{where}: a generated upload needs its key")
    rejections = []
    for spec in raw.get("rejections", []):
        _check_keys(spec, _field_names(RejectionSpec), f"{where} rejection")
        rejections.append(RejectionSpec(spec["sk"], spec["line"], spec["reason"]))
    values = []
    for spec in raw.get("values", []):
        _check_keys(spec, _field_names(ValueSpec), f"{where} value")
        values.append(ValueSpec(**spec))
    parts = []
    for spec in raw.get("parts", []):
        _check_keys(spec, _field_names(Part), f"{where} part")
        parts.append(Part(**{**spec, "items": tuple(spec.get("items", ()))}))
    if (raw["delivery"] == "multi_record") != bool(parts):
        raise CorpusError(f"{where}: parts belong to (and only to) a multi_record case")
    simple = {
        k: raw[k] for k in ("file", "generator", "key", "reason", "event", "records", "stored", "rejected") if k in raw
    }
    return Case(
        id=raw["id"],
        what=raw["what"],
        delivery=raw["delivery"],
        outcome=raw["outcome"],
        items=tuple(raw.get("items", ())),
        verbatim=tuple((pk, sk) for pk, sk in raw.get("verbatim", ())),
        rejections=tuple(rejections),
        values=tuple(values),
        parts=tuple(parts),
        note=raw.get("note", ""),
        **simple,
    )


@functools.cache
def load_cases(path: Path = TABLE) -> tuple[Case, ...]:
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    _check_keys(document, {"case"}, path.name)
    cases = tuple(_case(raw) for raw in document["case"])
    ids = [case.id for case in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CorpusError(f"duplicate case ids: {duplicates}")
    return cases


@functools.cache
def file_bytes(name: str) -> bytes:
    return (FILES_DIR / name).read_bytes()


@functools.cache
def generated(name: str) -> bytes:
    """A generated input (computed once per process)."""
    return GENERATORS[name]()


def object_key(case: Case) -> str:
    """The object key (under the run's prefix) of an uploaded case."""
    return case.key or str(case.file)


# ------------------------------------------------------------------------------------ checks


class DeadLetter(Protocol):
    """A DLQ message as the tests see it (s3pipe.observe.DlqEntry, the unit tests' SentMessage)."""

    body: str

    @property
    def attributes(self) -> Mapping[str, str]: ...


@dataclass
class Observed:
    """What the pipeline did with one case (or one part of a multi-record event)."""

    event: str | None
    fields: Mapping[str, Any]
    items: list[dict[str, Any]]
    rejections: list[dict[str, Any]]
    dead_letters: list[DeadLetter]
    #: Items looked up by (PK, SK): the verbatim items and the items named by ``values`` with a pk.
    by_key: Mapping[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)


def keys_to_look_up(case: Case) -> list[tuple[str, str]]:
    found = list(case.verbatim)
    found.extend((value.pk, value.sk) for value in case.values if value.pk)
    return list(dict.fromkeys(found))


def _match(pattern: str, text: object) -> bool:
    return isinstance(text, str) and re.search(pattern, text) is not None


def _check_dead_letters(
    problems: list[str], expect: bool, reason: str | None, observed: Observed, object_key: str | None
) -> None:
    if not expect:
        if observed.dead_letters:
            problems.append(f"expected no DLQ message, found {[d.attributes for d in observed.dead_letters]}")
        return
    if len(observed.dead_letters) != 1:
        problems.append(f"expected exactly one DLQ message, found {len(observed.dead_letters)}")
        return
    (entry,) = observed.dead_letters
    attributes = entry.attributes
    if attributes.get("FailureClass") != "permanent":
        problems.append(f"DLQ FailureClass {attributes.get('FailureClass')!r}, expected 'permanent'")
    if reason is not None and not _match(reason, attributes.get("FailureReason")):
        problems.append(f"DLQ FailureReason {attributes.get('FailureReason')!r} does not match {reason!r}")
    if attributes.get("ObjectKey") != object_key:
        problems.append(f"DLQ ObjectKey {attributes.get('ObjectKey')!r}, expected {object_key!r}")


def _check_items(problems: list[str], expected: tuple[str, ...], observed: Observed) -> None:
    sort_keys = [item.get("SK") for item in observed.items]
    if sort_keys != list(expected):
        problems.append(f"items {sort_keys}, expected {list(expected)}")


def check(case: Case, observed: Observed, *, object_key: str | None) -> list[str]:
    """Everything that differs from the table (empty: the case behaved as expected).

    ``object_key`` is the full key of the case's object (None for a body that names none).
    """
    problems: list[str] = []
    if observed.event != case.terminal_event:
        problems.append(f"terminal event {observed.event!r}, expected {case.terminal_event!r}")
        return problems
    fields = observed.fields
    reason = fields.get("reason")
    if case.reason is not None and case.terminal_event != "s3_test_event" and not _match(case.reason, reason):
        problems.append(f"reason {fields.get('reason')!r} does not match {case.reason!r}")
    for name in ("records", "stored", "rejected"):
        want = getattr(case, name)
        if want is not None and fields.get(name) != want:
            problems.append(f"{name}={fields.get(name)!r}, expected {want}")
    _check_items(problems, case.items, observed)
    rejections = [(r.get("SK"), r.get("src_line"), r.get("reason")) for r in observed.rejections]
    expected = [(spec.sk, spec.line) for spec in case.rejections]
    if [(sk, int(line or 0)) for sk, line, _ in rejections] != expected:
        problems.append(f"rejection items {rejections}, expected {[(s.sk, s.line, s.reason) for s in case.rejections]}")
    else:
        for (sk, _, reason), spec in zip(rejections, case.rejections, strict=True):
            if not _match(spec.reason, reason):
                problems.append(f"rejection {sk} reason {reason!r} does not match {spec.reason!r}")
    for pk, sk in case.verbatim:
        if observed.by_key.get((pk, sk)) is None:
            problems.append(f"no item PK={pk!r} SK={sk!r}")
    for value in case.values:
        problems.extend(_check_value(value, observed))
    _check_dead_letters(problems, case.outcome == "dead_lettered", case.reason, observed, object_key)
    return problems


def _check_value(value: ValueSpec, observed: Observed) -> list[str]:
    if value.pk:
        item = observed.by_key.get((value.pk, value.sk))
    else:
        item = next((i for i in observed.items if i.get("SK") == value.sk), None)
    where = f"{value.pk + ' ' if value.pk else ''}{value.sk}.{value.attribute}"
    if item is None:
        return [f"{where}: no such item"]
    actual = item.get(value.attribute)
    if value.absent:
        return [f"{where} is {actual!r}, expected no such attribute"] if value.attribute in item else []
    if value.number is not None:
        ok = isinstance(actual, Decimal) and actual == Decimal(value.number)
        return [] if ok else [f"{where} is {actual!r}, expected the number {value.number}"]
    return [] if actual == value.string else [f"{where} is {actual!r}, expected {value.string!r}"]


def check_part(part: Part, observed: Observed, *, object_key: str | None) -> list[str]:
    problems: list[str] = []
    want = OBJECT_EVENTS[part.outcome]
    if observed.event != want:
        return [f"terminal event {observed.event!r}, expected {want!r}"]
    if part.reason is not None and not _match(part.reason, observed.fields.get("reason")):
        problems.append(f"reason {observed.fields.get('reason')!r} does not match {part.reason!r}")
    if part.stored is not None and observed.fields.get("stored") != part.stored:
        problems.append(f"stored={observed.fields.get('stored')!r}, expected {part.stored}")
    _check_items(problems, part.items, observed)
    if observed.rejections:
        problems.append(f"unexpected rejection items {observed.rejections}")
    _check_dead_letters(problems, part.outcome == "dead_lettered", part.reason, observed, object_key)
    return problems


# ------------------------------------------------------------------------------------ README

_README_HEAD = """# Bad-input corpus

Every malformed input the pipeline has a defined outcome for, with that outcome. The table
below is generated from [`outcomes.toml`](outcomes.toml) by `python tests/corpus/generate.py
--readme` (a unit test fails when it is out of date): edit the TOML, not this file.

* Inputs: small text cases are committed under [`files/`](files/); big, binary and byte-exact
  ones (BOM, CRLF, invalid UTF-8, UTF-16, gzip variants, the 10 MB line, the 400 KB items, the
  16 MiB lines) are made deterministically by [`generate.py`](generate.py) at test time
  (`python tests/corpus/generate.py --out DIR` writes them all to DIR).
* `tests/integration/test_corpus.py` drives every case through the deployed stack, each bad input
  in the same Lambda invocation as good objects, and asserts its exact outcome and that the good
  objects of that invocation were stored completely. `tests/unit/handler/test_handler_corpus.py`
  runs the same table through the handler with fake AWS clients.
* Deliveries: `upload` (PutObject; S3 sends the event), `deleted_version` (uploaded, then that
  version is deleted with its `VersionId` before the function reads it), `delete_marker` (uploaded,
  then deleted *without* a `VersionId`), `raw_body` (a message S3 would never send, put on the
  queue directly; `{{bucket}}`/`{{prefix}}` in the file are filled in), `multi_record` (one S3
  event naming several objects).
* Outcomes: `stored` (every record is an item), `partly_stored` (good records stored, one
  rejection item per bad one under `REJECT#s3://{bucket}/{key}`), `dead_lettered` (nothing
  written, one DLQ message with `FailureReason`), `ignored` (nothing written, an `object_ignored`
  or `s3_test_event` log line). Reasons are regular expressions (`re.search`).
* Counts are `records/stored/rejected` as logged by the outcome line; items are the sort keys
  under `SRC#s3://{bucket}/{key}` (or PK/SK for records stored verbatim).

A delete marker does not hide a version: the event names the version that was created, and a
GetObject with that `VersionId` still returns it, so the object is stored. Only deleting the
version itself makes the read fail (`NoSuchVersion`); without a `VersionId` in the event
(an unversioned bucket, a crafted message) a deleted object fails with `NoSuchKey`.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _readable(pattern: str) -> str:
    """A reason regex as prose: no anchors or escapes, ``N`` for digits, ``…`` for wildcards."""
    text = pattern.removeprefix("^").removesuffix("$")
    text = re.sub(r"\\d(\{\d+\}|\+)", "N", text)
    text = re.sub(r"\.[+*]", "…", text)
    text = re.sub(r"\\(.)", r"\1", text)
    return f"“{_cell(text)}”"


def _result(case: Case) -> str:
    bits: list[str] = []
    if case.parts:
        for index, part in enumerate(case.parts):
            name = f"`{_cell(part.key)}`" if part.key else f"record {index} (no key)"
            detail = f" {_readable(part.reason)}" if part.reason else ""
            bits.append(f"{name} {part.outcome}{detail}")
        return "; ".join(bits)
    if case.records is not None:
        bits.append(f"{case.records}/{case.stored}/{case.rejected}")
    items = len(case.items) + len(case.verbatim)
    if case.outcome in ("stored", "partly_stored"):
        bits.append(f"{items} item{'s' if items != 1 else ''}")
    bits.extend(f"`{rejection.sk}` {_readable(rejection.reason)}" for rejection in case.rejections)
    if case.terminal_event == "s3_test_event":
        bits.append("log line `s3_test_event`")
    elif case.reason:
        bits.append(_readable(case.reason))
    return "; ".join(bits)


def render_readme(cases: tuple[Case, ...]) -> str:
    out = [_README_HEAD, f"## The {len(cases)} cases\n"]
    out.append("| id | input | key | delivery | outcome | result (records/stored/rejected; items; reasons) |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    for case in cases:
        key = f"`{_cell(object_key(case))}`" if case.delivery not in ("raw_body", "multi_record") else ""
        source = f"[`{case.file}`](files/{case.file})" if case.file else f"`{case.generator}`"
        out.append(
            f"| `{case.id}` | {_cell(case.what)} ({source}) | {key} | {case.delivery} | {case.outcome} | "
            f"{_result(case)} |"
        )
    notes = [case for case in cases if case.note]
    if notes:
        out.append("\n## Why these outcomes\n")
        out.extend(f"* `{case.id}`: {_cell(case.note)}" for case in notes)
    return "\n".join(out) + "\n"


def _write_inputs(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for case in load_cases():
        name = case.file or case.key or case.id
        target = directory / f"{case.id}--{Path(name).name}"
        target.write_bytes(case.data())
        print(f"{target}  {len(case.data())} bytes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--readme", action="store_true", help="rewrite README.md from outcomes.toml")
    group.add_argument("--check", action="store_true", help="exit 1 when README.md is out of date")
    group.add_argument("--out", type=Path, help="write every case's input to this directory")
    args = parser.parse_args(argv)
    if args.out:
        _write_inputs(args.out)
        return 0
    text = render_readme(load_cases())
    if args.readme:
        README.write_text(text, encoding="utf-8")
        return 0
    if README.read_text(encoding="utf-8") != text:
        print("tests/corpus/README.md is out of date: run python tests/corpus/generate.py --readme", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
