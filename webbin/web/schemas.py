"""Typed bodies of the JSON API: what ``POST /api/bins``, ``PATCH /api/bins/{id}``,
``POST .../resend`` and ``POST .../replays`` accept, and the replay and import answers. The
API validates (and builds those answers) with them and the OpenAPI document is generated
from them, settings and all (:mod:`webbin.receiver.bin_settings`).

A body that fails is answered 400 with the usual ``{"error", "message"}`` and an
``errors`` list of ``{"path", "message"}``, one per bad or unknown field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from flask import Response, jsonify, request
from pydantic import BaseModel, Field
from werkzeug.exceptions import BadRequest

from webbin.outbound import replays
from webbin.receiver.bin_settings import SettingsPatch
from webbin.receiver.strict import InvalidInput, StrictModel, absent, text, validate

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


class ResendBody(StrictModel):
    """Where to send a captured request again; `{}` uses the bin's `resend_url`."""

    url: Url | None = Field(
        default=None,
        description="Target URL (http or https). `{path}`, `{query}` (without the `?`) and "
        "`{path_and_query}` in it are replaced by the captured request's.",
        examples=["http://localhost:3000{path_and_query}"],
    )


class ReplayBody(StrictModel):
    """Which of the bin's requests to replay (`q` or `ids`), where to and how fast."""

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
        "`{path_and_query}`); absent: the bin's `resend_url`.",
        examples=["http://localhost:3000{path_and_query}"],
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
        "`invalid_url`, `deleted` (the request went before its turn), ..."
    )


class ReplayJob(BaseModel):
    """A replay of many requests to one URL, and how far it got."""

    id: int = Field(ge=1, description="The replay's id.")
    url: str = Field(description="The target as given, placeholders unexpanded.")
    rate: float = Field(description="Requests per second at most.")
    state: Literal["running", "done", "cancelled", "failed", "interrupted"] = Field(
        description="`interrupted`: the webbin process running it stopped (a restart, a "
        "crash) before it finished; `failed`: webbin hit an internal error."
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
