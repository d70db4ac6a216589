"""The ``webbin`` command.

A wrong setting or a port that cannot be had ends the command with one line on stderr (no
traceback): status 2 for configuration, 1 for the port.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from webbin.config import ConfigError
from webbin.forward import command as forward


def _version() -> str:
    try:
        return version("webbin")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def _bounded(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` (to ``high``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is not {bound}")
        return value

    return parse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="webbin", description="A self-hosted webhook inspector.")
    parser.add_argument("--version", action="version", version=f"webbin {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run the web server (creates or upgrades the database first)"
    )
    serve.add_argument("--host", help="address to bind (default: WEBBIN_HOST or 127.0.0.1)")
    serve.add_argument(
        "--port", type=_bounded(1, 65535), help="port to bind (default: PORT or 8080)"
    )
    serve.add_argument(
        "--workers",
        type=_bounded(1),
        help="worker processes (default: WEBBIN_WORKERS or 1); live updates cross them "
        "through WEBBIN_REDIS_URL, PostgreSQL or a local notifier (docs/scaling.md)",
    )
    commands.add_parser(
        "prune",
        help="apply the retention limits once (idle bins, old requests, per-bin maximum, "
        "storage quota), as the server does in the background",
    )
    database = commands.add_parser("db", help="the database schema (migrations)")
    database_commands = database.add_subparsers(dest="db_command", required=True)
    database_commands.add_parser(
        "upgrade", help="apply pending migrations and say from which revision to which"
    )
    database_commands.add_parser("current", help="print the database's revision")
    forward.add_parser(commands)
    args = parser.parse_args(argv)

    if args.command is None:
        parser.print_help()
        return
    try:
        run(args)
    except ConfigError as error:
        for line in str(error).splitlines():
            print(f"webbin: {line}", file=sys.stderr)
        sys.exit(2)


def run(args: argparse.Namespace) -> None:
    """Carry out the parsed command."""
    if args.command == "serve":
        from webbin import create_app  # built later, in each worker
        from webbin.serving.server import CannotListen
        from webbin.serving.server import serve as run_server

        try:
            run_server(create_app, args.host, args.port, args.workers)
        except CannotListen as error:
            print(f"webbin: {error}", file=sys.stderr)
            sys.exit(1)
    elif args.command == "db":
        from webbin.storage import migrations

        app = migrations.standalone_app()
        try:
            if args.db_command == "upgrade":
                print(migrations.upgrade(app).describe())
            else:
                print(migrations.status(app).describe())
        except migrations.SchemaError as exc:
            print(f"webbin: {exc}", file=sys.stderr)
            sys.exit(1)
    elif args.command == "forward":
        forward.run(args)
    elif args.command == "prune":
        from webbin import create_app
        from webbin.storage.retention import prune_once

        # Under the same lock as the servers' own pruning: one pruner at a time.
        report = prune_once(create_app())
        if report is None:
            print("webbin: another process is pruning right now; nothing done", file=sys.stderr)
            sys.exit(3)
        print(", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in report.as_dict().items()))


if __name__ == "__main__":
    main()
