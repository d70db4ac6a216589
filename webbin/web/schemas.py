"""Typed bodies of the JSON API: what ``POST /api/bins``, ``PATCH /api/bins/{id}``,
``POST .../resend``, ``POST .../replays`` and ``POST .../requests/delete`` accept, and the
answers built from models (the comparison of two requests, replay jobs, imports). The API
validates with them and the OpenAPI document is generated from them, settings and all
(:mod:`webbin.receiver.bin_settings`).

A body that fails is answered 400 with the usual ``{"error", "message"}`` and an
``errors`` list of ``{"path", "message"}``, one per bad or unknown field.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal, TypeVar

from flask import Response, jsonify, request
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from werkzeug.exceptions import BadRequest

from webbin.outbound import replays
from webbin.receiver.bin_settings import SettingsPatch
from webbin.receiver.strict import (
    InvalidInput,
    StrictModel,
    absent,
    bounded_int,
    invalid,
    text,
    validate,
)

M = TypeVar("M", bound=BaseModel)

Name = text(max_length=200)
Url = text(max_length=2000)


class CreateBin(StrictModel):
    """The new bin's fields; the body itself is optional."""

    name: Name | None = Field(default=None, description="Label for the bin; null or empty: none.")


class UpdateBin(SettingsPatch):
    """Fields to change: only the keys present change."""

    name: Name | None = absent("Label for the bin; null or empty removes it.")
    resend_url: Url | None = absent("Default resend target; null or empty removes it.")


def _http_name(value: str) -> str:
    if not _NAME_CHARS.fullmatch(value):
        raise invalid("must be 1 to 256 of the letters, digits and !#$%&'*+-.^_`|~ of a token")
    return value


def _one_line(value: str) -> str:
    if any(c in value for c in "\r\n"):
        raise invalid("must be one line (no CR or LF)")
    return value


def _unicode(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("must be valid Unicode (no unpaired surrogates)") from None
    return value


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("must be base64 (A-Z, a-z, 0-9, + and /, padded with =)") from None
    return value


_NAME_CHARS = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}")
_NAME_PATTERN = "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]{1,256}$"
MAX_RESEND_HEADERS = 500
Method = text(_http_name, description="HTTP method.", json_schema_extra={"pattern": _NAME_PATTERN})
HeaderName = text(_http_name, json_schema_extra={"pattern": _NAME_PATTERN})
HeaderValue = text(
    _one_line, max_length=65536, json_schema_extra={"pattern": "^[^\\u0000\\r\\n]*$"}
)
# JSON has no tuples: the pair is validated laxly (a list is accepted), its items strictly.
HeaderPair = Annotated[
    tuple[HeaderName, HeaderValue],
    Field(strict=False, description="One header as [name, value]."),
]
BodyText = Annotated[str, AfterValidator(_unicode)]
Base64Text = Annotated[
    str,
    AfterValidator(_base64),
    WithJsonSchema({"type": "string", "format": "byte", "contentEncoding": "base64"}),
]


class ResendBody(StrictModel):
    """Where to send a captured request again, and what to change first; `{}` sends it
    unchanged to the bin's `resend_url`."""

    url: Url | None = Field(
        default=None,
        description="Target URL (http or https). `{path}`, `{query}` (without the `?`) and "
        "`{path_and_query}` in it are replaced by the captured request's.",
        examples=["http://localhost:3000{path_and_query}"],
    )
    method: Method | None = Field(
        default=None, description="Method to send instead of the captured one."
    )
    headers: list[HeaderPair] | None = Field(
        default=None,
        max_length=MAX_RESEND_HEADERS,
        description="Headers to send instead of the captured ones, in order, repeats kept. "
        "Hop-by-hop headers, Host and Content-Length are dropped (the connection sets them).",
    )
    body_text: BodyText | None = Field(
        default=None, description="Body to send instead of the captured one, as UTF-8 text."
    )
    body_base64: Base64Text | None = Field(
        default=None,
        description="Body to send instead of the captured one, base64-encoded (for bytes "
        "that are not UTF-8 text). At most one of `body_text` and `body_base64`.",
    )
    resign: bool = Field(
        default=False,
        description="Compute the signature headers again for the bin's signature scheme "
        "and secret (and a fresh timestamp where the scheme signs one), over what is sent, "
        "so the changed request still verifies at the target. Refused (400, path `resign`) "
        "for schemes signed with a private key (Discord, SendGrid), or without a secret.",
    )

    forwarder: text(min_length=1, max_length=100) | None = Field(
        default=None,
        description="Send it through this forwarder (`webbin forward`, connected to the bin "
        "now: `GET /api/bins/{id}/forwarders` lists them) to the forwarder's target, from the "
        "developer's machine, instead of from webbin to `url`. The captured request goes as "
        "it is, so not with `url` or any change. The answer is the attempt the forwarder "
        "reports; 409 when it is not connected, 502 when it disconnects first, 504 when it "
        "has not reported in time (the attempt is listed under the request once it does).",
    )

    @model_validator(mode="after")
    def _one_body(self) -> ResendBody:
        if self.body_text is not None and self.body_base64 is not None:
            raise ValueError("give either body_text or body_base64, not both")
        return self

    @model_validator(mode="after")
    def _forwarder_alone(self) -> ResendBody:
        changed = (self.url, self.method, self.headers, self.body_text, self.body_base64)
        if self.forwarder is not None and (self.resign or any(v is not None for v in changed)):
            raise ValueError(
                'a forwarder sends the captured request as it is: give "forwarder" alone'
            )
        return self

    def body(self) -> bytes | None:
        """The replacement body's bytes, or None to send the captured body."""
        if self.body_base64 is not None:
            return base64.b64decode(self.body_base64, validate=True)
        return None if self.body_text is None else self.body_text.encode("utf-8")


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("must be base64") from None
    return value


Header = Annotated[list[text(max_length=8192)], Field(min_length=2, max_length=2)]


class ForwardOutcome(StrictModel):
    """What a forwarder (`webbin forward`) got when it sent a captured request to its
    target: its answer, or why there was none."""

    forwarder: text(min_length=1, max_length=100) = Field(
        description="The forwarder's name, shown with the attempt."
    )
    url: text(min_length=1, max_length=2000) = Field(
        description="Where the forwarder sent the request, as it named it."
    )
    status: bounded_int(100, 599, "HTTP status of the target's answer; null: none came.") | None = (
        None
    )
    reason: text(max_length=200) | None = Field(default=None, description="Reason phrase.")
    headers: list[Header] = Field(
        default_factory=list,
        max_length=500,
        description="The answer's headers in order, each [name, value].",
    )
    body_base64: Annotated[text(max_length=16 * 1024 * 1024), AfterValidator(_base64)] = Field(
        default="",
        description="The answer's body, base64; the server keeps RESEND_MAX_RESPONSE_BYTES of it.",
    )
    truncated: bool = Field(default=False, description="The forwarder already cut the body.")
    elapsed_ms: float = Field(default=0.0, ge=0, le=86_400_000, description="Milliseconds taken.")
    error: text(max_length=2000) | None = Field(
        default=None, description="Why the exchange did not complete, or null."
    )
    error_kind: text(max_length=32) | None = Field(
        default=None, description="Class of `error`: refused, timeout, tls, dns, other..."
    )
    job: int | None = Field(
        default=None,
        ge=1,
        le=2**53,
        description="The resend job this answers (a dashboard's \"resend through my "
        'forwarder"); null for a forward of a new arrival.',
    )
    reply: bool = Field(
        default=False,
        description="The forwarder runs with --reply: this answer may go to the provider.",
    )


class ReplayBody(StrictModel):
    """Which of the bin's requests to replay (`q` or `ids`), where to (`url` or
    `forwarder`) and how fast."""

    q: text(max_length=2000) | None = Field(
        default=None,
        description='A search of the bin\'s requests; `""` replays every request of the bin.',
    )
    ids: (
        Annotated[
            list[Annotated[int, Field(ge=1)]],
            Field(min_length=1, max_length=replays.MAX_REQUESTS),
        ]
        | None
    ) = Field(
        default=None,
        description="Ids of requests of the bin, sent oldest first whatever their order here.",
    )
    url: Url | None = Field(
        default=None,
        description="Target URL, with the placeholders of a resend (`{path}`, `{query}`, "
        "`{path_and_query}`); absent (and no `forwarder`): the bin's `resend_url`. Not "
        "with `forwarder`.",
        examples=["http://localhost:3000{path_and_query}"],
    )
    forwarder: text(min_length=1, max_length=64) | None = Field(
        default=None,
        description="Instead of a URL, the `id` of a forwarder connected to the bin "
        "(`GET /api/bins/{id}/forwarders`): each request goes through it to its target, as "
        'a dashboard\'s "resend to my forwarder" does. Not with `url`.',
    )
    rate: float = Field(
        default=1.0,
        ge=replays.MIN_RATE,
        le=replays.MAX_RATE,
        allow_inf_nan=False,
        description="Requests per second at most. Each request also spends one of the "
        "client's resend tokens (RESEND_CLIENT_RATE), so that limit may make it slower.",
    )


Moment = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class ReplayOutcome(BaseModel):
    """What happened to one request of a replay."""

    position: int = Field(ge=1, description="Its place in the replay's order: 1, 2, 3, ...")
    request_id: int = Field(ge=1, description="The replayed request's id.")
    attempt_id: int | None = Field(
        description="The resend attempt recorded under the request "
        "(`GET .../requests/{rid}/resends`); null when nothing was sent or it was deleted."
    )
    sent_at: Moment = Field(description="When it was sent (RFC 3339, UTC).")
    status: int | None = Field(description="The target's status; null when none came.")
    reason: str | None = Field(description="The target's reason phrase.")
    elapsed_ms: float = Field(description="How long the exchange took, in milliseconds.")
    error: str | None = Field(
        description="Why there is no (complete) answer; null when there is one."
    )
    error_kind: str | None = Field(
        description="`blocked` (outbound policy), `dns`, `refused`, `timeout`, `tls`, "
        "`invalid_url`, `deleted` (the request went before its turn), `forwarder_gone` "
        "(the forwarder disconnected first), ..."
    )


class ReplayForwarder(BaseModel):
    """The forwarder a replay goes through, as it was when the replay started."""

    id: str = Field(description="Its id (while it stays connected).")
    name: str = Field(description="Its name (`--name`, else user@host).")
    target: str = Field(description="Where it sends, as it named it.")


class ReplayJob(BaseModel):
    """A replay of many requests to one URL or through one forwarder, and how far it got."""

    id: int = Field(ge=1, description="The replay's id.")
    url: str = Field(
        description="The target as given, placeholders unexpanded; through a forwarder, "
        "the forwarder's target."
    )
    forwarder: ReplayForwarder | None = Field(
        description="The forwarder the requests go through; null when they go to `url`."
    )
    rate: float = Field(description="Requests per second at most.")
    state: Literal["running", "done", "cancelled", "failed", "interrupted"] = Field(
        description="`interrupted`: the webbin process running it stopped (a restart, a "
        "crash) before it finished; `failed`: webbin hit an internal error, or the "
        "forwarder disconnected (`error` says which)."
    )
    total: int = Field(ge=0, description="Requests to send.")
    done: int = Field(ge=0, description="Requests sent (or skipped) so far.")
    failed: int = Field(ge=0, description="Of those, how many got no answer (`error` set).")
    created_at: Moment = Field(description="When it started (RFC 3339, UTC).")
    finished_at: Moment | None = Field(description="When it ended; null while running.")
    error: str | None = Field(description="Why it ended early (failed or interrupted).")


class ReplayJobDetail(ReplayJob):
    """A replay with the outcomes of its requests, in order."""

    outcomes: list[ReplayOutcome] = Field(
        description="Outcomes with a position after `after`, oldest first, at most 1000 at a time."
    )
    next_after: int | None = Field(
        description="Pass as `after` to get the next outcomes; null when there are no more yet."
    )


class ReplayJobList(BaseModel):
    """The bin's recent replays, newest first."""

    replays: list[ReplayJob] = Field(description="At most the 20 newest.")


class ImportResult(BaseModel):
    """What an import stored."""

    imported: int = Field(ge=1, description="How many requests were stored.")
    ids: list[int] = Field(description="Their new ids, in the file's order.")


# Requests one bulk delete takes at most (far more than a page shows; a bigger selection
# is deleted in several calls, or all at once with DELETE .../requests).
MAX_DELETE = 5000
# Ids are 64-bit in every database: a larger number names no request (and SQLite refuses it).
RequestId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class DeleteRequests(StrictModel):
    """Requests of the bin to delete at once."""

    ids: Annotated[list[RequestId], Field(min_length=1, max_length=MAX_DELETE)] = Field(
        description="Request ids; ids the bin does not hold (any more) are skipped.",
        examples=[[12, 15, 16]],
    )


class RequestLabels(BaseModel):
    """What a captured request says about its sender: part of every request object the API
    sends (summaries, details, the live stream), generated into its schema from here."""

    provider: str | None = Field(
        description="The provider that sent it (github, stripe, shopify, slack, ...), from "
        "headers only it sends or the signature it carries; null when nothing says.",
        examples=["stripe"],
    )
    event: str | None = Field(
        max_length=200,
        description="The event type the delivery names, as sent: X-GitHub-Event, Stripe's "
        "`type`, X-Shopify-Topic, Slack's `event.type`, ...; null when it names none.",
        examples=["invoice.paid"],
    )


class InvalidBody(BadRequest):
    """A 400 that carries each field's error, for the API's ``errors`` list."""

    def __init__(self, errors: list[dict[str, str]], message: str) -> None:
        super().__init__(message)
        self.errors = errors


def invalid_body_response(error: InvalidBody) -> tuple[Response, int]:
    """The error handler for :class:`InvalidBody`: the common shape plus ``errors``."""
    return jsonify(error="bad_request", message=error.description, errors=error.errors), 400


def body_as(model: type[M], *, optional: bool = False) -> M:
    """The request's JSON body as ``model``; InvalidBody (400) when it is not one.

    With ``optional``, no body at all is the same as ``{}``.
    """
    data: Any = {} if optional and not request.content_length else request.get_json(silent=True)
    if not isinstance(data, dict):
        message = "The request body must be a JSON object."
        raise InvalidBody([{"path": "", "message": message}], message)
    try:
        return validate(model, data)
    except InvalidInput as error:
        raise InvalidBody(error.errors, str(error)) from None


# --- what the API answers: the comparison of two requests ------------------------------


class Answer(BaseModel):
    """A response shape: closed, every field always present."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class RequestRef(Answer):
    """One side of a comparison."""

    id: int = Field(description="The request's id.")
    seq: int = Field(description="Its number in the bin.")
    method: str
    path: str
    query_string: str
    size: int = Field(description="Body size in bytes.")
    received_at: str = Field(description="When it was stored (RFC 3339, UTC).")


class FieldChange(Answer):
    """A part of the request line that differs."""

    field: Literal["method", "path", "query_string"]
    old: str
    new: str


class HeaderChange(Answer):
    """One header of either request, in order: unchanged, added in `b`, removed from `a`, or
    changed (same name, in the same place among the headers that differ)."""

    op: Literal["same", "added", "removed", "changed"]
    old: tuple[str, str] | None = Field(description="[name, value] in `a`; null if added.")
    new: tuple[str, str] | None = Field(description="[name, value] in `b`; null if removed.")


class HeadersDiff(Answer):
    """The two header lists aligned in order, repeats kept (each occurrence is an entry)."""

    entries: list[HeaderChange]
    added: int
    removed: int
    changed: int


class JsonChange(Answer):
    """One difference between two JSON bodies."""

    op: Literal["added", "removed", "changed"]
    pointer: str = Field(
        description="JSON Pointer (RFC 6901) to the value: its place in `b`, or in `a` for "
        "a removed one; empty for the whole document."
    )
    old: str | None = Field(description="The value in `a` as compact JSON; null if added.")
    new: str | None = Field(description="The value in `b` as compact JSON; null if removed.")


class BinaryDiff(Answer):
    """Two bodies that are not both text, summarised."""

    sha256_a: str
    sha256_b: str
    first_difference: int | None = Field(
        description="Offset of the first byte that differs (the shorter body's length when "
        "one is the start of the other); null when the bodies are equal."
    )
    window_offset: int = Field(description="Offset where the hex dumps below start.")
    hex_a: str = Field(description="Hex dump of `a` around the first difference.")
    hex_b: str = Field(description="Hex dump of `b` around the first difference.")


class BodyDiff(Answer):
    """The bodies compared: structurally when both are JSON, line by line when both are
    text, summarised otherwise."""

    kind: Literal["identical", "json", "text", "binary"]
    size_a: int
    size_b: int
    note: str | None = Field(description="What the comparison could not show, in words.")
    truncated: bool = Field(description="True when the diff stops short of every difference.")
    json_changes: list[JsonChange] | None = Field(description="Set when `kind` is json.")
    text_diff: str | None = Field(
        description="Unified diff (difflib), set when `kind` is text; empty when the texts "
        "differ only in line endings (see `note`)."
    )
    binary: BinaryDiff | None = Field(description="Set when `kind` is binary.")


class RequestDiff(Answer):
    """Request `a` compared with request `b` (what changed from `a` to `b`)."""

    a: RequestRef
    b: RequestRef
    request_line: list[FieldChange]
    headers: HeadersDiff
    body: BodyDiff
