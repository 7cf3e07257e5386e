"""The function gateway: a recording, fault-injecting proxy between the deployed function and the emulator.

Rooms: :mod:`~s3pipe.gateway.classify` (what a request is, as IAM sees it),
:mod:`~s3pipe.gateway.faults` (fault kinds, plans, the engine), :mod:`~s3pipe.gateway.journal`
(the call journal), :mod:`~s3pipe.gateway.signing` (re-signing rewritten requests),
:mod:`~s3pipe.gateway.server` (the HTTP proxy, ``python -m s3pipe.gateway``) and
:mod:`~s3pipe.gateway.client` (the harness's typed client). The server side is stdlib only.
"""

from s3pipe.gateway.classify import Classified, RequiredPermission, classify_request
from s3pipe.gateway.client import GatewayClient, GatewayError, probe_gateway
from s3pipe.gateway.faults import FAULT_KINDS, FaultKind, FaultPlan, FaultRule, PlanError, parse_plan
from s3pipe.gateway.journal import GatewayCall, Journal, journal_entry
from s3pipe.gateway.server import GatewayServer

__all__ = [
    "FAULT_KINDS",
    "Classified",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "GatewayCall",
    "GatewayClient",
    "GatewayError",
    "GatewayServer",
    "Journal",
    "PlanError",
    "RequiredPermission",
    "classify_request",
    "journal_entry",
    "parse_plan",
    "probe_gateway",
]
