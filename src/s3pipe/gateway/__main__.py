"""``python -m s3pipe.gateway --upstream URL [--port 0] [--port-file PATH] [--journal PATH] [--journal-capacity N]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from s3pipe.gateway.classify import DEFAULT_ACCOUNT
from s3pipe.gateway.journal import DEFAULT_CAPACITY, Journal
from s3pipe.gateway.server import GatewayServer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m s3pipe.gateway", description="s3pipe function gateway (recording, fault-injecting proxy)"
    )
    parser.add_argument("--upstream", required=True, help="the emulator, http://127.0.0.1:PORT")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port (see --port-file)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--journal", type=Path, help="JSON Lines journal of every call")
    parser.add_argument(
        "--journal-capacity", type=int, default=DEFAULT_CAPACITY, help="entries kept (older ones are dropped, counted)"
    )
    parser.add_argument("--account", default=DEFAULT_ACCOUNT)
    args = parser.parse_args(argv)
    server = GatewayServer(
        (args.host, args.port), args.upstream, Journal(args.journal, args.journal_capacity), account=args.account
    )
    port = server.server_address[1]
    if args.port_file is not None:
        temporary = args.port_file.with_suffix(".tmp")
        temporary.write_text(f"{port}\n")
        temporary.replace(args.port_file)
    print(f"s3pipe gateway on http://{args.host}:{port} -> {args.upstream} (journal {args.journal})", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
