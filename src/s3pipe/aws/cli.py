"""``s3pipe aws sweep``: the one command that finishes what a failed destroy left (dry-run unless ``--yes``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from s3pipe.aws.run import TAG_RUN, valid_run_id
from s3pipe.aws.sweep import Sweeper
from s3pipe.backends.aws import SessionFactory, confirm_account, default_session, region_of
from s3pipe.backends.base import Credentials, Endpoint
from s3pipe.errors import HarnessError
from s3pipe.stack import make_client


def add_parser(commands: Any) -> None:
    """Register ``s3pipe aws ...`` on the CLI's subcommands."""
    aws = commands.add_parser("aws", help="real AWS: delete what a run left (`s3pipe aws sweep --run <id>`)")
    actions = aws.add_subparsers(dest="aws_command", required=True)
    sweep = actions.add_parser(
        "sweep",
        help=f"list (delete with --yes) every resource tagged {TAG_RUN}=<id>, in the profile's account and region",
    )
    sweep.add_argument("--run", required=True, help="the run id the harness printed (tag s3pipe:run)")
    sweep.add_argument("--region", default=None, help="the region (default: the profile's)")
    sweep.add_argument(
        "--account-id",
        default=os.environ.get("S3PIPE_AWS_ACCOUNT_ID"),
        help="refuse unless the credentials are this account's [env S3PIPE_AWS_ACCOUNT_ID]",
    )
    sweep.add_argument("--yes", action="store_true", help="delete; without it nothing is deleted (a dry run)")
    sweep.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace, session_factory: SessionFactory = default_session) -> int:
    if not valid_run_id(args.run):
        raise HarnessError(
            "Not a run id",
            tried="read --run",
            seen=repr(args.run),
            fix="pass the id the run printed (e.g. --run r0a1b2c3d4e)",
        )
    session = session_factory(args.region)
    region = region_of(session, args.region, os.environ.get("AWS_PROFILE"))
    account, _arn = confirm_account(session, region, args.account_id or None)
    mode = "deleting" if args.yes else "dry run (nothing is deleted; --yes deletes)"
    print(f"sweep run {args.run} in account {account}, {region}: {mode}")
    endpoint = Endpoint(None, region, Credentials("", ""), session=session, account_id=account)
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = make_client(endpoint, service)
        return clients[service]

    result = Sweeper(client, args.run).sweep(delete=args.yes)
    for line in result.lines():
        print(f"  {line}")
    if not (result.planned or result.deleted or result.failed):
        print(f"  nothing tagged {TAG_RUN}={args.run} in {region}")
    elif result.planned:
        print(f"{len(result.planned)} resource(s) would be deleted: rerun with --yes")
    return 1 if result.failed else 0
