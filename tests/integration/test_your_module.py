"""A module of your own through the plugin, in a child pytest run: what happens before the mapping is right."""

from __future__ import annotations

from pathlib import Path

import pytest

ARTICLE = Path(__file__).resolve().parents[2] / "examples" / "article"


def test_a_module_with_other_output_names_and_no_mapping_stops_at_session_start(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        f"[pytest]\ns3pipe_infra_dir = {ARTICLE}\ns3pipe_lambda_dir = {ARTICLE / 'handler'}\n"
        "s3pipe_zip_variable = handler_zip\n"
    )
    pytester.makepyfile(test_mine="def test_mine(s3pipe_stack):\n    pass\n")

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", timeout=120)

    assert result.ret == 3  # pytest.exit from the session's stack fixture, before any test ran
    result.stdout.fnmatch_lines(
        [
            "*has no output for the role(s) bucket, queue_url, dlq_url, table, function*",
            "*the module's outputs: failed_queue_url, function, logs_table, raw_bucket, work_queue_url*",
            "*s3pipe_outputs =*",
        ]
    )
    result.stdout.no_fnmatch_line("*apply *")  # found from the module's files: no Terraform apply was started
