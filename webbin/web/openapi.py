"""The OpenAPI 3.1 document served at /api/openapi.json.

It describes the JSON API of :mod:`webbin.web.api`, the capture URLs of
:mod:`webbin.capture` and, as far as OpenAPI can, the live WebSocket stream. Request bodies
and the settings inside a Bin are generated from the pydantic models the API validates
with (:mod:`webbin.web.schemas`, :mod:`webbin.receiver.bin_settings`), so every nested field
is described and the document cannot drift from the validation; the other response shapes
follow :mod:`webbin.web.serialize`. Every error is the ``{"error", "message"}`` object of
:mod:`webbin.web.errors`. ``tests/web/test_openapi.py`` checks it against the app's routes
and real responses, so a change to either side that is not mirrored here fails the tests.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from webbin.config import DEFAULTS
from webbin.outbound import replays
from webbin.receiver.bin_settings import SettingsView
from webbin.web.schemas import (
    CreateBin,
    DeleteRequests,
    ForwardOutcome,
    ImportResult,
    ReplayBody,
    ReplayJobDetail,
    ReplayJobList,
    RequestDiff,
    RequestLabels,
    ResendBody,
    UpdateBin,
)

Schema = dict[str, Any]

# Mirrors webbin.api.MAX_LIMIT (webbin.api imports this module, so it cannot be imported
# here); tests/test_openapi.py checks that limit=501 is refused.
MAX_LIMIT = 500

# Methods documented for the capture URLs. The capture rules accept every method (PURGE and
# other extension methods too), but OpenAPI can only name these.
CAPTURE_METHODS = ("get", "post", "put", "patch", "delete", "options", "head", "trace")

DESCRIPTION = """\
webbin captures any HTTP request sent to a bin's capture URL, byte-exact, and shows it live.

**Capture.** Point a webhook provider at a bin's `capture_url` (`/c/{capture_token}`, plus
any sub-path and query string). Every method and body is stored as sent; the answer is
`200 {"ok": true, "id": <id>, "seq": <seq>}`. The capture token only allows sending
requests: reading a bin needs its `id`.

**Access.** The JSON API has no authentication and uses no cookies: a bin's `id` is the
capability that reads, changes and deletes it, so keep it secret.

**Errors.** Every error under `/api/` and `/c/` is a JSON object
`{"error": "<snake_case code>", "message": "<readable text>"}`. A JSON body that does not fit
its schema (an unknown key, a wrong type, a value out of range, anywhere in it) is answered
400 with, in addition, `"errors": [{"path": "response.default.status", "message": "..."}]`,
one entry per bad field.

**Paging.** `GET /api/bins/{id}/requests` lists newest first; pass the answer's
`next_before` as `before` to get the next (older) page, until it is `null`.

**Search.** `GET /api/bins/{id}/requests?q=method:POST provider:stripe -verdict:valid`
filters the list (and `q` on the live stream filters it too). With a `q` that searches
headers or bodies, a page may hold fewer requests than `limit` (even none) while
`next_before` is not `null`: each page scans a bounded number of requests and body bytes.
Keep paging until `next_before` is `null`.

**Live stream (WebSocket).** `GET /api/bins/{id}/stream?after={rid}` upgrades to a WebSocket
(OpenAPI has no WebSocket type; see `x-websocket` on that path). The server sends one text
message per captured request, each a JSON `RequestSummary`: first every stored request with
an id greater than `after` (default 0, that is all of them), oldest first, then each new one
as it arrives. Clients send nothing. To resume after a disconnect, reconnect with `after` set
to the last id received: nothing is missed or repeated. If the bin does not exist or is
deleted, the server closes the socket with code 4404. A handshake whose `Origin` is another
site is refused with 403.
"""


# --- schema helpers ---------------------------------------------------------------------


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    """``schema`` or null (JSON Schema 2020-12 style, as OpenAPI 3.1 uses)."""
    return {**schema, "type": [schema["type"], "null"]}


def _string(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def _integer(description: str, **extra: Any) -> Schema:
    return {"type": "integer", "description": description, **extra}


def _timestamp(description: str) -> Schema:
    return _string(f"{description} (RFC 3339, UTC, with microseconds).", format="date-time")


def _base64(description: str) -> Schema:
    return _string(description, format="byte", contentEncoding="base64")


def _object(description: str, properties: dict[str, Schema]) -> Schema:
    """An object whose listed properties are always all present."""
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties),
    }


def _headers_list(description: str) -> Schema:
    return {
        "type": "array",
        "description": description,
        "items": {
            "type": "array",
            "description": "One header as [name, value].",
            "prefixItems": [{"type": "string"}, {"type": "string"}],
            "items": False,
            "minItems": 2,
            "maxItems": 2,
        },
    }


# --- component schemas ------------------------------------------------------------------


def _request_summary_properties() -> dict[str, Schema]:
    return {
        "id": _integer(
            "Request id, unique across the server; grows in arrival order within a bin, so it "
            "is the cursor for `before` (paging) and `after` (live stream).",
            minimum=1,
        ),
        "seq": _integer("Number of the request within its bin: 1, 2, 3, ...", minimum=1),
        "method": _string("HTTP method as sent, e.g. POST."),
        "path": _string(
            "Path after the capture URL, percent-escapes kept as sent; `/` for the bare URL."
        ),
        "query_string": _string("Query string as sent, without the `?`; empty if none."),
        "content_type": _nullable(_string("The Content-Type header, or null if absent.")),
        "size": _integer("Body size in bytes.", minimum=0),
        "received_at": _timestamp("When the request was stored"),
        "remote_addr": _nullable(
            _string(
                "Client address: the connection's peer, or the X-Forwarded-For address a "
                "trusted proxy vouches for; null if unknown."
            )
        ),
        "signature_status": _nullable(
            _string("Signature verdict under the bin's current settings.", enum=_STATUSES)
        ),
        "signature_scheme": _nullable(
            _string("Scheme that judged the signature (`auto` when none was detected).")
        ),
        "handshake": _nullable(
            _string("Provider whose handshake webbin answered (slack, meta, ...), or null.")
        ),
        "response_status": _nullable(_integer("Status webbin answered the sender with.")),
        "duplicate_of": _nullable(
            _integer("Id of the first delivery this request repeats, or null.", minimum=1)
        ),
        "delivery_attempt": _integer(
            "1 for a first delivery, 2 for its first retry, ...", minimum=1
        ),
        "delivery_key_source": _nullable(
            _string("What identified the delivery: a header name, an event id or `identical body`.")
        ),
    }


_STATUSES = ["valid", "stale", "invalid", "unsigned", "unverified"]


def _rename(name: str, defs: dict[str, Schema]) -> str:
    """pydantic's def key -> component name: the model's title, and ``View`` for the shape
    webbin sends back when it differs from the shape it accepts (``Foo-Output``)."""
    base, _, mode = name.partition("-")
    title = defs[name].get("title", base)
    return f"{title}View" if mode == "Output" else title


def _rewrite_refs(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_rewrite_refs(item, names) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _rewrite_refs(value, names) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith(_PYDANTIC_REF):
        out["$ref"] = _ref(names[ref.removeprefix(_PYDANTIC_REF)])["$ref"]
    return out


class _Generate(GenerateJsonSchema):
    """pydantic's JSON Schema without the titles it derives from field names."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


_PYDANTIC_REF = "#/$defs/"


def _model_schemas() -> dict[str, Schema]:
    """Components generated from the models the API validates with (and, for the settings
    inside a Bin, the models of what it answers), refs pointing into components."""
    models = [
        (CreateBin, "validation"),
        (UpdateBin, "validation"),
        (ResendBody, "validation"),
        (ForwardOutcome, "validation"),
        (ReplayBody, "validation"),
        (DeleteRequests, "validation"),
        (SettingsView, "serialization"),
        (RequestDiff, "serialization"),
        (ReplayJobList, "serialization"),
        (ReplayJobDetail, "serialization"),
        (ImportResult, "serialization"),
        (RequestLabels, "serialization"),
    ]
    _, top = models_json_schema(models, schema_generator=_Generate)
    defs = top["$defs"]
    names = {name: _rename(name, defs) for name in defs}
    if len(set(names.values())) < len(names):  # two models with one title
        raise RuntimeError(f"component names collide: {sorted(names.values())}")
    schemas = {}
    for name, schema in defs.items():
        schema = _rewrite_refs(schema, names)
        schema.pop("title", None)
        schemas[names[name]] = schema
    return schemas


def _verdict() -> Schema:
    return _object(
        "A signature verdict, explained.",
        {
            "scheme": _string("Scheme that judged it."),
            "status": _string("The verdict.", enum=_STATUSES),
            "reason": _string("One plain sentence."),
            "headers_read": {"type": "array", "items": {"type": "string"}},
            "construction": _nullable(_string("How the signed payload is built.")),
            "received": {"type": "array", "items": {"type": "string"}},
            "expected": _nullable(_string("Expected signature under the first secret.")),
            "timestamp": _nullable(_integer("Signed timestamp (seconds).")),
            "age_seconds": _nullable({"type": "number", "description": "Age at arrival."}),
            "hint": _nullable(_string("A likely mistake, in plain words.")),
        },
    )


def _error() -> Schema:
    error = _object(
        "Every error answer of the API and the capture URLs.",
        {
            "error": _string(
                "Machine-readable code: the HTTP status name in snake_case "
                "(`bad_request`, `not_found`, ...) or `body_too_large`.",
                examples=["not_found"],
            ),
            "message": _string("What went wrong, for people.", examples=["No bin with this id."]),
            "errors": {
                "type": "array",
                "description": "Only when a JSON body is invalid (one entry per bad or "
                "unknown field) or the `q` search is malformed (path `q`; the message names "
                "the term and the character it starts at).",
                "items": _object(
                    "One invalid field.",
                    {
                        "path": _string(
                            "Where in the body, e.g. `response.default.headers[0]`; empty "
                            "for the body itself.",
                            examples=["response.default.status"],
                        ),
                        "message": _string(
                            "What is wrong with it.",
                            examples=["must be an integer from 100 to 599"],
                        ),
                    },
                ),
            },
        },
    )
    error["required"] = ["error", "message"]
    return error


def _bin(models: dict[str, Schema]) -> Schema:
    """A bin's own fields and, flattened into it, its settings (SettingsView's)."""
    settings = models.pop("SettingsView")
    return _object(
        "A bin: a capture URL and the requests sent to it, and its settings.",
        {
            "id": _string("Secret id that addresses the bin in the API and the dashboard."),
            "name": _nullable(_string("Optional label.", maxLength=200)),
            "capture_url": _string(
                "Absolute URL to give to webhook providers (`/c/{capture_token}`); "
                "anything sent to it, or below it, is captured.",
                format="uri",
            ),
            "dashboard_url": _string("Absolute URL of the bin's dashboard page.", format="uri"),
            "created_at": _timestamp("When the bin was created"),
            "resend_url": _nullable(
                _string("Last resend target, offered as the default next time.", maxLength=2000)
            ),
            "request_count": _integer("Number of requests stored in the bin.", minimum=0),
            **settings["properties"],
        },
    )


def _schemas() -> dict[str, Schema]:
    models = _model_schemas()
    summary = {**_request_summary_properties(), **models.pop("RequestLabels")["properties"]}
    bin_ = _bin(models)
    return {
        "Error": _error(),
        "Bin": bin_,
        "UpdatedBin": _object(
            "A bin after a change, sent once its stored requests are re-verified.",
            {
                **bin_["properties"],
                "reverified": _integer(
                    "How many stored requests were re-verified under the new signature "
                    "settings before this answer (0 when they did not change).",
                    minimum=0,
                ),
            },
        ),
        **models,
        "RequestSummary": _object("A captured request without its headers and body.", summary),
        "RequestDetail": _object(
            "A captured request with its headers and exact body.",
            {
                **summary,
                "headers": _headers_list("Request headers in arrival order, repeats kept."),
                "body_base64": _base64("The exact body bytes, base64-encoded."),
                "body_text": _nullable(
                    _string("The body decoded as UTF-8, or null if it is not valid UTF-8.")
                ),
                "url": _string("The URL as the sender used it (what URL-signed schemes sign)."),
                "signature": _verdict(),
                "sender": _object(
                    "Sender address check against the bin's allow-list.",
                    {
                        "status": _string("Outcome.", enum=["allowed", "denied", "unchecked"]),
                        "network": _nullable(_string("The allowed network that matched.")),
                        "reason": _string("One plain sentence."),
                    },
                ),
            },
        ),
        "RequestPage": _object(
            "One page of a bin's requests, newest first.",
            {
                "requests": {"type": "array", "items": _ref("RequestSummary")},
                "next_before": _nullable(
                    _integer(
                        "Pass as `before` to get the next, older page; null when this page "
                        "was not full (there is no more).",
                        minimum=1,
                    )
                ),
            },
        ),
        "ResendResult": _object(
            "One attempt to resend a captured request, and the target's answer. A failed "
            "attempt (`error` set) is still a result: the API answers 200 with it.",
            {
                "id": _integer("Attempt id.", minimum=1),
                "url": _string("The URL the request was sent to (placeholders replaced)."),
                "created_at": _timestamp("When the attempt was made"),
                "status": _nullable(
                    _integer("HTTP status of the answer; null if no response head arrived.")
                ),
                "reason": _nullable(_string("Reason phrase of the answer, or null.")),
                "headers": _headers_list("Response headers in order, repeats kept."),
                "body_text": _nullable(
                    _string("Response body as UTF-8 text; null if it is not valid UTF-8.")
                ),
                "body_base64": _nullable(
                    _base64("Response body base64-encoded, set only when `body_text` is null.")
                ),
                "truncated": {
                    "type": "boolean",
                    "description": "True if the response body was longer than the server "
                    "keeps and was cut.",
                },
                "elapsed_ms": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Milliseconds the attempt took.",
                },
                "error": _nullable(_string("Why the exchange did not complete, or null.")),
                "error_kind": _nullable(
                    _string(
                        "Class of `error`, or null: invalid_url, invalid_request, blocked, "
                        "dns, refused, timeout, tls, too_large or other."
                    )
                ),
                "forwarder": _nullable(
                    _string(
                        "Name of the forwarder (`webbin forward`) that sent it from its own "
                        "machine; null when webbin sent it."
                    )
                ),
                "replied": {
                    "type": "boolean",
                    "description": "True when webbin answered the capture's sender with this "
                    "answer (a forwarder running with --reply).",
                },
                "sent": {
                    **_object(
                        "The request as it went out; null for attempts made before webbin "
                        "kept it. Host and Content-Length are not listed: the connection "
                        "sets them.",
                        {
                            "method": _string("Method sent."),
                            "url": _string("URL sent to."),
                            "headers": _headers_list(
                                "Headers sent, in order, repeats kept (the X-Webbin-Resend "
                                "loop mark included)."
                            ),
                            "body_text": _nullable(
                                _string("Body sent as UTF-8 text; null if it is not UTF-8.")
                            ),
                            "body_base64": _base64("Body sent, base64-encoded."),
                            "edited": {
                                "type": "boolean",
                                "description": "True if the method, headers or body differ "
                                "from the captured request's.",
                            },
                            "resigned": _nullable(
                                _string("Scheme whose signature was computed again, or null.")
                            ),
                        },
                    ),
                    "type": ["object", "null"],
                },
            },
        ),
        "Forwarder": _object(
            "A forwarder (`webbin forward`) connected to the bin right now.",
            {
                "id": _string("Its connection's id (what a resend through it names)."),
                "name": _string("The name it gave.", maxLength=100),
                "target": _string("Where it forwards to, as it named it.", maxLength=2000),
                "reply_timeout": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Seconds captures wait for its local app's answer "
                    "(--reply); 0 when they do not.",
                },
                "connected_at": _timestamp("When it connected"),
                "last_seen": _timestamp("Its connection's last heartbeat"),
            },
        ),
        "ForwarderList": _object(
            "The forwarders connected to a bin, longest connected first.",
            {"forwarders": {"type": "array", "items": _ref("Forwarder")}},
        ),
        "ResendList": _object(
            "A request's resend attempts, newest first.",
            {"resends": {"type": "array", "items": _ref("ResendResult")}},
        ),
        "DeletedRequests": _object(
            "The requests a bulk delete deleted.",
            {
                "deleted": {
                    "type": "array",
                    "description": "Ids deleted by this call, ascending.",
                    "items": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                }
            },
        ),
        "CaptureResult": _object(
            "Answer to a captured request.",
            {
                "ok": {"const": True},
                "id": _integer(
                    "The stored request's `id`, as API URLs and `?after=` take it.", minimum=1
                ),
                "seq": _integer("The stored request's number in its bin (#1, #2, ...).", minimum=1),
            },
        ),
    }


# --- parameters, bodies and responses ---------------------------------------------------


def _path_param(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _query_param(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _param_ref(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


def _parameters() -> dict[str, Schema]:
    return {
        "BinId": _path_param("id", "The bin's id.", {"type": "string"}),
        "RequestId": _path_param(
            "rid", "The request's `id` (not its `seq`).", {"type": "integer", "minimum": 1}
        ),
        "OtherRequestId": _path_param(
            "other",
            "The `id` of the request to compare with, in the same bin.",
            {"type": "integer", "minimum": 1},
        ),
        "CaptureToken": _path_param(
            "capture_token", "The token in the bin's `capture_url`.", {"type": "string"}
        ),
        "ReplayId": _path_param("job", "The replay's `id`.", {"type": "integer", "minimum": 1}),
    }


def _json(schema: Schema) -> dict[str, Schema]:
    return {"application/json": {"schema": schema}}


def _response(description: str, schema_name: str | None = None) -> Schema:
    response: Schema = {"description": description}
    if schema_name is not None:
        response["content"] = _json(_ref(schema_name))
    return response


def _json_body(description: str, schema_name: str, required: bool = True) -> Schema:
    """A JSON body described by a generated component (closed: unknown keys are refused)."""
    return {"required": required, "description": description, "content": _json(_ref(schema_name))}


SEARCH_DESCRIPTION = (
    "Only requests matching this search, e.g. `method:POST path:/orders/* -verdict:valid`. "
    "Terms (AND between them, `OR` between alternatives, `-` negates, parentheses group): "
    "`method:POST`, `path:/orders/*` (`*` matches anything), `header:Name=value` or "
    '`header:Name`, `body:"text"`, `json:data.object.status=succeeded`, '
    "`verdict:valid|stale|invalid|unsigned|unverified`, `provider:stripe`, `event:push`, "
    "`retry:yes|no`, `since:15m` (s, m, h, d, w), `after:` / `before:` an ISO 8601 time, and "
    "bare words or quoted phrases, searched for anywhere. Letters A-Z match in either case. "
    'A malformed query is answered 400 with `errors: [{path: "q", message}]`.'
)

ERROR_DESCRIPTIONS = {
    "400": "The body is not a JSON object, or a field or query parameter is invalid; for a "
    "body, `errors` lists each bad or unknown field by its path.",
    "403": "Refused: the WebSocket handshake came from a page on another site.",
    "404": "No bin with this id, or no request with this id in the bin.",
    "409": "The bin already has its most replays running "
    f"({replays.MAX_RUNNING_PER_BIN}); wait for one to end or cancel it.",
    "413": "The body is larger than the server's limit (MAX_BODY_BYTES); nothing was stored.",
    "429": "Too many requests from this client (or to this bin, or probes of unknown ids); "
    "the Retry-After header says when to try again.",
    "503": "The database is unavailable or locked; nothing was changed. Retry after the "
    "Retry-After header's seconds.",
    "508": "A resend that came back to a bin it already passed through (a resend loop); "
    "not stored.",
}


def _error_responses(*codes: int, **descriptions: str) -> dict[str, Schema]:
    """Error responses for ``codes``; ``descriptions`` overrides by ``_<code>=...``."""
    return {
        str(code): _response(descriptions.get(f"_{code}") or ERROR_DESCRIPTIONS[str(code)], "Error")
        for code in codes
    }


def _no_content(description: str) -> Schema:
    return {"204": _response(description)}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Schema],
    *,
    tag: str,
    description: str | None = None,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
) -> Schema:
    operation: Schema = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    # Every operation can meet the rate limits and a storage outage.
    operation["responses"] = {**responses, **_error_responses(429, 503)}
    return operation


# --- paths ------------------------------------------------------------------------------


_HTML: Schema = {"text/html": {}}


def _api_paths() -> dict[str, Schema]:
    bin_id = [_param_ref("BinId")]
    request_ids = [_param_ref("BinId"), _param_ref("RequestId")]
    return {
        "/api/openapi.json": {
            "get": _operation(
                "getOpenApiDocument",
                "This OpenAPI document",
                {"200": {"description": "The document.", "content": _json({"type": "object"})}},
                tag="meta",
            )
        },
        "/api/docs": {
            "get": _operation(
                "getApiReference",
                "This document as a page to read and try",
                {"200": {"description": "An HTML page (Swagger UI).", "content": _HTML}},
                tag="meta",
            )
        },
        "/api/bins": {
            "post": _operation(
                "createBin",
                "Create a bin",
                {"201": _response("The new bin.", "Bin"), **_error_responses(400)},
                tag="bins",
                description="The body is optional; without one the bin has no name. Each "
                "client may create `BIN_CREATE_BURST` bins at once, then `BIN_CREATE_RATE` per "
                "second (429 beyond).",
                body=_json_body("The new bin's fields.", "CreateBin", required=False),
            )
        },
        "/api/bins/{id}": {
            "parameters": bin_id,
            "get": _operation(
                "getBin",
                "Get a bin",
                {"200": _response("The bin.", "Bin"), **_error_responses(404)},
                tag="bins",
            ),
            "patch": _operation(
                "updateBin",
                "Change a bin's name, resend URL or settings",
                {"200": _response("The changed bin.", "UpdatedBin"), **_error_responses(400, 404)},
                tag="bins",
                description="Only the keys present are changed.",
                body=_json_body("Fields to change.", "UpdateBin"),
            ),
            "delete": _operation(
                "deleteBin",
                "Delete a bin and everything in it",
                {**_no_content("Deleted; live streams of the bin close."), **_error_responses(404)},
                tag="bins",
            ),
        },
        "/api/bins/{id}/requests": {
            "parameters": bin_id,
            "get": _operation(
                "listRequests",
                "List a bin's requests, newest first",
                {"200": _response("One page.", "RequestPage"), **_error_responses(400, 404)},
                tag="requests",
                parameters=[
                    _query_param(
                        "limit",
                        f"Page size (default: the server's PAGE_SIZE, {DEFAULTS['PAGE_SIZE']} "
                        "unless configured).",
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    ),
                    _query_param(
                        "before",
                        "Only requests with an id lower than this: the previous page's "
                        "`next_before`.",
                        {"type": "integer", "minimum": 1},
                    ),
                    _query_param("q", SEARCH_DESCRIPTION, {"type": "string", "maxLength": 1000}),
                ],
            ),
            "delete": _operation(
                "clearRequests",
                "Delete all of a bin's requests",
                {**_no_content("Cleared; the bin stays."), **_error_responses(404)},
                tag="requests",
            ),
        },
        "/api/bins/{id}/requests/delete": {
            "parameters": bin_id,
            "post": _operation(
                "deleteRequests",
                "Delete several requests",
                {
                    "200": _response("What was deleted.", "DeletedRequests"),
                    **_error_responses(400, 404),
                },
                tag="requests",
                description="In one transaction. Ids the bin does not hold (another bin's, "
                "or deleted already) are skipped, so the answer lists only those this call "
                "deleted.",
                body=_json_body("The ids to delete.", "DeleteRequests"),
            ),
        },
        "/api/bins/{id}/requests/{rid}": {
            "parameters": request_ids,
            "get": _operation(
                "getRequest",
                "Get a request with headers and body",
                {"200": _response("The request.", "RequestDetail"), **_error_responses(404)},
                tag="requests",
            ),
            "delete": _operation(
                "deleteRequest",
                "Delete a request",
                {**_no_content("Deleted."), **_error_responses(404)},
                tag="requests",
            ),
        },
        "/api/bins/{id}/requests/{rid}/diff/{other}": {
            "parameters": [*request_ids, _param_ref("OtherRequestId")],
            "get": _operation(
                "diffRequests",
                "Compare two requests",
                {
                    "200": _response("What changed from `rid` to `other`.", "RequestDiff"),
                    **_error_responses(
                        404, _404="No bin with this id, or either request is not in the bin."
                    ),
                },
                tag="requests",
                description="The request line, the headers (aligned in order, repeats kept) "
                "and the body: structurally for two JSON objects or arrays (a JSON Pointer "
                "per value added, removed or changed), as a unified diff for two texts, and "
                "for other bodies their sizes, SHA-256 digests, first differing offset and a "
                "hex dump of both there. Large bodies are compared in part (`truncated`).",
            ),
        },
        "/api/bins/{id}/requests/{rid}/raw": {
            "parameters": request_ids,
            "get": _operation(
                "getRequestBody",
                "Download a request's exact body",
                {
                    "200": {
                        "description": "The body bytes as an attachment "
                        "`request-<seq>.bin`, never rendered by a browser.",
                        "headers": {
                            "Content-Disposition": {
                                "description": 'attachment; filename="request-<seq>.bin"',
                                "schema": {"type": "string"},
                            },
                            "X-Content-Type-Options": {
                                "description": "nosniff",
                                "schema": {"type": "string"},
                            },
                            "Content-Security-Policy": {
                                "description": "sandbox; default-src 'none'",
                                "schema": {"type": "string"},
                            },
                        },
                        "content": {"application/octet-stream": {}},
                    },
                    **_error_responses(404),
                },
                tag="requests",
            ),
        },
        "/api/bins/{id}/requests/{rid}/resend": {
            "parameters": request_ids,
            "post": _operation(
                "resendRequest",
                "Send a captured request again",
                {
                    "200": _response(
                        "The attempt, also when the target could not be reached (see `error`).",
                        "ResendResult",
                    ),
                    **_error_responses(
                        400,
                        404,
                        409,
                        502,
                        504,
                        _409="`forwarder` names no forwarder connected to this bin now.",
                        _502="The forwarder disconnected before it reported how the resend "
                        "went (it may have reached its target).",
                        _504="The forwarder has not reported within RESEND_TOTAL_TIMEOUT; "
                        "the attempt is listed under the request's resends once it does.",
                        _400="The body is not a JSON object, `url` is invalid (not http or "
                        "https, no host, spaces, unparseable, too long; nothing is recorded), "
                        "no `url` was given and the bin has no `resend_url`, an edit is "
                        "invalid (a header, the method, the body over MAX_BODY_BYTES), or "
                        "`resign` cannot be done (`errors[0].path` is `resign`: a "
                        "private-key scheme such as Discord or SendGrid, no secret, or no "
                        "known scheme), or `forwarder` is given with `url` or a change.",
                    ),
                },
                tag="resend",
                description="With `forwarder`, a connected `webbin forward` sends the "
                "captured request from the developer's machine to its own target and this "
                "answers with the attempt it reports. Otherwise: "
                "sends the same method, headers (less hop-by-hop ones, Host and "
                "Content-Length) and exact body to `url`, or what `method`, `headers` and "
                "`body_text`/`body_base64` replace them with, re-signed for the bin's "
                "signature scheme when `resign` is true, and records the attempt with what "
                "was sent (`sent`). Once the "
                "request went out (even if the target then failed), `url` becomes the bin's "
                "`resend_url`; not when the address policy or DNS stopped it. 429 when this "
                "client resends too often or the server already has its most resends in "
                "flight.",
                body=_json_body(
                    "Where to send it and what to change; `{}` sends it unchanged to the "
                    "bin's `resend_url`.",
                    "ResendBody",
                ),
            ),
        },
        "/api/bins/{id}/requests/{rid}/resends": {
            "parameters": request_ids,
            "get": _operation(
                "listResends",
                "List a request's resend attempts, newest first",
                {"200": _response("The attempts.", "ResendList"), **_error_responses(404)},
                tag="resend",
            ),
        },
        "/api/bins/{id}/requests/{rid}/forwards": {
            "parameters": request_ids,
            "post": _operation(
                "reportForward",
                "Report what a forwarder's target answered",
                {
                    "201": _response(
                        "Stored as an attempt labelled with the forwarder.", "ResendResult"
                    ),
                    **_error_responses(400, 404),
                },
                tag="resend",
                description="What `webbin forward` calls after sending a captured request to "
                "its target (a new arrival, or a resend asked of it through `job`). The "
                "server keeps `RESEND_MAX_RESPONSE_BYTES` of the body and lists the attempt "
                "with the request's resends.",
                body=_json_body("The outcome.", "ForwardOutcome"),
            ),
        },
        "/api/bins/{id}/forwarders": {
            "parameters": bin_id,
            "get": _operation(
                "listForwarders",
                "List the forwarders connected to a bin",
                {"200": _response("The forwarders.", "ForwarderList"), **_error_responses(404)},
                tag="resend",
            ),
        },
        "/api/bins/{id}/forward": {
            "parameters": bin_id,
            "x-websocket": {
                "protocol": "websocket",
                "direction": "server-to-client",
                "query": {
                    "after": "request id to replay after (default 0: everything)",
                    "name": "the forwarder's name (1 to 100 characters)",
                    "target": "where it forwards to, shown to the bin's viewers",
                    "reply": "seconds captures may wait for its target's answer (0 to 10)",
                },
                "message": {
                    "format": "text, one JSON object with a `type`",
                    "types": {
                        "hello": "first: `forwarder` (this connection's id), `newest` (the "
                        "bin's newest request id now), `backlog` (how many it holds after "
                        "`after`)",
                        "request": "`request`: a RequestSummary, for every request after "
                        "`after`, oldest first, then each new one",
                        "resend": "`job`, `request`: send this request again and report "
                        "with that `job`",
                    },
                },
                "close_codes": {
                    "4404": "no such bin (or it was deleted)",
                    "4400": "a query argument is invalid",
                },
            },
            "get": _operation(
                "forwardRequests",
                "Follow a bin as a forwarder (WebSocket)",
                {
                    "101": {
                        "description": "Switching Protocols: the forwarder is connected "
                        "(and listed) until the socket closes.",
                    },
                    **_error_responses(403),
                },
                tag="resend",
                description="What `webbin forward` connects to: the live stream's requests "
                "plus resends the dashboard asks of this forwarder. Counts as a live viewer "
                "for MAX_VIEWERS_PER_BIN.",
                parameters=[
                    _query_param(
                        "after",
                        "Replay stored requests with an id greater than this first.",
                        {"type": "integer", "minimum": 0, "default": 0},
                    ),
                    _query_param("name", "The forwarder's name.", {"type": "string"}),
                    _query_param("target", "Where it forwards to.", {"type": "string"}),
                    _query_param(
                        "reply",
                        "Seconds a capture waits for its answer (0: it does not answer).",
                        {"type": "number", "minimum": 0, "maximum": 10, "default": 0},
                    ),
                ],
            ),
        },
        "/api/bins/{id}/stream": {
            "parameters": bin_id,
            "x-websocket": {
                "protocol": "websocket",
                "direction": "server-to-client",
                "query": {
                    "after": "request id to replay after (default 0: everything)",
                    "q": "only requests matching this search",
                },
                "message": {"format": "text, one JSON object", "schema": _ref("RequestSummary")},
                "close_codes": {
                    "4404": "no such bin (or it was deleted)",
                    "4400": "the `q` search is malformed (the close reason says why)",
                },
            },
            "get": _operation(
                "streamRequests",
                "Live stream of a bin's requests (WebSocket)",
                {
                    "101": {
                        "description": "Switching Protocols: the WebSocket is open. Each "
                        "message is one JSON `RequestSummary`: first those with id > `after`, "
                        "oldest first, then each new request as it is captured. Closed with "
                        "code 4404 if the bin does not exist or is deleted.",
                    },
                    **_error_responses(403),
                },
                tag="requests",
                description="A WebSocket endpoint (`ws://` or `wss://` on this host); a plain "
                "HTTP GET without the upgrade handshake is not supported.",
                parameters=[
                    _query_param(
                        "after",
                        "Replay stored requests with an id greater than this first "
                        "(invalid or negative values count as 0).",
                        {"type": "integer", "minimum": 0, "default": 0},
                    ),
                    _query_param(
                        "q",
                        "Send only the requests matching this search (the syntax of "
                        "`listRequests`' `q`). A malformed one closes the socket with code "
                        "4400, the reason saying what is wrong.",
                        {"type": "string", "maxLength": 1000},
                    ),
                ],
            ),
        },
    }


_SELECTION = (
    "Which requests: `ids` (those requests of the bin), or `q` (a search, the syntax of "
    "`GET /api/bins/{id}/requests?q=`; a malformed one is answered 400), or neither (every "
    "request of the bin). Oldest first."
)
_HAR_DOCUMENT: Schema = {
    "type": "object",
    "required": ["log"],
    "description": "A HAR 1.2 document (`log.entries`, one per request).",
}
_NDJSON_TEXT: Schema = {
    "type": "string",
    "description": "One JSON object per line, each a `RequestDetail`.",
}


def _selection_parameters() -> list[Schema]:
    return [
        _query_param("q", _SELECTION, {"type": "string", "maxLength": 2000}),
        _query_param(
            "ids",
            "Request ids of the bin, repeated (`ids=1&ids=2`) or comma-separated "
            f"(`ids=1,2`); at most {replays.MAX_REQUESTS}. Not with `q`.",
            {"type": "array", "items": {"type": "integer", "minimum": 1}},
        ),
    ]


def _exchange_paths() -> dict[str, Schema]:
    """Export, import, and replay many (:mod:`webbin.web.exports`, :mod:`webbin.web.replays`)."""
    bin_id = [_param_ref("BinId")]
    job = [_param_ref("BinId"), _param_ref("ReplayId")]
    format_param = _query_param(
        "format",
        "`ndjson` or `har`.",
        {"type": "string", "enum": ["ndjson", "har"]},
    )
    return {
        "/api/bins/{id}/export": {
            "parameters": bin_id,
            "get": _operation(
                "exportRequests",
                "Download requests as NDJSON or HAR",
                {
                    "200": {
                        "description": "The requests, oldest first, as an attachment, written "
                        "while it is read. NDJSON (the default): one `RequestDetail` per line, "
                        "byte-exact (`body_base64`). HAR 1.2: headers with repeats, "
                        "`postData.text` for UTF-8 bodies, `params` for URL-encoded forms, "
                        "the exact bytes in `postData._bodyBase64` whenever `text` does not "
                        "hold them, the API summary in each entry's `_webbin`; the `response` "
                        "is the status webbin answered (it keeps no answer headers or body).",
                        "headers": {
                            "Content-Disposition": {
                                "description": 'attachment; filename="webbin-<name>-<time>.'
                                '<format>"',
                                "schema": {"type": "string"},
                            },
                        },
                        "content": {
                            "application/x-ndjson": {"schema": _NDJSON_TEXT},
                            "application/json": {"schema": _HAR_DOCUMENT},
                        },
                    },
                    **_error_responses(
                        400,
                        404,
                        _400="`format`, `q` or `ids` is invalid, or an id is not the bin's "
                        "(`errors` names each).",
                    ),
                },
                tag="export",
                parameters=[
                    {**format_param, "schema": {**format_param["schema"], "default": "ndjson"}},
                    *_selection_parameters(),
                ],
            ),
        },
        "/api/bins/{id}/import": {
            "parameters": bin_id,
            "post": _operation(
                "importRequests",
                "Import an NDJSON or HAR file into a bin",
                {
                    "201": _response("Every request of the file, stored.", "ImportResult"),
                    **_error_responses(
                        400,
                        404,
                        413,
                        _400="The file is not entirely valid (or holds no request): nothing "
                        "was imported; `errors` names each problem by its line "
                        "(`line 3: headers[0]`) or place (`log.entries[4].request.url`).",
                        _413="The file is larger than IMPORT_MAX_BYTES; nothing was imported.",
                    ),
                },
                tag="export",
                description="All or nothing, in one transaction. Each request keeps its "
                "method, path, query string, headers (order and repeats), body and time "
                "received, and gets a new id (the bin's next). Signature verdicts and retry "
                "marks are worked out as for a capture into this bin. HAR files from "
                "DevTools and HTTP Toolkit are read too. The format is `format`, else the "
                "content type's (`application/x-ndjson`; `application/json` is HAR), else "
                "HAR for a JSON object with a `log`, else NDJSON.",
                parameters=[format_param],
                body={
                    "required": True,
                    "description": "The file's bytes.",
                    "content": {
                        "application/x-ndjson": {"schema": _NDJSON_TEXT},
                        "application/json": {"schema": _HAR_DOCUMENT},
                    },
                },
            ),
        },
        "/api/bins/{id}/replays": {
            "parameters": bin_id,
            "post": _operation(
                "startReplay",
                "Replay many requests to a URL or through a forwarder, in the background",
                {
                    "201": _response("The replay, started.", "ReplayJobDetail"),
                    **_error_responses(
                        400,
                        404,
                        409,
                        _400="The body is invalid, neither `q` nor `ids` was given, an id "
                        "is not the bin's, the selection is empty or too large, both `url` "
                        "and `forwarder` were given, or the URL cannot be sent to (or there "
                        "is none: no `url`, no `forwarder`, no `resend_url`).",
                        _409="The `forwarder` is not connected to this bin now, or the bin "
                        f"already has its most replays running ({replays.MAX_RUNNING_PER_BIN}); "
                        "`message` says which.",
                    ),
                },
                tag="resend",
                description="Sends the selected requests oldest first, one at a time, at most "
                "`rate` per second, each exactly as a resend does (the address policy "
                "applies, and each is recorded as a resend attempt of its request and counts "
                "against this client's resend rate, which the replay waits for rather than "
                "fails). With `forwarder`, each is queued for that forwarder instead (as the "
                'dashboard\'s "resend to my forwarder" does, whichever server process holds '
                "its connection) and the replay waits for the outcome it reports (up to "
                "RESEND_TOTAL_TIMEOUT) before the next; the address policy does not apply "
                "(the forwarder sends from its own machine), the resend rate does. A "
                "forwarder that disconnects ends the replay `failed`, the rest unsent. "
                "Progress: `GET .../replays/{job}`.",
                body=_json_body("What to replay, where, how fast.", "ReplayBody"),
            ),
            "get": _operation(
                "listReplays",
                "List a bin's replays, newest first",
                {"200": _response("The replays.", "ReplayJobList"), **_error_responses(404)},
                tag="resend",
            ),
        },
        "/api/bins/{id}/replays/{job}": {
            "parameters": job,
            "get": _operation(
                "getReplay",
                "A replay's progress and outcomes",
                {
                    "200": _response("The replay.", "ReplayJobDetail"),
                    **_error_responses(400, 404),
                },
                tag="resend",
                description="A replay left running by a webbin process that stopped is "
                "answered `interrupted`.",
                parameters=[
                    _query_param(
                        "after",
                        "Only outcomes with a position after this (a previous answer's "
                        "`next_after`, or the last position seen).",
                        {"type": "integer", "minimum": 0, "default": 0},
                    )
                ],
            ),
        },
        "/api/bins/{id}/replays/{job}/cancel": {
            "parameters": job,
            "post": _operation(
                "cancelReplay",
                "Stop a replay",
                {
                    "200": _response(
                        "The replay, `cancelled` if it was running (a request already out "
                        "completes and is recorded); unchanged if it had ended.",
                        "ReplayJobDetail",
                    ),
                    **_error_responses(404),
                },
                tag="resend",
            ),
        },
    }


# A capture URL of a bin with `cors` on answers a browser's preflight itself (and stores it).
_PREFLIGHT: Schema = {
    "204": {
        "description": "A CORS preflight (`Access-Control-Request-Method` sent) to a bin with "
        "`cors` on: stored, and answered with no body, allowing any origin, the method asked "
        "for and the headers asked for (never credentials).",
        "headers": {
            name: {"description": about, "schema": {"type": "string"}}
            for name, about in (
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", "The method asked for."),
                ("Access-Control-Allow-Headers", "The headers asked for."),
            )
        },
    }
}


def _capture_operations(operation_prefix: str, parameters: list[Schema]) -> Schema:
    operations: Schema = {"parameters": parameters}
    for method in CAPTURE_METHODS:
        operations[method] = _operation(
            f"{operation_prefix}{method.capitalize()}",
            f"Capture a {method.upper()} request",
            {
                "200": _response("Stored.", "CaptureResult"),
                **(_PREFLIGHT if method == "options" else {}),
                **_error_responses(404, 413, 508, _404="No bin has this capture token."),
            },
            tag="capture",
            body={
                "required": False,
                "description": "Any body of any type; stored byte-exact.",
                "content": {"*/*": {}},
            },
        )
    return operations


def _capture_paths() -> dict[str, Schema]:
    return {
        "/c/{capture_token}": _capture_operations("capture", [_param_ref("CaptureToken")]),
        "/c/{capture_token}/{path}": _capture_operations(
            "captureSubPath",
            [
                _param_ref("CaptureToken"),
                _path_param(
                    "path",
                    "Any sub-path, slashes included (OpenAPI cannot express a multi-segment "
                    "parameter); stored as the request's `path`. A trailing slash alone "
                    "(`/c/{capture_token}/`) is captured too.",
                    {"type": "string"},
                ),
            ],
        ),
    }


def openapi_document() -> dict[str, Any]:
    """The whole document, freshly built (callers may change their copy)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "webbin",
            "version": "0.1.0",
            "summary": "Self-hosted webhook inspector: capture, inspect, stream, resend.",
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "/", "description": "The host serving this document."}],
        "tags": [
            {"name": "bins", "description": "Create, read, change and delete bins."},
            {"name": "requests", "description": "Captured requests of a bin."},
            {
                "name": "resend",
                "description": "Replay a captured request, or many, to another URL, from "
                "webbin or through a forwarder (`webbin forward`).",
            },
            {"name": "export", "description": "Download requests as NDJSON or HAR; import."},
            {"name": "capture", "description": "The URLs webhook providers send to."},
            {"name": "meta", "description": "This document."},
        ],
        "paths": {**_api_paths(), **_exchange_paths(), **_capture_paths()},
        "components": {"schemas": _schemas(), "parameters": _parameters()},
    }
