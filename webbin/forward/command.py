"""The ``webbin forward`` command line: its options, and turning them into a forwarder."""

from __future__ import annotations

import argparse
import getpass
import re
import socket
import sys
from typing import Any
from urllib.parse import unquote, urlsplit

from webbin.forward.forwarder import Forwarder, Options, parse_since
from webbin.forward.state import AlreadyRunning
from webbin.forward.transport import Server

_BIN_PATH = re.compile(r"^(?P<prefix>.*?)/(?:api/)?bins/(?P<id>[^/]+)$")


def parse_bin(text: str, bin_id: str | None = None) -> Server:
    """A dashboard (or API) URL of a bin, or a server URL plus a bin id."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not a URL like http://localhost:8080/bins/BIN_ID")
    try:
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{text!r} has a port that is not a number") from None
    path = parts.path.rstrip("/")
    if bin_id is None:
        found = _BIN_PATH.match(path)
        if found is None:
            raise ValueError(
                f"{text!r} names no bin: give the bin's dashboard URL "
                "(http://HOST/bins/BIN_ID), or the server URL and the bin id"
            )
        path, bin_id = found["prefix"], unquote(found["id"])
    return Server(f"{parts.scheme}://{parts.netloc}{path}", bin_id)


def _target(text: str) -> str:
    parts = urlsplit(text.strip())
    try:
        parts.port  # noqa: B018
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} has a port that is not a number") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    if parts.fragment:
        raise argparse.ArgumentTypeError(f"{text!r} has a #fragment, which is never sent")
    return text.strip()


def _since(text: str) -> Any:
    try:
        return parse_since(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _prefix(text: str) -> tuple[str, str]:
    old, equals, new = text.partition("=")
    if not equals or not old.startswith("/") or (new and not new.startswith("/")):
        raise argparse.ArgumentTypeError(f"{text!r} is not FROM=TO, e.g. /github=/hooks/github")
    return old, new


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not more than 0")
        return value

    return parse


def _reply_timeout(text: str) -> float:
    value = _positive(float)(text)
    if value > 10:
        raise argparse.ArgumentTypeError("the server waits at most 10 s")
    return value


def default_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "someone"
    return f"{user}@{socket.gethostname()}"[:100]


def add_parser(commands: Any) -> None:
    forward = commands.add_parser(
        "forward",
        help="send every request a bin captures to a local URL, byte for byte (docs/forward.md)",
        description="Follow a bin and send each captured request to --to: same method, path "
        "after the capture URL, query, headers (less hop-by-hop ones) and exact body. Resumes "
        "where it stopped, so nothing is missed or sent twice.",
    )
    forward.add_argument("bin", metavar="BIN", help="the bin's dashboard URL, or the server URL")
    forward.add_argument(
        "bin_id", metavar="BIN_ID", nargs="?", help="the bin id, with a server URL"
    )
    forward.add_argument(
        "--to", required=True, type=_target, metavar="URL", help="where to send each request"
    )
    forward.add_argument(
        "--since",
        type=_since,
        metavar="WHEN",
        help="where a new forwarder starts: now (default), a request id (that one and later), "
        "or a duration such as 10m, 2h, 1d; a forwarder that ran before resumes instead",
    )
    forward.add_argument(
        "--reset", action="store_true", help="forget where this bin and target got to"
    )
    forward.add_argument("--name", help="shown in the dashboard (default: user@host)")
    forward.add_argument(
        "--path-prefix",
        type=_prefix,
        action="append",
        default=[],
        metavar="FROM=TO",
        help="replace a leading FROM of the captured path with TO before it is added to --to "
        "(repeatable; the first match applies; TO may be empty)",
    )
    forward.add_argument(
        "--method",
        action="append",
        default=[],
        metavar="METHOD",
        help="forward only these methods (repeatable or comma-separated); others are passed",
    )
    forward.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="GLOB",
        help="forward only captured paths matching this glob, e.g. '/github/*' (repeatable)",
    )
    forward.add_argument(
        "--concurrency",
        type=_positive(int),
        default=1,
        metavar="N",
        help="requests in flight at once (default 1, which keeps their order)",
    )
    forward.add_argument(
        "--timeout",
        type=_positive(float),
        default=10.0,
        metavar="SECONDS",
        help="seconds to wait for the target to connect and to answer (default 10)",
    )
    forward.add_argument(
        "--on-failure",
        choices=("retry", "skip"),
        default="retry",
        help="when the target does not answer: retry with backoff and hold the rest behind "
        "it (default), or note the error and go on",
    )
    forward.add_argument(
        "--insecure", action="store_true", help="do not check the target's TLS certificate"
    )
    forward.add_argument(
        "--keep-host",
        action="store_true",
        help="send the Host header as captured instead of the target's",
    )
    forward.add_argument(
        "--reply",
        nargs="?",
        const=3.0,
        default=0.0,
        type=_reply_timeout,
        metavar="SECONDS",
        help="let the provider receive the local app's answer when it comes within SECONDS "
        "(default 3, at most 10); captures wait that long for it",
    )
    forward.add_argument("--json", action="store_true", help="one JSON object per line")


def run(args: argparse.Namespace) -> None:
    try:
        server = parse_bin(args.bin, args.bin_id)
    except ValueError as error:
        print(f"webbin forward: {error}", file=sys.stderr)
        sys.exit(2)
    methods = {m.strip().upper() for value in args.method for m in value.split(",") if m.strip()}
    options = Options(
        server=server,
        target=args.to,
        name=(args.name or default_name()).strip()[:100] or default_name(),
        since=args.since if args.since is not None else "now",
        since_given=args.since is not None,
        reset=args.reset,
        path_prefixes=tuple(args.path_prefix),
        methods=frozenset(methods),
        paths=tuple(args.path),
        concurrency=args.concurrency,
        timeout=args.timeout,
        insecure=args.insecure,
        keep_host=args.keep_host,
        on_failure=args.on_failure,
        reply=args.reply,
        as_json=args.json,
    )
    try:
        status = Forwarder(options).run()
    except AlreadyRunning as error:
        print(f"webbin forward: {error}", file=sys.stderr)
        sys.exit(1)
    sys.exit(status)
