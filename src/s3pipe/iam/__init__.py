"""IAM least privilege: policies as deployed (:mod:`.policy`), IAM's evaluation (:mod:`.evaluate`), the
typed report (:mod:`.report`) and the session-end audit of the function's journalled calls (:mod:`.audit`)."""

from s3pipe.iam.audit import AuditResult, audit_session, audit_stack, failed, journal_mark, summary_lines, write_report
from s3pipe.iam.evaluate import Decision, Outcome, evaluate
from s3pipe.iam.policy import Policy, Statement, load_role_policies, parse_policy
from s3pipe.iam.report import AuditReport, CallKind, ExpectedDenial, Grant, Violation, audit_calls

__all__ = [
    "AuditReport",
    "AuditResult",
    "CallKind",
    "Decision",
    "ExpectedDenial",
    "Grant",
    "Outcome",
    "Policy",
    "Statement",
    "Violation",
    "audit_calls",
    "audit_session",
    "audit_stack",
    "evaluate",
    "failed",
    "journal_mark",
    "load_role_policies",
    "parse_policy",
    "summary_lines",
    "write_report",
]
