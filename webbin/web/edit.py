"""Edit and resend: the editor's form, filled from a captured request and read back into the
same :class:`~webbin.web.schemas.ResendBody` the API takes, so both validate alike.

The form shows the method, the target URL, the headers one ``Name: value`` per line (in
order, repeats kept, less those the connection sets) and the body. A body goes in the text
box as text only when a round trip through a browser's text box gives its bytes back: valid
UTF-8, no NUL (the HTML parser turns it into U+FFFD), no lone CR (it becomes LF), and one
kind of line ending (browsers send every line ending as CRLF; the form remembers which one
the body used and the server puts it back). Any other body is edited as base64, and so is a
body the user asks to see that way.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from webbin.outbound import resend
from webbin.receiver import signing, verification
from webbin.receiver.strict import InvalidInput, validate
from webbin.storage.models import Bin, CapturedRequest
from webbin.web.schemas import ResendBody

# Bodies larger than this are not put in the form (a text box holding megabytes makes the
# page crawl); such a request can still be edited in its method and headers here, or
# entirely through the API.
FORM_BODY_CAP = 1024 * 1024

_LONE_CR = re.compile(r"\r(?!\n)")


def edit_of(body: ResendBody) -> resend.Edit | None:
    """The API body's changes as an Edit, or None when it changes nothing."""
    replacement = body.body()
    if body.method is None and body.headers is None and replacement is None and not body.resign:
        return None
    return resend.Edit(
        method=body.method,
        headers=None if body.headers is None else tuple(body.headers),
        body=replacement,
        resign=body.resign,
    )


@dataclass(frozen=True)
class EditForm:
    """What the editor starts from."""

    method: str
    url: str
    headers: str  # one "Name: value" per line
    body: str | None  # None: too large for the form, sent as captured
    encoding: str  # "text" or "base64"
    newlines: str  # "lf" or "crlf": how text lines end in the body
    resign_as: str | None  # the provider a re-sign would sign as
    resign_problem: str | None  # why re-signing is impossible, if it is


def prefill(captured: CapturedRequest, bin_: Bin, as_base64: bool = False) -> EditForm:
    """The editor for ``captured``: as it would be resent, and whether it can be re-signed."""
    headers = resend.forwarded_headers(captured.headers)
    body, encoding, newlines = _body_for_form(captured.body, as_base64)
    resign_as, problem = _resign_outlook(captured, bin_)
    return EditForm(
        method=captured.method,
        url=bin_.resend_url or "",
        headers="\n".join(f"{name}: {value}" for name, value in headers),
        body=body,
        encoding=encoding,
        newlines=newlines,
        resign_as=resign_as,
        resign_problem=problem,
    )


def _body_for_form(body: bytes, as_base64: bool) -> tuple[str | None, str, str]:
    if len(body) > FORM_BODY_CAP:
        return None, "text", "lf"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not as_base64 and "\0" not in text and not _LONE_CR.search(text):
        crlf = text.count("\r\n")
        if crlf == 0 or crlf == text.count("\n"):
            return text, "text", "crlf" if crlf else "lf"
    return base64.b64encode(body).decode("ascii"), "base64", "lf"


def _resign_outlook(captured: CapturedRequest, bin_: Bin) -> tuple[str | None, str | None]:
    """(provider a re-sign signs as, None) or (maybe that provider, why it can't)."""
    try:
        scheme = signing.choose_scheme(
            bin_.signature_scheme,
            captured.signature_scheme,
            verification.signed_request(captured),
        )
    except signing.CannotResign as error:
        return None, str(error)
    return scheme.title, signing.problem(scheme, verification.options_for(bin_))


def form_body(form: MultiDict[str, str]) -> ResendBody:
    """The editor's fields as a ResendBody; InvalidInput, with field paths, when they are
    not one (a header line without a colon reads as ``headers[2]``)."""
    data: dict[str, Any] = {"url": form.get("url") or None, "resign": bool(form.get("resign"))}
    method = (form.get("method") or "").strip()
    if method:
        data["method"] = method
    if "headers" in form:
        data["headers"] = _header_lines(form["headers"])
    if "body" in form:
        if form.get("encoding") == "base64":
            data["body_base64"] = "".join(form["body"].split())
        else:
            text = form["body"].replace("\r\n", "\n")
            data["body_text"] = (
                text.replace("\n", "\r\n") if form.get("newlines") == "crlf" else text
            )
    return validate(ResendBody, data)


def _header_lines(text: str) -> list[list[str]]:
    """``Name: value`` lines (blank ones skipped) as pairs; one space after the colon is the
    separator, anything more belongs to the value."""
    headers = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise InvalidInput(
                [{"path": f"headers line {number}", "message": "must be Name: value"}]
            )
        headers.append([name.strip(), value.removeprefix(" ")])
    return headers
