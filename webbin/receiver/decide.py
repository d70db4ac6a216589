"""The receiver's one entry: what webbin decides about a delivery, from its bin's settings.

Capture calls :func:`decide` once per request, before its write transaction: the verdict's
status (explanations are computed when someone looks at the request), the handshake reply,
the answer to a CORS preflight, the custom response, whether the answer carries CORS
headers, and the key that marks retries. Nothing here touches the database or
Flask, so a costly body never holds the bin's write lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webbin.receiver import cors, deliveries, events, handshakes, responses, verification
from webbin.receiver.cors import Preflight
from webbin.receiver.handshakes import HandshakeReply, HandshakeSettings
from webbin.receiver.responses import ResponseSettings, ResponseSpec
from webbin.receiver.signatures.base import Options


@dataclass(frozen=True)
class Delivery:
    """One captured request as plain data, exactly as it arrived."""

    method: str
    path: str
    query_string: str
    headers: list[list[str]]
    body: bytes
    url: str
    received_at: datetime


@dataclass(frozen=True)
class BinRules:
    """The settings of one bin that decide what its deliveries get."""

    signature_scheme: str
    signature: Options
    handshakes: HandshakeSettings
    responses: ResponseSettings
    cors: bool

    @classmethod
    def from_row(cls, row: Any) -> BinRules:
        """From anything with the bin's settings columns (an ORM object or a Core row)."""
        return cls(
            signature_scheme=row.signature_scheme,
            signature=verification.options_for(row),
            handshakes=HandshakeSettings.from_dict(row.handshake_settings),
            responses=responses.parse(row.response_settings),
            cors=bool(row.cors),
        )


@dataclass(frozen=True)
class Decision:
    signature_scheme: str | None
    signature_status: str | None
    handshake: HandshakeReply | None
    response: ResponseSpec | None
    # (key, where it came from) identifying repeats of one event, or None.
    delivery_key: tuple[str, str] | None
    # The answer to a CORS preflight (only when the bin has CORS on), and whether the
    # answer carries CORS headers at all.
    preflight: Preflight | None
    cors: bool
    # Who sent it and which event it reports (webbin.receiver.events), when it says.
    provider: str | None
    event: str | None

    @property
    def answer(self) -> HandshakeReply | Preflight | ResponseSpec | None:
        """What the sender gets: a handshake reply wins over a preflight's answer, which
        wins over a custom response (a browser would refuse a custom 500 to its preflight,
        and never send the request being tested; a bin that wants that switches CORS off)."""
        return self.handshake or self.preflight or self.response

    @property
    def answer_status(self) -> int:
        return self.answer.status if self.answer else 200


def decide(delivery: Delivery, rules: BinRules) -> Decision:
    handshake = handshakes.reply(
        delivery.method, delivery.query_string, delivery.headers, delivery.body, rules.handshakes
    )
    verdict = verification.status_of(delivery, rules.signature_scheme, rules.signature)
    provider, event = events.classify(
        delivery.headers,
        delivery.body,
        signature_scheme=verdict.scheme,
        signature_status=verdict.status,
        handshake=handshake.provider if handshake else None,
    )
    return Decision(
        signature_scheme=verdict.scheme,
        signature_status=verdict.status,
        handshake=handshake,
        response=rules.responses.choose(delivery.method, delivery.path),
        delivery_key=deliveries.delivery_key(
            delivery.method, delivery.path, delivery.headers, delivery.body
        ),
        preflight=cors.preflight(delivery.method, delivery.headers) if rules.cors else None,
        cors=rules.cors,
        provider=provider,
        event=event,
    )
