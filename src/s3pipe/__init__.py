"""s3-event-pipeline harness: test a Terraform S3 -> SQS -> Lambda -> DynamoDB pipeline on an emulator or AWS.

The public API is this package's ``__all__``. Names load on first use (PEP 562), so ``import s3pipe``
stays cheap (no boto3, no backend modules) and no submodule import can cycle through here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s3pipe.backends.base import Backend, Capability, Credentials, Endpoint
    from s3pipe.config import HarnessConfig
    from s3pipe.errors import (
        BackendUnavailable,
        EmulatorError,
        EnvironmentSetupError,
        GuardError,
        HandlerEventsMissing,
        HarnessError,
        OutputsError,
        ProviderInstallError,
        SettleTimeout,
        TerraformError,
    )
    from s3pipe.gateway.client import GatewayClient, GatewayError
    from s3pipe.gateway.faults import FaultKind, FaultPlan, FaultRule
    from s3pipe.gateway.journal import GatewayCall
    from s3pipe.module_stack import ModuleSession, ModuleStack
    from s3pipe.observe import DlqEntry, LogLine, QueueDepth, StackObserver
    from s3pipe.pipeline import ObjectOutcome, Pipeline, Upload, eventually, poll_until
    from s3pipe.session import StackSession
    from s3pipe.stack import Stack, StackOutputs

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    # the per-test helpers and what they return
    "Pipeline": "s3pipe.pipeline",
    "Upload": "s3pipe.pipeline",
    "ObjectOutcome": "s3pipe.pipeline",
    "poll_until": "s3pipe.pipeline",
    "eventually": "s3pipe.pipeline",
    # the deployed stack
    "Stack": "s3pipe.stack",
    "StackOutputs": "s3pipe.stack",
    "OutputsError": "s3pipe.errors",
    "StackSession": "s3pipe.session",
    "ModuleStack": "s3pipe.module_stack",
    "ModuleSession": "s3pipe.module_stack",
    "HarnessConfig": "s3pipe.config",
    # reading it from the outside
    "StackObserver": "s3pipe.observe",
    "LogLine": "s3pipe.observe",
    "DlqEntry": "s3pipe.observe",
    "QueueDepth": "s3pipe.observe",
    # backends
    "Capability": "s3pipe.backends.base",
    "Backend": "s3pipe.backends.base",
    "Endpoint": "s3pipe.backends.base",
    "Credentials": "s3pipe.backends.base",
    # fault plans for the function gateway
    "FaultKind": "s3pipe.gateway.faults",
    "FaultPlan": "s3pipe.gateway.faults",
    "FaultRule": "s3pipe.gateway.faults",
    "GatewayCall": "s3pipe.gateway.journal",
    "GatewayClient": "s3pipe.gateway.client",
    "GatewayError": "s3pipe.gateway.client",
    # errors
    "HarnessError": "s3pipe.errors",
    "EnvironmentSetupError": "s3pipe.errors",
    "EmulatorError": "s3pipe.errors",
    "TerraformError": "s3pipe.errors",
    "ProviderInstallError": "s3pipe.errors",
    "GuardError": "s3pipe.errors",
    "BackendUnavailable": "s3pipe.errors",
    "SettleTimeout": "s3pipe.errors",
    "HandlerEventsMissing": "s3pipe.errors",
}

__all__ = [
    "Backend",
    "BackendUnavailable",
    "Capability",
    "Credentials",
    "DlqEntry",
    "EmulatorError",
    "Endpoint",
    "EnvironmentSetupError",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "GatewayCall",
    "GatewayClient",
    "GatewayError",
    "GuardError",
    "HandlerEventsMissing",
    "HarnessConfig",
    "HarnessError",
    "LogLine",
    "ModuleSession",
    "ModuleStack",
    "ObjectOutcome",
    "OutputsError",
    "Pipeline",
    "ProviderInstallError",
    "QueueDepth",
    "SettleTimeout",
    "Stack",
    "StackObserver",
    "StackOutputs",
    "StackSession",
    "TerraformError",
    "Upload",
    "eventually",
    "poll_until",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 's3pipe' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
