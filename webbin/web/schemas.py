"""Typed bodies of the JSON API: what ``POST /api/bins``, ``PATCH /api/bins/{id}`` and
``POST .../resend`` accept. The API validates with them and the OpenAPI document is
generated from them, settings and all (:mod:`webbin.receiver.bin_settings`).

A body that fails is answered 400 with the usual ``{"error", "message"}`` and an
``errors`` list of ``{"path", "message"}``, one per bad or unknown field.
"""

from __future__ import annotations

from typing import Any, TypeVar

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
