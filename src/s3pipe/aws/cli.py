"""``s3pipe aws sweep``: the one command that finishes what a failed destroy left (dry-run unless ``--yes``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from s3pipe.aws.run import TAG_RUN, valid_run_id
from s3pipe.aws.sweep import Sweeper
from s3pipe.errors import HarnessError

#: Builds the boto3 Session for a region (None: the profile's); tests pass a stubbed one.
SessionFactory = Any


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


def _refused(summary: str, tried: str, seen: str, fix: str) -> HarnessError:
    return HarnessError(summary, tried=tried, seen=seen, fix=fix)


def cmd_sweep(args: argparse.Namespace, session_factory: SessionFactory = None) -> int:
    if not valid_run_id(args.run):
        raise _refused(
            "Not a run id", "read --run", repr(args.run), "pass the id the run printed (e.g. --run r0a1b2c3d4e)"
        )
    session: Any = (session_factory or (lambda region: boto3.Session(region_name=region)))(args.region)
    region = args.region or session.region_name
    if not region:
        raise _refused("No region to sweep", "--region, then the profile's", "none", "pass --region <region>")
    try:
        identity = session.client("sts", region_name=region).get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        raise _refused(
            "Could not confirm the credentials with STS",
            f"sts get-caller-identity in {region}",
            f"{type(error).__name__}: {error}",
            "refresh the credentials (`aws sso login`) or pick the profile of the run's account (AWS_PROFILE)",
        ) from None
    account = str(identity["Account"])
    if args.account_id and account != args.account_id:
        raise _refused(
            "The credentials are another account's",
            f"sweep account {args.account_id}",
            f"caller {identity['Arn']} is in account {account}",
            "pick the profile of the run's account (AWS_PROFILE)",
        )
    mode = "deleting" if args.yes else "dry run (nothing is deleted; --yes deletes)"
    print(f"sweep run {args.run} in account {account}, {region}: {mode}")
    result = Sweeper(lambda service: session.client(service, region_name=region), args.run).sweep(delete=args.yes)
    for line in result.lines():
        print(f"  {line}")
    if not (result.planned or result.deleted or result.failed):
        print(f"  nothing tagged {TAG_RUN}={args.run} in {region}")
    elif result.planned:
        print(f"{len(result.planned)} resource(s) would be deleted: rerun with --yes")
    return 1 if result.failed else 0
