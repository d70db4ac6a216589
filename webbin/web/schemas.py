"""Typed bodies of the JSON API: what ``POST /api/bins``, ``PATCH /api/bins/{id}`` and
``POST .../resend`` accept. The API validates with them and the OpenAPI document is
generated from them, settings and all (:mod:`webbin.receiver.bin_settings`).

A body that fails is answered 400 with the usual ``{"error", "message"}`` and an
``errors`` list of ``{"path", "message"}``, one per bad or unknown field.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, TypeVar

from flask import Response, jsonify, request
from pydantic import AfterValidator, BaseModel, Field
from werkzeug.exceptions import BadRequest

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


class ResendBody(StrictModel):
    """Where to send a captured request again; `{}` uses the bin's `resend_url`."""

    url: Url | None = Field(
        default=None,
        description="Target URL (http or https). `{path}`, `{query}` (without the `?`) and "
        "`{path_and_query}` in it are replaced by the captured request's.",
        examples=["http://localhost:3000{path_and_query}"],
    )


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
