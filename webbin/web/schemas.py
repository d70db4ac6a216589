"""Typed bodies of the JSON API: what ``POST /api/bins``, ``PATCH /api/bins/{id}``,
``POST .../resend`` and ``POST .../requests/delete`` accept. The API validates with them
and the OpenAPI document is generated from them, settings and all
(:mod:`webbin.receiver.bin_settings`).

A body that fails is answered 400 with the usual ``{"error", "message"}`` and an
``errors`` list of ``{"path", "message"}``, one per bad or unknown field.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from flask import Response, jsonify, request
from pydantic import BaseModel, Field
from werkzeug.exceptions import BadRequest

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
