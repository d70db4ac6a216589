"""The ``webbin`` command."""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="webbin", description="A self-hosted webhook inspector.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the web server (creates or upgrades the database first)"
    )
    serve.add_argument("--host", default=os.environ.get("WEBBIN_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEBBIN_WORKERS", "1")),
        help="worker processes; live updates cross processes within STREAM_POLL_SECONDS",
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
    args = parser.parse_args(argv)

    if args.command == "serve":
        from webbin.serving.server import serve as run

        run(args.host, args.port, args.workers)
    elif args.command == "db":
        from webbin.storage import migrations

        app = migrations.standalone_app()
        try:
            if args.db_command == "upgrade":
                print(migrations.upgrade(app).describe())
            else:
                print(migrations.status(app).describe())
        except migrations.SchemaError as exc:
            parser.exit(1, f"webbin: {exc}\n")
    elif args.command == "prune":
        from webbin import create_app
        from webbin.storage.retention import prune

        app = create_app()
        with app.app_context():
            report = prune(app)
        print(", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in report.as_dict().items()))


if __name__ == "__main__":
    main()
