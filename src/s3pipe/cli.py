"""``s3pipe``: run the pipeline locally (up/down/status), show it working (demo), package, benchmark.

Every command reads the project's settings as the pytest plugin does: the ``s3pipe_*`` keys of the
file pytest would use (found upwards from the current directory: :mod:`s3pipe.ini`), then the
``S3PIPE_*`` environment, with this command's flags first. In a project of your own, ``s3pipe up``
brings up your module with your handler and output names.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from s3pipe.backends.base import Capability
from s3pipe.config import LOCALSTACK_PORT, OPTIONS_BY_NAME, HarnessConfig, Option, project_config
from s3pipe.deploy import StackRecord
from s3pipe.errors import HarnessError
from s3pipe.guard import check_deployment
from s3pipe.progress import Progress
from s3pipe.session import UP_PID_FILE, StackSession, pid_alive, stop_stack
from s3pipe.snapshots.canary import canary_can_check
from s3pipe.stack import Stack
from s3pipe.teardown import Interrupts

DEV_STACK = "dev"


def load_config(args: argparse.Namespace, **overrides: Any) -> HarnessConfig:
    """The project's configuration: this command's flags, then the ini file pytest would use, then S3PIPE_*."""

    def flag(option: Option) -> tuple[str, str] | None:
        value = getattr(args, option.name, None)
        return None if value is None else (str(value), "--" + option.name.replace("_", "-"))

    return project_config(Path.cwd(), flag).with_overrides(**overrides)


def print_stack(stack: Stack, samples: Path | None = None) -> None:
    outputs = stack.outputs
    aws = stack.aws_cli_hint()
    body = "samples/server-log.json" if samples is not None and (samples / "server-log.json").is_file() else "<a file>"
    rows = [
        ("bucket", outputs.bucket_name),
        ("queue", outputs.queue_url),
        ("DLQ", outputs.dlq_url),
        ("table", outputs.table_name),
        ("function", outputs.function_name),
        ("log group", outputs.log_group_name),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print()
    print("Try the article's checks (names from above):")
    print(f"  {aws} s3api put-object --bucket {outputs.bucket_name} --key server-log.json --body {body}")
    print(f"  {aws} dynamodb scan --table-name {outputs.table_name}")
    print(f"  {aws} sqs receive-message --queue-url {outputs.dlq_url}")
    print(f"  {aws} logs tail {outputs.log_group_name} --follow")
    print(f"  ({credentials_note(stack)})")
    print()


def credentials_note(stack: Stack) -> str:
    """What a person's own tools (the AWS CLI, boto3, tflocal) may sign with against this stack."""
    if stack.has(Capability.ANY_CALLER_CREDENTIALS):
        return (
            "any access key and secret work, e.g. the article's `aws configure --profile localstack` with "
            "DUMMY/DUMMY; the function still runs as its role, and calls outside its policy are denied"
        )
    if stack.endpoint.url is None:
        return "credentials: your AWS profile's"
    fake = stack.endpoint.credentials  # an emulator that checks keys: its own fake pair
    return f"credentials: AWS_ACCESS_KEY_ID={fake.access_key_id} AWS_SECRET_ACCESS_KEY={fake.secret_access_key}"


def cmd_up(args: argparse.Namespace) -> int:
    port = args.port if args.port is not None else LOCALSTACK_PORT
    config = load_config(args, port=port, **({"keep": True} if args.detach else {}))  # the backend may refuse keep
    progress = Progress()
    session = StackSession(config, progress, args.stack, port=port, guard=check_deployment)
    progress.stage("project", _project_line(config))
    interrupts = Interrupts()  # SIGTERM during the apply ends it like Ctrl-C, and the close below is not cut short
    interrupts.install()
    try:
        stack = session.open()
    except BaseException:  # a failed or interrupted apply: nothing it created stays behind
        with interrupts.held():
            session.close(keep=False)
        raise
    finally:
        interrupts.uninstall()
    print_stack(stack, config.root / "samples")
    _lend(session)
    if args.detach:
        session.close(keep=True)
        print(f"Left running in the background. Stop it with: s3pipe down --stack {args.stack}")
        return 0
    print(f"Running. Ctrl-C or `s3pipe down --stack {args.stack}` stops it.")
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        while not stopping:
            if session.backend is not None and not session.backend.health().healthy:
                print("The emulator stopped.", file=sys.stderr)
                break
            time.sleep(0.5)
    finally:
        session.close(keep=False)
    return 0


def _project_line(config: HarnessConfig) -> str:
    settings = f"settings from {config.settings_file}" if config.settings_file else "no pytest ini file: defaults"
    return f"module {config.path(config.infra_dir)}, handler {config.path(config.lambda_dir)} ({settings})"


def _lend(session: StackSession) -> None:
    """Mark the stack as lendable: test sessions may reuse it while `up` keeps running."""
    workspace = session.deployer.workspace(session.stack_name)
    record = StackRecord.load(workspace.record_path)
    if record is not None:
        record.owner_pid = None
        record.save(workspace.record_path)
    (workspace.root / UP_PID_FILE).write_text(str(os.getpid()))


def cmd_down(args: argparse.Namespace) -> int:
    """Stop a stack; on AWS (its record says so) ``terraform destroy`` it in its working copy."""
    stopped = stop_stack(load_config(args), args.stack)
    print(f"stack {args.stack!r}: {'stopped' if stopped else 'nothing running'}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    config = load_config(args)
    stacks_dir = config.path(config.state_dir) / "stacks"
    records = sorted(stacks_dir.glob("*/stack.json")) if stacks_dir.exists() else []
    if not records:
        print("no stacks recorded")
        return 0
    for path in records:
        record = StackRecord.load(path)
        if record is None:
            continue
        alive = pid_alive(record.emulator_pid) if record.emulator_pid else None
        state = "running" if alive else ("stopped" if alive is False else "external")
        where = record.endpoint_url or f"AWS:{record.account_id or '?'}:{record.region}"
        if record.endpoint_url is None:  # real resources: deployed until destroyed (`s3pipe down`)
            state = f"deployed run={record.run_id or '?'} (`s3pipe down --stack {record.name}` destroys it)"
        print(f"{record.name:<16} {record.backend:<10} {where:<28} {state}")
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    from s3pipe.lambda_zip import build_lambda_zip

    config = load_config(args)
    artifact = build_lambda_zip(config.path(config.lambda_dir), Path(args.out).resolve())
    print(f"{artifact.path}  {artifact.size} bytes  sha256={artifact.sha256}  base64sha256={artifact.base64sha256}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from s3pipe.demo import run_demo

    config = load_config(args, keep=False, reuse=False)
    lambda_dir = config.path(config.lambda_dir)
    if not canary_can_check(lambda_dir):
        raise HarnessError(
            "s3pipe demo runs the shipped pipeline: it needs the shipped handler and its samples",
            tried=f"demo the module {config.path(config.infra_dir)} with the handler in {lambda_dir}",
            seen=f"{lambda_dir} holds a handler of your own (settings from {config.settings_file or 'defaults'})",
            fix="`s3pipe up` brings up your module with your handler and prints its names; "
            "or run `s3pipe demo` in a clone of s3-event-pipeline",
        )
    return int(run_demo(config, Progress(), samples=config.root / "samples"))


def cmd_bench(args: argparse.Namespace) -> int:
    from s3pipe.bench import run_bench

    config = load_config(args)
    return int(run_bench(config, Progress(), quick=args.quick))


def cmd_snapshot(args: argparse.Namespace) -> int:
    from s3pipe.snapshots.cli import run

    return run(args.action, load_config(args), everything=args.all)


_COMMON_OPTIONS = (
    "backend",
    "endpoint_url",
    "region",
    "tf_plugin_dir",
    "state_dir",
    "infra_dir",
    "lambda_dir",
    "zip_variable",
    "outputs",
)


def _add_common(parser: argparse.ArgumentParser) -> None:
    for name in _COMMON_OPTIONS:
        option = OPTIONS_BY_NAME[name]
        parser.add_argument(
            "--" + name.replace("_", "-"), dest=name, default=None, help=f"{option.help} [env {option.env}]"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3pipe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the emulator on :4566 and apply the stack; runs until Ctrl-C")
    _add_common(up)
    up.add_argument("--port", type=int, default=None, help=f"emulator port (default {LOCALSTACK_PORT})")
    up.add_argument("--stack", default=DEV_STACK, help="stack name (default: dev)")
    up.add_argument("--detach", action="store_true", help="return once ready and leave the stack running")
    up.set_defaults(handler=cmd_up)

    down = commands.add_parser("down", help="stop a stack started by `s3pipe up`")
    _add_common(down)
    down.add_argument("--stack", default=DEV_STACK)
    down.set_defaults(handler=cmd_down)

    status = commands.add_parser("status", help="list recorded stacks")
    _add_common(status)
    status.set_defaults(handler=cmd_status)

    demo = commands.add_parser("demo", help="up, upload the samples, show items and DLQ entries, down")
    _add_common(demo)
    demo.set_defaults(handler=cmd_demo)

    package = commands.add_parser("package", help="build the reproducible Lambda zip for infra/")
    _add_common(package)
    package.add_argument("--out", default="build/lambda.zip")
    package.set_defaults(handler=cmd_package)

    bench = commands.add_parser("bench", help="measure ready/cold/warm times, latency, throughput, memory")
    _add_common(bench)
    bench.add_argument("--quick", action="store_true", help="fewer repetitions (for a smoke run)")
    bench.set_defaults(handler=cmd_bench)

    from s3pipe.snapshots.cli import ACTIONS

    snapshot = commands.add_parser("snapshot", help="emulator snapshots: the cache key, what is stored, prune")
    _add_common(snapshot)
    snapshot.add_argument("action", choices=ACTIONS, help="key: print the current key; list; prune: all but current")
    snapshot.add_argument("--all", action="store_true", help="prune: remove the current key's snapshot too")
    snapshot.set_defaults(handler=cmd_snapshot)

    from s3pipe.aws.cli import add_parser as add_aws_parser

    add_aws_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except HarnessError as error:
        print(f"s3pipe: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
