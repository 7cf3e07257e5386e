"""Isolation on a shared account: a fresh name prefix the module must take, the provider pinned and tagging.

A stack on AWS never deploys names it did not make unique for this run: the module must declare the
variable that receives the prefix (``s3pipe_name_prefix_variable``), or it is refused before
``terraform init``. It is never applied over a state an earlier run left (that state's resources
would be replaced or adopted by this run): it is refused with the command that destroys them first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from s3pipe.aws.run import run_tags
from s3pipe.errors import HarnessError
from s3pipe.terraform.workspace import ProviderPins, declared_variables, provider_default_tags


class IsolationRefused(HarnessError):
    """A stack on AWS would not be isolated from what else lives in the account."""

    @classmethod
    def no_prefix_variable(cls, module_dir: Path, variable: str, declared: set[str]) -> IsolationRefused:
        return cls(
            f"The module {module_dir} cannot take a name prefix, so on AWS its fixed names could meet existing "
            "resources (SQS and SNS return an existing queue or topic of that name, and the session's destroy "
            "would then delete it)",
            tried=f"pass this run's fresh name prefix as var.{variable} (backend 'aws' requires one)",
            seen=f"the module's variables: {', '.join(sorted(declared)) or 'none'}",
            fix=(
                f'declare `variable "{variable}" {{ type = string }}` and build every name from it (e.g. '
                f'"${{var.{variable}}}-queue"), or name the variable your module has in the [pytest] ini section: '
                "`s3pipe_name_prefix_variable = <its name>`"
            ),
        )

    @classmethod
    def leftover_state(cls, stack_name: str, state_path: Path, resources: list[str]) -> IsolationRefused:
        return cls(
            f"Stack {stack_name!r} still has resources on AWS from an earlier run",
            tried=f"start a fresh stack {stack_name!r} (a new name prefix for this run)",
            seen=[f"{state_path} holds {len(resources)} resource(s):", *resources[:20]],
            fix=(
                f"destroy them first: `s3pipe down --stack {stack_name}` (terraform destroy in its "
                "working copy); a kept stack (--s3pipe-aws-keep) stays until you do"
            ),
        )


def require_prefix_variable(module_dir: Path, variable: str, variables: Mapping[str, Any]) -> None:
    """Refuse a module that does not declare ``variable``, or variables that do not set it."""
    declared = declared_variables(module_dir)
    if variable not in declared or not variables.get(variable):
        raise IsolationRefused.no_prefix_variable(module_dir, variable, declared)


def state_resources(state_path: Path) -> list[str]:
    """``address (id)`` of every managed resource instance a local state file holds (empty if none)."""
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return []
    found: list[str] = []
    for resource in state.get("resources", []) if isinstance(state, dict) else []:
        if not isinstance(resource, dict) or resource.get("mode") != "managed":
            continue
        module = f"{resource['module']}." if resource.get("module") else ""
        address = f"{module}{resource.get('type')}.{resource.get('name')}"
        for instance in resource.get("instances") or []:
            attributes = instance.get("attributes") or {}
            key = instance.get("index_key")
            suffix = "" if key is None else f"[{json.dumps(key)}]"
            identity = attributes.get("arn") or attributes.get("id") or "?"
            found.append(f"{address}{suffix} ({identity})")
    return found


def refuse_leftover_state(stack_name: str, state_path: Path) -> None:
    """A fresh AWS stack is never applied over resources an earlier run left in its state."""
    if resources := state_resources(state_path):
        raise IsolationRefused.leftover_state(stack_name, state_path, resources)


def provider_pins(account_id: str | None, run_id: str, stack_name: str, module_dir: Path) -> ProviderPins:
    """The provider override's additions on AWS: this account only, and this run's tags on everything."""
    if not account_id:
        raise HarnessError(
            f"Stack {stack_name!r} would be applied on AWS without a confirmed account",
            tried="pin the aws provider to the account STS confirmed (allowed_account_ids)",
            seen="the endpoint names no account",
            fix="start the aws backend first (it confirms --s3pipe-aws-account-id with STS)",
        )
    return ProviderPins((account_id,), run_tags(run_id, stack_name), provider_default_tags(module_dir))
