"""Export and import formats: NDJSON and HAR 1.2, written and read as plain data.

No Flask and no database here: :mod:`webbin.web.exports` streams what these functions write
and stores what they read.

**NDJSON**: one line per request, the object ``GET /api/bins/{id}/requests/{rid}`` answers
(headers in order with repeats, ``body_base64``, ``received_at`` with microseconds).
Reading one back gives every request byte for byte: method, path, query string, headers,
body, time received.

**HAR 1.2** (``log.entries``, one entry per request): the request as HAR has it (every
header, repeats kept; ``queryString``; ``postData.text`` for a UTF-8 body, ``params`` for
a URL-encoded form, ``text: ""`` for anything else) with webbin's own data in custom
fields, which HAR lets a tool add under names starting with ``_``: ``_bodyBase64`` on
``postData`` holds the exact bytes whenever ``text`` does not (forms, binary bodies), and
``_webbin`` on the entry the request's API summary and the URL it was sent to (its exact
path, query string and URL: HAR's ``url`` escapes a ``#``, which HAR readers would take for a
fragment). The ``response`` is what webbin answered, as far as webbin keeps it: the status
only, not the answer's headers or body.

Reading HAR also takes files from browsers' DevTools, HTTP Toolkit and other tools. As the
spec says, custom fields are read only from the tool that wrote them: ``_webbin`` and
``_bodyBase64`` from webbin, ``_content`` (a base64 body) from HTTP Toolkit. HTTP/2
pseudo-headers (``:authority``, ...) are dropped, and the body is taken from ``postData``:
``text`` (base64 when ``encoding`` says so), else its URL-encoded ``params``.

A file that is not entirely valid is refused as a whole: :class:`InvalidInput` with one
``{"path", "message"}`` per problem, each naming its line (``line 3: headers[0]``) or its
place in the document (``log.entries[4].request.url``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from importlib import metadata
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from webbin.receiver.strict import MAX_ERRORS, InvalidInput, path_of
from webbin.web.serialize import rfc3339

NDJSON = "ndjson"
HAR = "har"
FORMATS = (NDJSON, HAR)
MEDIA_TYPES = {NDJSON: "application/x-ndjson", HAR: "application/json"}
# Content types an import is told its format by.
_TYPES_OF = {
    "application/x-ndjson": NDJSON,
    "application/ndjson": NDJSON,
    "application/jsonl": NDJSON,
    "application/x-jsonlines": NDJSON,
    "application/json": HAR,
    "application/har+json": HAR,
}
CREATOR = "webbin"
# What HTTP Toolkit writes as its log's creator name.
HTTP_TOOLKIT = "HTTP Toolkit"

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# What no request line or header can hold (NUL no database stores either). Anything else a
# server accepted may have been captured, and must import again.
_NOT_IN_VALUE = re.compile(r"[\x00\r\n]")
_FORM = "application/x-www-form-urlencoded"


def _version() -> str:
    try:
        return metadata.version("webbin")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- writing ----------------------------------------------------------------------------


def ndjson_line(detail: dict[str, Any]) -> bytes:
    """One request (its API detail object) as one NDJSON line."""
    return _compact(detail) + b"\n"


def _compact(value: Any) -> bytes:
    """JSON without spaces, as every line and entry of an export is written."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def har_head() -> bytes:
    """A HAR file up to its first entry: the entries follow, separated by commas."""
    creator = {"name": CREATOR, "version": _version()}
    return b'{"log":{"version":"1.2","creator":' + _compact(creator) + b',"entries":['


HAR_TAIL = b"]}}\n"


def har_entry(row: Any, summary: dict[str, Any], url: str) -> bytes:
    """One HAR entry for the stored request ``row``: ``summary`` is its API summary (kept
    under ``_webbin``) and ``url`` the absolute URL it was sent to."""
    body: bytes = row.body
    request: dict[str, Any] = {
        "method": row.method,
        # A "#" that reached the server was part of its path or query, not a fragment (which
        # a HAR URL leaves out): escaped, so that readers see it so. _webbin has it as sent.
        "url": url.replace("#", "%23"),
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": [{"name": name, "value": value} for name, value in row.headers],
        "queryString": [
            {"name": name, "value": value}
            for name, value in parse_qsl(row.query_string, keep_blank_values=True)
        ],
        "headersSize": -1,
        "bodySize": len(body),
    }
    if body:
        request["postData"] = _post_data(body, row.content_type or "")
    status = row.response_status or 200
    entry = {
        "startedDateTime": rfc3339(row.received_at),
        "time": 0,
        "request": request,
        "response": {
            "status": status,
            "statusText": _phrase(status),
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "comment": "webbin keeps the status it answered with, not the answer's headers "
            "or body.",
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "_webbin": {**summary, "url": url},
    }
    return _compact(entry)


def _post_data(body: bytes, content_type: str) -> dict[str, Any]:
    """``text`` for UTF-8, ``params`` for a URL-encoded form (HAR allows one of the two),
    empty ``text`` for other bytes; the exact bytes in ``_bodyBase64`` whenever ``text``
    does not hold them."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"mimeType": content_type, "text": "", "_bodyBase64": _b64(body)}
    if content_type.split(";")[0].strip().lower() == _FORM:
        params = parse_qsl(text, keep_blank_values=True)
        return {
            "mimeType": content_type,
            "params": [{"name": name, "value": value} for name, value in params],
            "_bodyBase64": _b64(body),
        }
    return {"mimeType": content_type, "text": text}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


# --- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    """One request read from a file, as it was first received."""

    method: str
    path: str
    query_string: str
    headers: list[list[str]]
    body: bytes
    received_at: datetime
    url: str
    remote_addr: str | None


def detect(data: bytes, content_type: str | None, given: str | None) -> str:
    """The file's format: ``given`` (already checked to be one), else its content type's,
    else a HAR document if it is one JSON object with a ``log``, else NDJSON."""
    if given:
        return given
    media = (content_type or "").split(";")[0].strip().lower()
    if media in _TYPES_OF:
        return _TYPES_OF[media]
    try:
        document = json.loads(_without_bom(data))
    except ValueError:
        return NDJSON
    return HAR if isinstance(document, dict) and "log" in document else NDJSON


def read(data: bytes, fmt: str, max_body: int) -> list[Imported]:
    """Every request in ``data``; InvalidInput naming each problem when anything is wrong
    (bodies over ``max_body`` bytes too), or when it holds no request at all."""
    found = _Errors()
    requests = (_read_har if fmt == HAR else _read_ndjson)(_without_bom(data), max_body, found)
    if not found.errors and not requests:
        found.add("", "the file holds no requests")
    if found.errors:
        raise InvalidInput(found.errors)
    return requests


def _without_bom(data: bytes) -> bytes:
    return data.removeprefix(b"\xef\xbb\xbf")


class _Errors:
    """Problems found so far; reading stops once there are enough to report."""

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    @property
    def full(self) -> bool:
        return len(self.errors) >= MAX_ERRORS

    def add(self, path: str, message: str) -> None:
        self.errors.append({"path": path, "message": message})

    def validation(self, error: ValidationError, under: str) -> None:
        """Each of pydantic's problems, its path put under ``under``."""
        for problem in InvalidInput.from_validation(error).errors:
            self.add(_join(under, problem["path"]), problem["message"])


def _join(under: str, path: str) -> str:
    """``line 3`` + ``headers[0]`` -> ``line 3: headers[0]``; ``log.entries[2]`` +
    ``request.url`` -> ``log.entries[2].request.url``."""
    if not under or not path:
        return under or path
    if under.startswith("line "):
        return f"{under}: {path}"
    return under + path if path.startswith("[") else f"{under}.{path}"


class _Lenient(BaseModel):
    """Strict types, unknown keys ignored: exported objects carry fields an import does not
    need (verdicts, sizes, a HAR's timings), and those are not checked."""

    model_config = ConfigDict(extra="ignore", strict=True)


# NDJSON -------------------------------------------------------------------------------


class _Line(_Lenient):
    method: str
    path: str
    query_string: str
    headers: list[tuple[str, str]]
    body_base64: str
    received_at: str
    url: str = ""
    remote_addr: str | None = None
    size: int | None = None


def _read_ndjson(data: bytes, max_body: int, found: _Errors) -> list[Imported]:
    requests = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.removesuffix(b"\r")
        if not line.strip():
            continue
        if found.full:
            break
        prefix = f"line {number}"

        def where(loc: tuple, prefix: str = prefix) -> str:
            return _join(prefix, path_of(loc))

        try:
            parsed = _Line.model_validate_json(line)
        except ValidationError as error:
            found.validation(error, prefix)
            continue
        body = _base64(parsed.body_base64, where(("body_base64",)), found)
        if body is not None and parsed.size is not None and parsed.size != len(body):
            found.add(where(("size",)), f"is {parsed.size} but body_base64 holds {len(body)} bytes")
        request = _checked(
            found,
            where,
            max_body,
            method=(parsed.method, ("method",)),
            path=(parsed.path, ("path",)),
            query_string=(parsed.query_string, ("query_string",)),
            headers=([list(pair) for pair in parsed.headers], ("headers",)),
            received_at=(parsed.received_at, ("received_at",)),
            url=(parsed.url, ("url",)),
            remote_addr=(parsed.remote_addr, ("remote_addr",)),
            body=(body, ("body_base64",)),
        )
        if request is not None:
            requests.append(request)
    return requests


# HAR ------------------------------------------------------------------------------------


class _NameValue(_Lenient):
    name: str
    value: str


class _Param(_Lenient):
    name: str
    value: str = ""


class _PostData(_Lenient):
    mimeType: str | None = None  # noqa: N815  # HAR's names
    text: str | None = None
    params: list[_Param] | None = None
    # HAR 1.3 proposes it (base64 text); some tools write it already.
    encoding: str | None = None


class _WebbinPostData(_PostData):
    body_base64: str | None = Field(None, alias="_bodyBase64")


class _ToolkitContent(_Lenient):
    text: str
    encoding: str | None = None


class _Request(_Lenient):
    method: str
    url: str
    headers: list[_NameValue]
    postData: _PostData | None = None  # noqa: N815
    bodySize: int | float | None = None  # noqa: N815


class _WebbinRequest(_Request):
    postData: _WebbinPostData | None = None  # noqa: N815


class _ToolkitRequest(_Request):
    content: _ToolkitContent | None = Field(None, alias="_content")


class _WebbinData(_Lenient):
    path: str
    query_string: str
    url: str
    remote_addr: str | None = None


class _Entry(_Lenient):
    startedDateTime: str  # noqa: N815
    request: _Request


class _WebbinEntry(_Entry):
    request: _WebbinRequest
    webbin: _WebbinData | None = Field(None, alias="_webbin")


class _ToolkitEntry(_Entry):
    request: _ToolkitRequest


class _Creator(_Lenient):
    name: str | None = None


class _Log(_Lenient):
    creator: _Creator | None = None
    entries: list[dict[str, Any]]


class _Har(_Lenient):
    log: _Log


def _read_har(data: bytes, max_body: int, found: _Errors) -> list[Imported]:
    try:
        document = json.loads(data)
    except ValueError as error:
        found.add("", f"is not a JSON document ({error})")
        return []
    try:
        har = _Har.model_validate(document)
    except ValidationError as error:
        found.validation(error, "")
        return []
    creator = har.log.creator.name if har.log.creator else None
    entry_model = {CREATOR: _WebbinEntry, HTTP_TOOLKIT: _ToolkitEntry}.get(creator or "", _Entry)
    requests = []
    for index, raw in enumerate(har.log.entries):
        if found.full:
            break
        base = ("log", "entries", index)

        def where(loc: tuple, base: tuple = base) -> str:
            return path_of((*base, *loc))

        try:
            entry = entry_model.model_validate(raw)
        except ValidationError as error:
            found.validation(error, path_of(base))
            continue
        request = _har_request(entry, where, max_body, found)
        if request is not None:
            requests.append(request)
    return requests


def _har_request(
    entry: _Entry, where: Callable[[tuple], str], max_body: int, found: _Errors
) -> Imported | None:
    request = entry.request
    body = _har_body(request, where, found)
    if body == b"" and request.bodySize and request.bodySize > 0:
        found.add(
            where(("request",)),
            f"has a body of {int(request.bodySize)} bytes (bodySize) that the file left out",
        )
        return None
    webbin = entry.webbin if isinstance(entry, _WebbinEntry) else None
    if webbin is not None:
        path = (webbin.path, ("_webbin", "path"))
        query = (webbin.query_string, ("_webbin", "query_string"))
        remote = (webbin.remote_addr, ("_webbin", "remote_addr"))
        url = (webbin.url, ("_webbin", "url"))
        headers = [[h.name, h.value] for h in request.headers]
    else:
        try:
            parts = urlsplit(request.url)
        except ValueError as error:
            found.add(where(("request", "url")), f"does not parse as a URL ({error})")
            return None
        if not (parts.scheme and parts.netloc):
            found.add(where(("request", "url")), "must be an absolute URL")
            return None
        path = (parts.path or "/", ("request", "url"))
        query = (parts.query, ("request", "url"))
        remote = (None, ("request",))
        url = (request.url, ("request", "url"))
        # HTTP/2 pseudo-headers are the request line, not headers.
        headers = [[h.name, h.value] for h in request.headers if not h.name.startswith(":")]
    return _checked(
        found,
        where,
        max_body,
        method=(request.method, ("request", "method")),
        path=path,
        query_string=query,
        headers=(headers, ("request", "headers")),
        received_at=(entry.startedDateTime, ("startedDateTime",)),
        url=url,
        remote_addr=remote,
        body=(body, ("request", "postData")),
    )


def _har_body(request: _Request, where: Callable[[tuple], str], found: _Errors) -> bytes | None:
    """The exact bytes when the file has them (webbin's ``_bodyBase64``, HTTP Toolkit's
    ``_content``, base64 ``text``), else ``text`` as UTF-8, else the form ``params``."""
    post = request.postData
    at = ("request", "postData")
    if isinstance(post, _WebbinPostData) and post.body_base64 is not None:
        return _base64(post.body_base64, where((*at, "_bodyBase64")), found)
    if isinstance(request, _ToolkitRequest) and request.content is not None:
        content = request.content
        if content.encoding == "base64":
            return _base64(content.text, where(("request", "_content", "text")), found)
        return _utf8(content.text, where(("request", "_content", "text")), found)
    if post is None:
        return b""
    if post.text is not None and post.encoding == "base64":
        return _base64(post.text, where((*at, "text")), found)
    if post.text is not None and (post.text or not post.params):
        return _utf8(post.text, where((*at, "text")), found)
    if post.params:
        if (post.mimeType or "").split(";")[0].strip().lower() != _FORM:
            found.add(
                where((*at, "params")),
                "cannot be turned back into the body: only URL-encoded forms can, and the "
                "file has no text for it",
            )
            return None
        return urlencode([(p.name, p.value) for p in post.params]).encode()
    return b""


def _utf8(text: str, path: str, found: _Errors) -> bytes | None:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        found.add(path, "must be valid Unicode (no unpaired surrogates)")
        return None


def _base64(text: str, path: str, found: _Errors) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        found.add(path, "is not valid base64")
        return None


# Both formats ------------------------------------------------------------------------------

# A value and where it sits in the file (a location, for error paths).
_Part = tuple[Any, tuple]


def _checked(
    found: _Errors,
    where: Callable[[tuple], str],
    max_body: int,
    *,
    method: _Part,
    path: _Part,
    query_string: _Part,
    headers: _Part,
    received_at: _Part,
    url: _Part,
    remote_addr: _Part,
    body: _Part,
) -> Imported | None:
    """The request, if every part is one that could have been captured as sent; else
    None, with each problem added (``where`` turns a part's location into its path)."""
    before = len(found.errors)

    def problem(loc: tuple, message: str) -> None:
        found.add(where(loc), message)

    value, loc = method
    if not (1 <= len(value) <= 64 and _TOKEN.fullmatch(value)):
        problem(loc, "must be an HTTP method: 1 to 64 letters, digits or !#$%&'*+-.^_`|~")
    value, loc = path
    if not value.startswith("/"):
        problem(loc, "must start with /")
    elif _NOT_IN_VALUE.search(value) or "?" in value:  # the first ? starts the query
        problem(loc, "must not hold ?, CR, LF or NUL")
    value, loc = query_string
    if _NOT_IN_VALUE.search(value):
        problem(loc, "must not hold CR, LF or NUL")
    pairs, loc = headers
    for index, (name, header_value) in enumerate(pairs):
        if not _TOKEN.fullmatch(name):
            problem((*loc, index), "must have a header name of letters, digits or !#$%&'*+-.^_`|~")
        elif _NOT_IN_VALUE.search(header_value):
            problem((*loc, index), "must have a value without CR, LF or NUL")
    value, loc = url
    if _NOT_IN_VALUE.search(value):
        problem(loc, "must not hold CR, LF or NUL")
    value, loc = remote_addr
    if value is not None and len(value) > 64:
        problem(loc, "must be at most 64 characters")
    value, loc = received_at
    moment = _moment(value)
    if moment is None:
        problem(loc, "must be a date and time with a time zone (ISO 8601)")
    data, loc = body
    if data is not None and len(data) > max_body:
        problem(loc, f"holds {len(data)} bytes, more than this webbin's limit of {max_body}")
    for text, loc in (path, query_string, url, remote_addr):
        if text and not _storable(text):
            problem(loc, "must be valid Unicode (no unpaired surrogates)")
    for index, pair in enumerate(pairs):
        if not all(_storable(part) for part in pair):
            problem((*headers[1], index), "must be valid Unicode (no unpaired surrogates)")
    if len(found.errors) > before or data is None or moment is None:
        return None
    return Imported(
        method=method[0],
        path=path[0],
        query_string=query_string[0],
        headers=pairs,
        body=data,
        received_at=moment,
        url=url[0],
        remote_addr=remote_addr[0],
    )


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return None if moment.tzinfo is None else moment.astimezone(UTC)
