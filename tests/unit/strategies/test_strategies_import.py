"""s3pipe.strategies from the outside: its names import, and without Hypothesis it names the extra to install."""

from __future__ import annotations

import subprocess
import sys

import s3pipe.strategies

# Run in a fresh interpreter: Hypothesis is made unimportable there, as in an install without the extra.
WITHOUT_HYPOTHESIS = """
import sys

class NoHypothesis:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "hypothesis":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoHypothesis())
try:
    import s3pipe.strategies
except ImportError as error:
    print(type(error).__name__, error.name)
    print(error)
"""


def test_every_public_name_is_defined() -> None:
    assert sorted(s3pipe.strategies.__all__) == sorted(set(s3pipe.strategies.__all__))
    missing = [name for name in s3pipe.strategies.__all__ if not hasattr(s3pipe.strategies, name)]
    assert missing == []


def test_the_names_the_issue_promises_import() -> None:
    from s3pipe.strategies import object_keys, s3_event_records, s3_notification_bodies, sqs_events

    assert all(callable(f) for f in (sqs_events, s3_event_records, s3_notification_bodies, object_keys))


def test_without_hypothesis_the_import_error_names_the_extra() -> None:
    result = subprocess.run([sys.executable, "-c", WITHOUT_HYPOTHESIS], capture_output=True, text=True, check=True)
    first, *rest = result.stdout.splitlines()
    assert first == "ModuleNotFoundError hypothesis"
    message = "\n".join(rest)
    assert "s3pipe.strategies needs Hypothesis" in message
    assert "pip install 's3-event-pipeline[strategies]'" in message


def test_importing_the_strategies_loads_no_sdk_and_no_harness() -> None:
    code = (
        "import sys, s3pipe.strategies\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('s3pipe.', 'boto3', 'botocore'))\n"
        "    and not m.startswith('s3pipe.strategies'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
