"""What a failed destroy left on AWS, from the stack's state and by the run's tags, and how to finish the job."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from s3pipe.aws.isolation import state_resources
from s3pipe.aws.run import TAG_RUN, TAG_STACK, sweep_command
from s3pipe.errors import HarnessError


class DestroyFailed(HarnessError):
    """``terraform destroy`` of an AWS stack failed: billable resources may be left."""

    @classmethod
    def with_leftovers(
        cls,
        stack_name: str,
        *,
        run_id: str,
        region: str,
        error: HarnessError,
        from_state: list[str],
        by_tag: list[str] | str,
    ) -> DestroyFailed:
        seen = [*error.seen[:8], f"left in the state ({len(from_state)}):", *(f"  {line}" for line in from_state[:30])]
        if isinstance(by_tag, str):
            seen.append(f"tagged {TAG_RUN}={run_id}: could not list ({by_tag})")
        else:
            seen += [f"tagged {TAG_RUN}={run_id}, {TAG_STACK}={stack_name} ({len(by_tag)}):"]
            seen += [f"  {arn}" for arn in by_tag[:30]]
        return cls(
            f"Destroying AWS stack {stack_name!r} failed: resources of run {run_id} may still exist (and cost)",
            tried=error.tried,
            seen=seen,
            fix=(
                f"`{sweep_command(run_id, region)}` deletes everything tagged with this run (drop --yes to list "
                f"first); or fix the error and rerun `s3pipe down --stack {stack_name}`"
            ),
        )


def tagged_resources(tagging: Any, run_id: str, stack_name: str | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """(ARN, tags) of what the Resource Groups Tagging API lists with this run's tag (and stack's, when given)."""
    filters = [{"Key": TAG_RUN, "Values": [run_id]}]
    if stack_name is not None:
        filters.append({"Key": TAG_STACK, "Values": [stack_name]})
    for page in tagging.get_paginator("get_resources").paginate(TagFilters=filters):
        for item in page.get("ResourceTagMappingList", []):
            yield str(item["ResourceARN"]), {str(tag["Key"]): str(tag["Value"]) for tag in item.get("Tags", [])}


def tagged_arns(tagging: Any, run_id: str, stack_name: str | None = None) -> list[str]:
    """ARNs the Resource Groups Tagging API lists with this run's tag (and stack's, when given)."""
    return sorted(arn for arn, _tags in tagged_resources(tagging, run_id, stack_name))


def destroy_failed(
    stack_name: str,
    state_path: Path,
    *,
    run_id: str,
    region: str,
    error: HarnessError,
    tagging: Callable[[], Any],
) -> DestroyFailed:
    """The error to raise after a failed destroy: what the state and the tags still show."""
    by_tag: list[str] | str
    try:
        by_tag = tagged_arns(tagging(), run_id, stack_name)
    except (ClientError, BotoCoreError) as lookup:
        by_tag = f"{type(lookup).__name__}: {lookup}"
    return DestroyFailed.with_leftovers(
        stack_name, run_id=run_id, region=region, error=error, from_state=state_resources(state_path), by_tag=by_tag
    )
