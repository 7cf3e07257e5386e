"""A run's identity on AWS: its id and the tags that name it on every resource it creates."""

from __future__ import annotations

import re
import secrets

#: Tag keys the generated provider override puts on every resource (``default_tags``).
TAG_RUN = "s3pipe:run"
TAG_STACK = "s3pipe:stack"

_RUN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{3,62}$")


def new_run_id() -> str:
    """``r`` + 10 hex digits: unique enough that two runs never share one (40 bits), short enough to type."""
    return f"r{secrets.token_hex(5)}"


def valid_run_id(value: str) -> bool:
    """Lowercase letters, digits and hyphens, 4 to 63 characters (what ``new_run_id`` makes, and CI run ids)."""
    return bool(_RUN_ID.match(value))


def run_tags(run_id: str, stack_name: str) -> dict[str, str]:
    """The tags naming the run and the stack, as every resource of the stack carries them."""
    return {TAG_RUN: run_id, TAG_STACK: stack_name}


def sweep_command(run_id: str, region: str | None = None) -> str:
    """The one command that deletes what the run left (dry-run without ``--yes``)."""
    where = f" --region {region}" if region else ""
    return f"s3pipe aws sweep --run {run_id}{where} --yes"
