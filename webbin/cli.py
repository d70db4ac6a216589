"""The ``webbin`` command."""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="webbin", description="A self-hosted webhook inspector.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the web server (creates the database on first start)"
    )
    serve.add_argument("--host", default=os.environ.get("WEBBIN_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEBBIN_WORKERS", "1")),
        help="worker processes; live updates cross processes within STREAM_POLL_SECONDS",
    )
    args = parser.parse_args(argv)

    if args.command == "serve":
        from .server import serve as run

        run(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
