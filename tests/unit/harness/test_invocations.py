# ruff: noqa: E501 - the MiniStack lines are kept whole, as MiniStack writes them
"""What the function did, whatever the handler: MiniStack's log and AWS-shaped log groups, early stop, the report.

The MiniStack lines are copied from a real run of MiniStack 1.5.33 with four functions (broken at import,
raising on every batch, timing out, succeeding), each behind an SQS event source mapping.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from s3pipe.invocations import (
    EmulatorLogInvocations,
    FunctionBroken,
    FunctionWatch,
    Invocation,
    LogGroupInvocations,
    Outcome,
    parse_log_group,
)
from s3pipe.observe import LogLine

MINISTACK = """\
2026-12-06 05:03:03 INFO [lambda] Lambda function created: initerr (python3.12)
2026-12-06 05:03:04 ERROR [lambda] Warm worker execution error for initerr: Worker init failed: 'TABLE_NAMES'
2026-12-06 05:03:04 WARNING [lambda] ESM: Lambda initerr failed processing SQS batch from q-initerr (errorType=RuntimeError errorMessage=Worker init failed: 'TABLE_NAMES')
2026-12-06 05:03:04 INFO [lambda_runtime] Lambda worker spawned for raiser (python3.12, cold start)
2026-12-06 05:03:04 WARNING [lambda] ESM: Lambda raiser failed processing SQS batch from q-raiser (errorType=Runtime.HandlerError errorMessage=bad row 3: 1)
Traceback (most recent call last):
  File "/tmp/ministack-lambda-raiser-epf3ss1k/_worker.py", line 128, in run
  File "/tmp/ministack-lambda-raiser-epf3ss1k/code/main.py", line 2, in handler
    raise ValueError('bad row 3: ' + str(len(event['Records'])))
ValueError: bad row 3: 1
2026-12-06 05:03:04 INFO [lambda] ESM: Lambda fine processed 1 SQS messages from q-fine
2026-12-06 05:03:04 INFO [lambda] ESM: Lambda fine output:
2026-12-06 05:03:06 WARNING [lambda_runtime] Lambda sleeper timed out after 2s — killing worker
2026-12-06 05:03:06 WARNING [lambda] ESM: Lambda sleeper failed processing SQS batch from q-sleeper (errorType=Sandbox.Timedout errorMessage=Task timed out after 2.00 seconds)
2026-12-06 05:03:07 ERROR [lambda] Warm worker execution error for initerr: Worker init failed: 'TABLE_NAMES'
2026-12-06 05:03:07 WARNING [lambda] ESM: Lambda initerr failed processing SQS batch from q-initerr (errorType=RuntimeError errorMessage=Worker init failed: 'TABLE_NAMES')
"""


def emulator_log(tmp_path: Path, function: str, text: str = MINISTACK, *, before: str = "") -> EmulatorLogInvocations:
    path = tmp_path / "ministack.log"
    path.write_text(before)
    reader = EmulatorLogInvocations(path, function)
    with path.open("a") as handle:
        handle.write(text)
    return reader


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("initerr", [(Outcome.INIT_ERROR, "Worker init failed: 'TABLE_NAMES'")] * 2),
        ("raiser", [(Outcome.ERROR, "ValueError: bad row 3: 1")]),
        ("sleeper", [(Outcome.TIMEOUT, "Task timed out after 2.00 seconds")]),
        ("fine", [(Outcome.SUCCESS, "")]),
        ("fin", []),  # another function's lines are not this one's
    ],
)
def test_ministack_lines_of_one_function(tmp_path: Path, function: str, expected: list[tuple[Outcome, str]]) -> None:
    reader = emulator_log(tmp_path, function)
    invocations = reader.read() + reader.flush()
    assert [(inv.outcome, inv.error) for inv in invocations] == expected


def test_the_traceback_of_a_handler_error_is_kept(tmp_path: Path) -> None:
    reader = emulator_log(tmp_path, "raiser")
    [failure] = reader.read() + reader.flush()
    assert failure.traceback[-2:] == (
        "    raise ValueError('bad row 3: ' + str(len(event['Records'])))",
        "ValueError: bad row 3: 1",
    )


def test_only_what_the_log_gained_after_the_watch_began_counts(tmp_path: Path) -> None:
    reader = emulator_log(tmp_path, "initerr", text="", before=MINISTACK)
    assert reader.read() == []
    with reader.path.open("a") as handle:
        handle.write(MINISTACK.splitlines(keepends=True)[2][:40])  # half a line: not read yet
    assert reader.read() == []
    with reader.path.open("a") as handle:
        handle.write(MINISTACK.splitlines(keepends=True)[2][40:])
    assert [inv.outcome for inv in reader.read()] == [Outcome.INIT_ERROR]


# ---------------------------------------------------------------------------- AWS-shaped log groups


def lines(*messages: str, stream: str = "2026/12/06/[$LATEST]abc", at: int = 1_000) -> list[LogLine]:
    return [LogLine(at + i, stream, message) for i, message in enumerate(messages)]


def test_an_aws_log_group() -> None:
    group = [
        *lines(
            "INIT_REPORT Init Duration: 2.1 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError",
            "[ERROR] Runtime.ImportModuleError: Unable to import module 'main': No module named 'yaml'",
            "START RequestId: 11111111-aaaa Version: $LATEST",
            "END RequestId: 11111111-aaaa",
            "REPORT RequestId: 11111111-aaaa\tDuration: 3 ms",
            "START RequestId: 22222222-bbbb Version: $LATEST",
            "[ERROR] KeyError: 'TABLE'",
            "Traceback (most recent call last):",
            '  File "/var/task/main.py", line 3, in handler',
            "END RequestId: 22222222-bbbb",
            "REPORT RequestId: 22222222-bbbb\tDuration: 3 ms",
        ),
        *lines(
            "START RequestId: 33333333-cccc Version: $LATEST",
            "2026-12-06T05:03:06.000Z 33333333-cccc Task timed out after 3.00 seconds",
            "END RequestId: 33333333-cccc",
            "REPORT RequestId: 33333333-cccc\tDuration: 3000 ms",
            "START RequestId: 44444444-dddd Version: $LATEST",
            "stored 3 rows",
            "REPORT RequestId: 44444444-dddd\tDuration: 9 ms",
            "START RequestId: 55555555-eeee Version: $LATEST",  # still running: no REPORT yet
            stream="other",
        ),
    ]
    found = dict(parse_log_group(group))
    assert {request: (inv.outcome, inv.error) for request, inv in found.items()} == {
        "11111111-aaaa": (
            Outcome.INIT_ERROR,
            "Runtime.ImportModuleError: Unable to import module 'main': No module named 'yaml'",
        ),
        "22222222-bbbb": (Outcome.ERROR, "KeyError: 'TABLE'"),
        "33333333-cccc": (Outcome.TIMEOUT, "Task timed out after 3.00 seconds"),
        "44444444-dddd": (Outcome.SUCCESS, ""),
    }


class FakeLogs:
    group = "/aws/lambda/fn"

    def __init__(self) -> None:
        self.lines: list[LogLine] = []
        self.polls = 0

    def poll(self) -> list[LogLine]:
        self.polls += 1
        return []


def test_a_log_group_reader_returns_each_request_once_and_only_after_the_start() -> None:
    logs = FakeLogs()
    reader = LogGroupInvocations(logs, since_ms=1_000)  # type: ignore[arg-type]
    logs.lines = lines("START RequestId: old", "REPORT RequestId: old", at=10) + lines(
        "START RequestId: new-1", "REPORT RequestId: new-1"
    )
    assert [inv.outcome for inv in reader.read()] == [Outcome.SUCCESS]
    assert reader.read() == []
    assert logs.polls == 2


# ---------------------------------------------------------------------------- one wait


class Scripted:
    source = "a script"

    def __init__(self, *batches: list[Invocation]) -> None:
        self.batches = list(batches)
        self.reads = 0

    def read(self) -> list[Invocation]:
        self.reads += 1
        return self.batches.pop(0) if self.batches else []

    def flush(self) -> list[Invocation]:
        return []


INIT = Invocation(1.0, Outcome.INIT_ERROR, "Worker init failed: 'TABLE_NAMES'")
RAISED = Invocation(
    2.0, Outcome.ERROR, "ValueError: bad row 3", ("Traceback (most recent call last):", "ValueError: bad row 3")
)
OK = Invocation(3.0, Outcome.SUCCESS)


def test_the_wait_stops_at_the_first_init_error_with_it() -> None:
    watch = FunctionWatch("fn", Scripted([], [INIT]), lambda: ["queue q now: visible=0 in_flight=1 delayed=0"])
    watch.raise_if_broken()  # nothing yet
    with pytest.raises(FunctionBroken) as raised:
        watch.raise_if_broken()
    message = str(raised.value)
    assert "the function fn cannot start" in message
    assert "init error: Worker init failed: 'TABLE_NAMES'" in message
    assert "queue q now: visible=0 in_flight=1" in message


@pytest.mark.parametrize("batches", [[[RAISED], [RAISED], [RAISED]], [[INIT, OK]], [[OK], [INIT]]])
def test_handler_errors_and_a_mix_never_stop_the_wait(batches: list[list[Invocation]]) -> None:
    """A handler that raises may succeed on retry (a throttled write); only a function that cannot start stops."""
    watch = FunctionWatch("fn", Scripted(*batches))
    for _ in batches:
        watch.raise_if_broken()


def test_the_report_says_what_the_function_did() -> None:
    watch = FunctionWatch("fn", Scripted([RAISED, RAISED, OK]), lambda: ["DLQ d: 0 message(s) this session"])
    report = watch.report()
    assert "3 invocation(s): 1 succeeded, 2 failed" in report
    assert "2 x error: ValueError: bad row 3" in report
    assert "    ValueError: bad row 3" in report  # the traceback's last lines
    assert "DLQ d: 0 message(s) this session" in report


def test_the_report_of_a_function_that_never_ran() -> None:
    assert "no invocation finished" in FunctionWatch("fn", Scripted()).report()


def test_a_remote_log_is_read_at_most_once_per_interval() -> None:
    reader = Scripted()
    watch = FunctionWatch("fn", reader, min_interval=60)
    for _ in range(5):
        watch.raise_if_broken()
    assert reader.reads == 1
    watch.report()  # the report always reads
    assert reader.reads == 2
