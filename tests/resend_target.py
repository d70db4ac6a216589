"""A loopback resend target that keeps every request exactly as it arrived, and providers'
signature checks written here from their documentation, independently of webbin's code, so
that a re-signed resend is judged the way the provider's own SDK would judge it.

Also the signers a test uses to make a "provider" delivery to capture in the first place
(again independent of webbin): what webbin re-signs must verify, what it did not must not.
"""

from __future__ import annotations

import base64
import hmac
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

FRESH_SECONDS = 300  # every provider below refuses older timestamps (Stripe, Slack: 5 min)


@dataclass(frozen=True)
class Arrival:
    method: str
    path: str
    headers: list[tuple[str, str]]  # in order, repeats kept, as received
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)


class Target:
    """Answers 200 to anything and remembers it."""

    def __init__(self) -> None:
        arrivals: list[Arrival] = []
        self.arrivals = arrivals

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                arrivals.append(Arrival(self.command, self.path, list(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def last(self) -> Arrival:
        return self.arrivals[-1]

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()


def running_target() -> Iterator[Target]:
    """Body of a fixture: ``yield from running_target()``."""
    target = Target()
    yield target
    target.stop()


def _hmac(key: bytes, message: bytes, digest: str = "sha256") -> bytes:
    return hmac.new(key, message, digest).digest()


def _fresh(timestamp: str) -> bool:
    return timestamp.isdigit() and abs(time.time() - int(timestamp)) <= FRESH_SECONDS


# --- the providers' checks, as their documentation describes them ----------------------------


def github_valid(arrival: Arrival, secret: str) -> bool:
    """docs.github.com, "Validating webhook deliveries": sha256=<hex HMAC of the body>."""
    sent = arrival.header("X-Hub-Signature-256") or ""
    expected = "sha256=" + _hmac(secret.encode(), arrival.body).hex()
    return hmac.compare_digest(sent, expected)


def stripe_valid(arrival: Arrival, secret: str) -> bool:
    """docs.stripe.com, "Verify signatures manually": t and v1 items; v1 is the hex HMAC of
    ``{t}.{body}`` keyed with the whole whsec_ secret; t within the tolerance."""
    items = [item.split("=", 1) for item in (arrival.header("Stripe-Signature") or "").split(",")]
    stamps = [v for k, v in items if k == "t"]
    signatures = [v for k, v in items if k == "v1"]
    if not stamps or not _fresh(stamps[0]):
        return False
    expected = _hmac(secret.encode(), f"{stamps[0]}.".encode() + arrival.body).hex()
    return any(hmac.compare_digest(s, expected) for s in signatures)


def slack_valid(arrival: Arrival, secret: str) -> bool:
    """api.slack.com, "Verifying requests from Slack": v0=<hex HMAC of v0:{ts}:{body}>."""
    stamp = arrival.header("X-Slack-Request-Timestamp") or ""
    if not _fresh(stamp):
        return False
    expected = "v0=" + _hmac(secret.encode(), f"v0:{stamp}:".encode() + arrival.body).hex()
    return hmac.compare_digest(arrival.header("X-Slack-Signature") or "", expected)


def standard_webhooks_valid(arrival: Arrival, secret: str) -> bool:
    """standardwebhooks.com spec: HMAC-SHA256 of ``{id}.{timestamp}.{body}`` keyed with the
    base64-decoded part after whsec_; ``v1,<base64>`` entries, space-separated."""
    message_id = arrival.header("webhook-id") or ""
    stamp = arrival.header("webhook-timestamp") or ""
    if not message_id or not _fresh(stamp):
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        _hmac(key, f"{message_id}.{stamp}.".encode() + arrival.body)
    ).decode()
    entries = (arrival.header("webhook-signature") or "").split()
    return any(hmac.compare_digest(e, f"v1,{expected}") for e in entries)


def shopify_valid(arrival: Arrival, secret: str) -> bool:
    """shopify.dev, "Verify webhooks": base64 HMAC-SHA256 of the body."""
    expected = base64.b64encode(_hmac(secret.encode(), arrival.body)).decode()
    return hmac.compare_digest(arrival.header("X-Shopify-Hmac-Sha256") or "", expected)


def twilio_signature(url: str, body: bytes, secret: str) -> str:
    """twilio.com, "Webhooks security": base64 HMAC-SHA1 of the full URL followed by each
    POST parameter's name and value, sorted by name."""
    params = sorted(parse_qsl(body.decode(), keep_blank_values=True))
    data = url + "".join(name + value for name, value in params)
    return base64.b64encode(_hmac(secret.encode(), data.encode(), "sha1")).decode()


def twilio_valid(arrival: Arrival, secret: str) -> bool:
    """Twilio's signature over the URL this target was called at (Host and path)."""
    expected = twilio_signature(
        f"http://{arrival.header('Host')}{arrival.path}", arrival.body, secret
    )
    return hmac.compare_digest(arrival.header("X-Twilio-Signature") or "", expected)


# --- deliveries as the providers sign them, to capture first ---------------------------------


def stripe_header(body: bytes, secret: str, timestamp: int) -> str:
    return f"t={timestamp},v1=" + _hmac(secret.encode(), f"{timestamp}.".encode() + body).hex()


def github_header(body: bytes, secret: str) -> str:
    return "sha256=" + _hmac(secret.encode(), body).hex()


def slack_headers(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    signature = _hmac(secret.encode(), f"v0:{timestamp}:".encode() + body).hex()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={signature}"}


def standard_webhooks_headers(
    body: bytes, secret: str, timestamp: int, message_id: str
) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = base64.b64encode(_hmac(key, f"{message_id}.{timestamp}.".encode() + body))
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + signature.decode(),
    }


def shopify_header(body: bytes, secret: str) -> str:
    return base64.b64encode(_hmac(secret.encode(), body)).decode()
