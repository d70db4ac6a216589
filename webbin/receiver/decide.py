"""The receiver's one entry: what webbin decides about a delivery, from its bin's settings.

Capture calls :func:`decide` once per request, before its write transaction: the verdict's
status (explanations are computed when someone looks at the request), the handshake reply,
the custom response, and the key that marks retries. Nothing here touches the database or
Flask, so a costly body never holds the bin's write lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webbin.receiver import deliveries, events, handshakes, responses, verification
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

    @classmethod
    def from_row(cls, row: Any) -> BinRules:
        """From anything with the bin's settings columns (an ORM object or a Core row)."""
        return cls(
            signature_scheme=row.signature_scheme,
            signature=verification.options_for(row),
            handshakes=HandshakeSettings.from_dict(row.handshake_settings),
            responses=responses.parse(row.response_settings),
        )


@dataclass(frozen=True)
class Decision:
    signature_scheme: str | None
    signature_status: str | None
    handshake: HandshakeReply | None
    response: ResponseSpec | None
    # (key, where it came from) identifying repeats of one event, or None.
    delivery_key: tuple[str, str] | None
    # Who sent it and which event it reports (webbin.receiver.events), when it says.
    provider: str | None
    event: str | None

    @property
    def answer(self) -> HandshakeReply | ResponseSpec | None:
        """What the sender gets: a handshake reply wins over a custom response."""
        return self.handshake or self.response

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
        provider=provider,
        event=event,
    )
