"""An interrupted Terraform is stopped the way Ctrl-C stops it, and waited for; it never hears the terminal itself."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from s3pipe.terraform.cli import ResourceTiming, Terraform

#: Reports one created resource, then works until SIGINT; on SIGINT it "writes its state" and exits 1.
SLOW_APPLY = """\
#!{python}
import json, os, signal, sys, time
here = os.path.dirname(os.path.abspath(__file__))
record = os.path.join(here, "record.json")

def interrupted(number, frame):
    with open(record, "w") as handle:
        json.dump({{"signal": number, "sid": os.getsid(0), "state_written": True}}, handle)
    sys.exit(1)

signal.signal(signal.SIGINT, interrupted)
hook = {{"resource": {{"addr": "aws_sqs_queue.dlq"}}, "action": "create", "elapsed_seconds": 25}}
print(json.dumps({{"type": "apply_complete", "hook": hook}}), flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    signal.pause() if hasattr(signal, "pause") else time.sleep(0.1)
"""


def test_an_interrupt_during_apply_stops_terraform_gracefully_and_waits(tmp_path: Path) -> None:
    binary = tmp_path / "terraform"
    binary.write_text(SLOW_APPLY.format(python=sys.executable))
    binary.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    terraform = Terraform(work, dict(os.environ), str(binary))

    def interrupt(timing: ResourceTiming) -> None:
        raise KeyboardInterrupt(f"SIGTERM after {timing.address}")  # what the signal handler raises mid-apply

    with pytest.raises(KeyboardInterrupt, match=r"aws_sqs_queue\.dlq"):
        terraform.apply(on_resource=interrupt)

    record = json.loads((tmp_path / "record.json").read_text())  # written before apply() returned: waited for
    assert record["signal"] == 2  # SIGINT, as Ctrl-C: Terraform finishes in-flight work and writes its state
    assert record["sid"] != os.getsid(0)  # its own session: a terminal's Ctrl-C reaches only the harness
