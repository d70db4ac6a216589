"""Building blocks shared by the HMAC-style schemes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature

from .base import Options, SignedRequest, Verdict, constant_time_equal

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def hmac_bytes(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, ALGORITHMS[algorithm]).digest()


def text_hmac(secret: str, message: bytes, algorithm: str = "sha256", encoding: str = "hex") -> str:
    """The HMAC of ``message`` keyed with the secret's text, written as ``encoding``: how most
    providers sign, and so what ``sign`` sends."""
    return encode_digest(hmac_bytes(text_bytes(secret), message, algorithm), encoding)


def first_match(
    received: Iterable[str], secrets: Iterable[str], expected_for: Callable[[str], str]
) -> tuple[int | None, str | None]:
    """(index of the secret whose expected signature equals one received, or None;
    the expected signature under the first secret, for display)."""
    received = list(received)
    first_expected = None
    for index, secret in enumerate(secrets):
        expected = expected_for(secret)
        if first_expected is None:
            first_expected = expected
        if any(constant_time_equal(expected, r) for r in received):
            return index, expected
    return None, first_expected


def timestamp_age(request: SignedRequest, timestamp: int) -> float:
    return request.received_at.timestamp() - timestamp


def is_stale(age: float, options: Options) -> bool:
    return abs(age) > options.tolerance_seconds


# Looking for a re-encoded body parses it and serialises it four times, each then signed
# again: bodies larger than this are not examined, even to explain a verdict (the same 1 MiB
# bound that deliveries puts on looking for event ids inside JSON).
MAX_REENCODE_BYTES = 1024 * 1024
TOO_LARGE_TO_REENCODE = "The body is over 1 MiB, too large to look for re-encoding"


def can_reencode(body: bytes) -> bool:
    """Whether ``body`` is small enough for the "body re-encoded" hint to examine."""
    return len(body) <= MAX_REENCODE_BYTES


def reencoded_bodies(body: bytes) -> list[bytes]:
    """The body as a framework might have re-serialised it before signing or checking:
    a "body re-encoded" hint fires when one of these, not the raw bytes, matches. Empty for a
    body over ``MAX_REENCODE_BYTES``: callers say so with :func:`can_reencode`."""
    if not can_reencode(body):
        return []
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return []
    variants = [
        json.dumps(data, separators=(",", ":")).encode(),
        json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode(),
        json.dumps(data).encode(),
        json.dumps(data, indent=2).encode(),
    ]
    return [v for v in dict.fromkeys(variants) if v != body]


BODY_REENCODED_HINT = (
    "The signature matches a re-serialised copy of the JSON body, not the bytes that were "
    "sent: verify against the raw request body, before any JSON parsing."
)


def unverified(
    scheme: str,
    headers_read: list[str],
    received: list[str],
    construction: str,
    timestamp: int | None = None,
    age: float | None = None,
) -> Verdict:
    return Verdict(
        scheme=scheme,
        status="unverified",
        reason="A signature is present, but this bin has no secret to check it with.",
        headers_read=headers_read,
        construction=construction,
        received=received,
        timestamp=timestamp,
        age_seconds=age,
        hint="Add the endpoint's signing secret in the bin's signature settings; "
        "requests already captured are re-verified.",
    )


def unsigned(scheme: str, missing: str) -> Verdict:
    return Verdict(
        scheme=scheme, status="unsigned", reason=f"No {missing} header.", headers_read=[missing]
    )


# --- Parsing hostile header values -------------------------------------------------------------

# Real signature headers are well under a kilobyte and carry a handful of signatures (one per
# rotating secret); anything past these bounds is refused rather than parsed.
MAX_HEADER_CHARS = 8192
MAX_SIGNATURES = 16


def text_bytes(text: str) -> bytes:
    """UTF-8 bytes of header text and secrets, keeping undecodable bytes as they arrived."""
    return text.encode("utf-8", "surrogateescape")


def parse_timestamp(value: str | None) -> int | None:
    """Whole seconds since the epoch, or None for anything else (signs, decimals, junk, or more
    digits than any real clock produces)."""
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        return None
    return int(value)


def split_pairs(value: str, separator: str, assign: str = "=") -> list[tuple[str, str]]:
    """``k=v`` items of a header such as ``t=1,v1=ab,v1=cd``, blanks and bare words skipped."""
    pairs = []
    for item in value.split(separator):
        key, found, item_value = item.strip().partition(assign)
        if found and key:
            pairs.append((key.strip(), item_value.strip()))
    return pairs


def preferred_header(
    request: SignedRequest, *choices: tuple[str, str]
) -> tuple[str, str, str, list[str]] | None:
    """The first of ``choices`` (header, algorithm) that the request carries, as (value,
    header, algorithm, the headers read to find it); None when it carries none of them. For a
    current header with a legacy fallback (GitHub, Square)."""
    for count, (header, algorithm) in enumerate(choices, 1):
        value = request.header(header)
        if value is not None:
            return value, header, algorithm, [name for name, _ in choices[:count]]
    return None


def decode_hex(value: str) -> bytes | None:
    try:
        return binascii.unhexlify(value.encode("ascii"))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None


def decode_base64(value: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional, as SDKs read secrets; None if it isn't."""
    try:
        raw = value.encode("ascii").replace(b"-", b"+").replace(b"_", b"/")
    except UnicodeEncodeError:
        return None
    try:
        return base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def encode_digest(digest: bytes, encoding: str) -> str:
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")


def digest_sized(value: str, size: int) -> bool:
    """Whether ``value`` decodes (hex or base64) to ``size`` bytes: could it be a digest?"""
    return size in (len(decode_hex(value) or b""), len(decode_base64(value) or b""))


# --- Verdicts ----------------------------------------------------------------------------------

OTHER_ENDPOINT_HINT = (
    "No secret here reproduces this signature, even allowing for a re-encoded body or a "
    "differently encoded secret: the secret may belong to another endpoint or environment "
    "(test vs live), or the body was changed after signing."
)
_LARGE_BODY_OTHER_ENDPOINT_HINT = (
    "No secret here reproduces this signature, even allowing for a differently encoded secret "
    f"({TOO_LARGE_TO_REENCODE[0].lower()}{TOO_LARGE_TO_REENCODE[1:]}): the secret may belong "
    "to another endpoint or environment (test vs live), or the body was changed after signing."
)


def other_endpoint_hint(body: bytes) -> str:
    """The hint when nothing explains a mismatch of a signature over ``body``: it says whether
    a re-encoded body was ruled out or the body was too large to look."""
    return OTHER_ENDPOINT_HINT if can_reencode(body) else _LARGE_BODY_OTHER_ENDPOINT_HINT


REPLAY_HINT = (
    "A correct signature outside the replay window: a replayed or long-delayed delivery, "
    "or a clock that is off on one side."
)


def malformed(
    scheme: str,
    reason: str,
    headers_read: list[str],
    *,
    received: list[str] | None = None,
    construction: str | None = None,
) -> Verdict:
    """``invalid`` for a signature that cannot even be read (garbled, oversized, incomplete)."""
    return Verdict(
        scheme=scheme,
        status="invalid",
        reason=reason,
        headers_read=headers_read,
        construction=construction,
        received=received or [],
    )


def oversized(
    scheme: str,
    header: str,
    value: str,
    headers_read: list[str],
    construction: str | None = None,
    *,
    what: str = "a signature",
) -> Verdict | None:
    """``invalid`` for a header value longer than any real ``what``; None for one that isn't."""
    if len(value) <= MAX_HEADER_CHARS:
        return None
    return malformed(
        scheme,
        f"{header} is {len(value)} characters long, far more than {what}.",
        headers_read,
        construction=construction,
    )


def unprefixed(
    scheme: str,
    header: str,
    value: str,
    prefix: str,
    encoding: str,
    headers_read: list[str],
    construction: str | None = None,
) -> Verdict | None:
    """``invalid`` for a (stripped) value that is not ``prefix`` followed by a digest; None for
    one that is."""
    if value.startswith(prefix) and value != prefix:
        return None
    return malformed(
        scheme,
        f"{header} is not of the form {prefix}<{encoding} digest>.",
        headers_read,
        received=[value],
        construction=construction,
    )


# How a scheme words a missing or garbled timestamp header: (missing, garbled).
COVERED_TIME = (
    "No {header} header, which the signature covers.",
    "{header} is not a Unix time in seconds.",
)
PAIRED_TIME = (
    "No {header} header to go with the signature.",
    "{header} is not a Unix timestamp in seconds.",
)


def header_timestamp(
    scheme: str,
    request: SignedRequest,
    header: str,
    headers_read: list[str],
    received: list[str],
    construction: str,
    wording: tuple[str, str] = COVERED_TIME,
) -> tuple[str, int] | Verdict:
    """A signed timestamp header in seconds, as (its text, stripped; its value), or the
    ``invalid`` verdict when it is missing or not a Unix time."""
    text = request.header(header)
    timestamp = parse_timestamp(text)
    if text is None or timestamp is None:
        reason = wording[0] if text is None else wording[1]
        return malformed(
            scheme,
            reason.format(header=header),
            headers_read,
            received=received,
            construction=construction,
        )
    return text.strip(), timestamp


def describe_age(age: float) -> str:
    seconds = round(abs(age))
    return (
        f"{seconds} s before it was received"
        if age >= 0
        else (f"{seconds} s after it was received")
    )


def matched(
    scheme: str,
    options: Options,
    index: int,
    *,
    headers_read: list[str],
    construction: str,
    received: list[str],
    expected: str | None,
    timestamp: int | None = None,
    age: float | None = None,
) -> Verdict:
    """``valid``, or ``stale`` when the matching signature's timestamp is outside tolerance."""
    which = f" (secret {index + 1} of {len(options.secrets)})" if len(options.secrets) > 1 else ""
    fields = dict(
        scheme=scheme,
        headers_read=headers_read,
        construction=construction,
        received=received,
        expected=expected,
        timestamp=timestamp,
        age_seconds=age,
        matched_secret=index,
    )
    if age is not None and is_stale(age, options):
        return Verdict(
            status="stale",
            reason=f"Signature matches{which}, but it was signed {describe_age(age)} "
            f"(tolerance {options.tolerance_seconds} s): possibly a replay.",
            hint=REPLAY_HINT,
            **fields,
        )
    return Verdict(status="valid", reason=f"Signature matches{which}.", **fields)


def mismatch_reason(signatures: int, secrets: int) -> str:
    subject = (
        "The signature does not" if signatures == 1 else (f"None of the {signatures} signatures")
    )
    verb = "match" if signatures == 1 else "matches"
    target = "the secret" if secrets == 1 else f"any of the {secrets} secrets"
    return f"{subject} {verb} {target}."


# --- Hints -------------------------------------------------------------------------------------


def encoding_hint(received: Iterable[str], digest: bytes, encoding: str) -> str | None:
    """When a received signature is the expected digest written another way (base64 for hex,
    uppercase hex, URL-safe base64), say so: the signer encodes the digest wrong."""
    want = "lowercase hex" if encoding == "hex" else "standard base64"
    for value in received:
        for name, decoded in (("hex", decode_hex(value)), ("base64", decode_base64(value))):
            if decoded is None or not constant_time_equal(decoded, digest):
                continue
            if name == "hex":
                got = "uppercase hex" if encoding == "hex" else "hex"
            else:
                got = "URL-safe or unpadded base64" if encoding == "base64" else "base64"
            return (
                f"The signature is the right HMAC but written as {got}, where {want} is "
                "expected: whatever signed the request encodes the digest the wrong way."
            )
    return None


def text_key_variants(secret: str) -> list[tuple[str, bytes]]:
    """Keys a signer may have used instead of the secret's text, with the hint each proves."""
    variants = []
    if secret.strip() != secret:
        variants.append(
            (
                "The signature matches the secret without its surrounding whitespace: the secret "
                "saved here has a stray space or line break.",
                text_bytes(secret.strip()),
            )
        )
    for name, decoded in (
        ("hex", decode_hex(secret.strip())),
        ("base64", decode_base64(secret.strip())),
    ):
        if decoded:
            variants.append(
                (
                    f"The signature was made with the secret {name}-decoded to bytes, but this "
                    "provider keys the HMAC with the secret's text as it is.",
                    decoded,
                )
            )
    return variants


def _toggle_port(parts: SplitResult) -> str:
    """The URL without its port, or with the scheme's default port when it has none."""
    host = parts.netloc.rsplit(":", 1)[0] if parts.port is not None else parts.netloc
    if parts.port is None:
        host += ":443" if parts.scheme == "https" else ":80"
    return urlunsplit(parts._replace(netloc=host))


def _split_http(url: str) -> SplitResult | None:
    """``url`` split, if it is an http(s) URL with a host and a readable port."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it raises ValueError on a garbled port
    except ValueError:
        return None
    return parts if parts.scheme in ("http", "https") and parts.hostname else None


def toggle_port(url: str) -> str | None:
    """``url`` with its port removed, or the default port added; None if it isn't http(s)."""
    parts = _split_http(url)
    return None if parts is None else _toggle_port(parts)


def url_variants(url: str) -> list[tuple[str, str]]:
    """(what differs, variant) for URLs a provider may have been configured with when they
    differ from the captured one by scheme (TLS ended at a proxy), a trailing slash or an
    explicit default port, alone or combined."""
    original = _split_http(url)
    if original is None:
        return []
    variants: dict[str, str] = {}
    for swap, slash, port in itertools.product((False, True), repeat=3):
        parts, changes = original, []
        if swap:
            other = "http" if parts.scheme == "https" else "https"
            changes.append(f"{other}:// instead of {parts.scheme}://")
            parts = parts._replace(scheme=other)
        if slash:
            trimmed = parts.path.endswith("/")
            changes.append("without the trailing slash" if trimmed else "with a trailing slash")
            parts = parts._replace(path=parts.path[:-1] if trimmed else parts.path + "/")
        variant = urlunsplit(parts)
        if port:
            changes.append(
                f"without the port :{parts.port}"
                if parts.port is not None
                else f"with the default port :{443 if parts.scheme == 'https' else 80}"
            )
            variant = _toggle_port(parts)
        if variant != url:
            variants.setdefault(variant, ", ".join(changes))
    return [(changes, variant) for variant, changes in variants.items()]


def url_hint(changes: str, variant: str) -> str:
    return (
        f"The signature matches the URL {changes} ({variant}), not the URL this request "
        "arrived at: the provider signs the URL it was configured with, so set the bin's "
        "public base URL (or the provider's endpoint URL) so the two agree exactly."
    )


# --- The HMAC verifier most schemes share ------------------------------------------------------

Variant = tuple[str, bytes]  # (hint shown if it matches, the alternative key or message)


@dataclass(frozen=True)
class HmacSpec:
    """One request's HMAC signature as its scheme read it, and how the provider builds it."""

    scheme: str
    headers_read: list[str]
    construction: str
    received: list[str]  # signatures as found, for display
    signatures: list[str]  # the comparable values (prefixes such as "sha256=" removed)
    message: bytes  # the signed payload built from the captured request
    algorithm: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""  # put back in front of the expected value, to match the received format
    # Other messages the provider's own SDK accepts for the same request (Twilio's port rule).
    equivalents: list[bytes] = field(default_factory=list)
    # How the message is built from another body, for the re-encoded-body hint (None when the
    # body is not part of the signed payload).
    resign_body: Callable[[bytes], bytes] | None = None
    key_variants: Callable[[str], list[Variant]] = text_key_variants
    # Other payloads a misconfigured signer may have signed (another URL, …), each with the
    # hint it proves; built only when a mismatch is being explained, as each copies the body.
    message_variants: Callable[[], Iterable[Variant]] = lambda: ()
    timestamp: int | None = None


def verify_hmac(request: SignedRequest, options: Options, spec: HmacSpec) -> Verdict:
    """Match the received signatures against every secret, then explain a mismatch (unless
    ``options.explain`` is off: the status is the same, without ``expected`` or a hint)."""
    age = None if spec.timestamp is None else timestamp_age(request, spec.timestamp)
    if not options.secrets:
        return unverified(
            spec.scheme, spec.headers_read, spec.received, spec.construction, spec.timestamp, age
        )

    def digest(key: bytes, message: bytes) -> bytes:
        return hmac_bytes(key, message, spec.algorithm)

    def found(candidate: bytes) -> bool:
        value = encode_digest(candidate, spec.encoding)
        return any(constant_time_equal(value, s) for s in spec.signatures)

    fields = dict(
        headers_read=spec.headers_read,
        construction=spec.construction,
        received=spec.received,
        timestamp=spec.timestamp,
        age=age,
    )
    for index, secret in enumerate(options.secrets):
        for message in (spec.message, *spec.equivalents):
            mac = digest(text_bytes(secret), message)
            if found(mac):
                return matched(
                    spec.scheme,
                    options,
                    index,
                    expected=spec.prefix + encode_digest(mac, spec.encoding),
                    **fields,
                )

    expected = (
        spec.prefix
        + encode_digest(digest(text_bytes(options.secrets[0]), spec.message), spec.encoding)
        if options.explain
        else None
    )
    size = ALGORITHMS[spec.algorithm]().digest_size
    if not any(digest_sized(s, size) for s in spec.signatures):
        return Verdict(
            scheme=spec.scheme,
            status="invalid",
            reason=f"The signature is not a {spec.algorithm.upper()} digest in {spec.encoding}.",
            headers_read=spec.headers_read,
            construction=spec.construction,
            received=spec.received,
            expected=expected,
            timestamp=spec.timestamp,
            age_seconds=age,
        )
    return Verdict(
        scheme=spec.scheme,
        status="invalid",
        reason=mismatch_reason(len(spec.signatures), len(options.secrets)),
        hint=_mismatch_hint(spec, options.secrets, request.body, digest, found)
        if options.explain
        else None,
        headers_read=spec.headers_read,
        construction=spec.construction,
        received=spec.received,
        expected=expected,
        timestamp=spec.timestamp,
        age_seconds=age,
    )


def _mismatch_hint(
    spec: HmacSpec,
    secrets: tuple[str, ...],
    body: bytes,
    digest: Callable[[bytes, bytes], bytes],
    found: Callable[[bytes], bool],
) -> str:
    """What explains a mismatch: the first common mistake that reproduces a received
    signature, or what was ruled out."""
    hint = _hmac_hint(spec, secrets, body, digest, found)
    if hint is not None:
        return hint
    return OTHER_ENDPOINT_HINT if spec.resign_body is None else other_endpoint_hint(body)


def _hmac_hint(
    spec: HmacSpec,
    secrets: tuple[str, ...],
    body: bytes,
    digest: Callable[[bytes, bytes], bytes],
    found: Callable[[bytes], bool],
) -> str | None:
    """The first common mistake that reproduces a received signature, in plain words."""
    reencoded = reencoded_bodies(body) if spec.resign_body is not None else []
    for secret in secrets:
        key = text_bytes(secret)
        hint = encoding_hint(spec.signatures, digest(key, spec.message), spec.encoding)
        if hint:
            return hint
        if spec.resign_body is not None and any(
            found(digest(key, spec.resign_body(variant))) for variant in reencoded
        ):
            return BODY_REENCODED_HINT
        for hint, message in spec.message_variants():
            if found(digest(key, message)):
                return hint
        for hint, other_key in spec.key_variants(secret):
            if found(digest(other_key, spec.message)):
                return hint
    return None


# --- Schemes that differ only in their settings ------------------------------------------------
# A provider module subclasses one of these and sets its class attributes, so that each
# provider keeps its own module and class (the test-webhook feature finds a scheme's helpers,
# such as ``generate_keypair``, through the module that defines its class).


class HeaderScheme:
    """A scheme whose signature travels in one header: ``detect`` looks for that header, and
    for whatever else ``claims`` wants where another provider sends a header of the same name."""

    name: str
    title: str
    header: str

    def claims(self, request: SignedRequest) -> bool:
        return True

    def carried_header(self, request: SignedRequest) -> str | None:
        """The signature header of this scheme that the request carries, claimed or not: when
        no scheme detects a request, auto mode tries every scheme whose header it carries."""
        return self.header if request.header(self.header) is not None else None

    def detect(self, request: SignedRequest) -> bool:
        return self.carried_header(request) is not None and self.claims(request)


class BodyHmacScheme(HeaderScheme):
    """``{header}: {prefix}<HMAC of the raw body>``, keyed with the secret as text, with no
    timestamp in the signed payload (Shopify, Typeform, Intercom, Bitbucket, Linear)."""

    algorithm = "sha256"
    encoding = "hex"
    prefix = ""  # required in front of the digest when set, e.g. "sha256="
    construction = "{body}"

    def signed_timestamp(self, request: SignedRequest, value: str) -> int | None | Verdict:
        """When the body carries a signed time (Linear), that time for the staleness check,
        or the verdict refusing it; None for a provider that signs no time."""
        return None

    def delivery_headers(self) -> list[tuple[str, str]]:
        """Headers a real delivery carries besides the signature, sent first by ``sign``."""
        return []

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(self.header)
        if value is None:
            return unsigned(self.name, self.header)
        headers_read = [self.header]
        if refusal := oversized(self.name, self.header, value, headers_read, self.construction):
            return refusal
        value = value.strip()
        if self.prefix and (
            refusal := unprefixed(
                self.name,
                self.header,
                value,
                self.prefix,
                self.encoding,
                headers_read,
                self.construction,
            )
        ):
            return refusal
        timestamp = self.signed_timestamp(request, value)
        if isinstance(timestamp, Verdict):
            return timestamp
        return verify_hmac(
            request,
            options,
            HmacSpec(
                scheme=self.name,
                headers_read=headers_read,
                construction=self.construction,
                received=[value],
                signatures=[value.removeprefix(self.prefix)],
                message=request.body,
                algorithm=self.algorithm,
                encoding=self.encoding,
                prefix=self.prefix,
                resign_body=lambda body: body,
                timestamp=timestamp,
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """Only the body is signed: ``timestamp`` and ``url`` play no part."""
        signature = self.prefix + text_hmac(secret, body, self.algorithm, self.encoding)
        return [*self.delivery_headers(), (self.header, signature)]


class ParamHeaderScheme(HeaderScheme):
    """One header of ``key=value`` items: a Unix timestamp and one or more hex HMAC-SHA256
    signatures of ``{timestamp}{joiner}{body}`` keyed with the secret as text (Stripe's
    ``t=…,v1=…``, Paddle's ``ts=…;h1=…``). Several signatures appear while a secret rotates."""

    separator: str  # between the items
    timestamp_key: str
    signature_key: str
    joiner: str  # between the timestamp and the body in the signed payload
    key_variants = staticmethod(text_key_variants)  # for the hints: how the secret gets mangled

    @property
    def construction(self) -> str:
        return f"{{{self.timestamp_key}}}{self.joiner}{{body}}"

    def shown(self, pairs: list[tuple[str, str]], signatures: list[str]) -> list[str]:
        """The items shown as the signatures received."""
        return [f"{self.signature_key}={value}" for value in signatures]

    def no_signature(self, shown: list[str]) -> str:
        return f"{self.header} has no {self.signature_key} signature."

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(self.header)
        if value is None:
            return unsigned(self.name, self.header)
        headers_read, construction = [self.header], self.construction
        if refusal := oversized(
            self.name, self.header, value, headers_read, construction, what="a signature header"
        ):
            return refusal
        pairs = split_pairs(value, self.separator)
        signatures = [v for k, v in pairs if k == self.signature_key and v][:MAX_SIGNATURES]
        received = self.shown(pairs, signatures)
        stamps = [v for k, v in pairs if k == self.timestamp_key]
        refused = dict(received=received, construction=construction)
        if not stamps:
            return malformed(
                self.name,
                f"{self.header} has no {self.timestamp_key}= timestamp.",
                headers_read,
                **refused,
            )
        timestamp = parse_timestamp(stamps[0])
        if timestamp is None:
            return malformed(
                self.name,
                f"{self.header}'s {self.timestamp_key}= is not a Unix timestamp in seconds.",
                headers_read,
                **refused,
            )
        if not signatures:
            return malformed(self.name, self.no_signature(received), headers_read, **refused)
        stamp = text_bytes(stamps[0] + self.joiner)
        return verify_hmac(
            request,
            options,
            HmacSpec(
                scheme=self.name,
                headers_read=headers_read,
                construction=construction,
                received=received,
                signatures=signatures,
                message=stamp + request.body,
                prefix=f"{self.signature_key}=",
                resign_body=lambda body: stamp + body,
                key_variants=self.key_variants,
                timestamp=timestamp,
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        signature = text_hmac(secret, f"{timestamp}{self.joiner}".encode() + body)
        return [
            (
                self.header,
                f"{self.timestamp_key}={timestamp}{self.separator}{self.signature_key}={signature}",
            )
        ]


# --- Public-key signatures ---------------------------------------------------------------------


def signature_verifies(key: Any, signature: bytes, message: bytes, *algorithm: Any) -> bool:
    """Whether a ``cryptography`` public key verifies ``signature`` over ``message``."""
    try:
        key.verify(signature, message, *algorithm)
    except InvalidSignature:
        return False
    return True


class PublicKeyScheme(HeaderScheme, ABC):
    """A public-key signature of ``{timestamp header}{body}`` (Discord's Ed25519, SendGrid's
    ECDSA). ``verify`` takes public keys as secrets, so there is no ``expected`` signature to
    show; ``sign`` takes a private key, which only a test sender has. A subclass says how its
    keys and signatures are written."""

    timestamp_header: str
    not_a_signature: str  # reason: the header does not decode to a signature
    no_usable_key: str  # reason: no configured secret is a public key of this kind
    no_match: str  # reason: no configured key verifies the signature
    # What likely went wrong when the body was not re-encoded, as a clause ("the request was
    # probably signed …"): the hint when nothing else explains a mismatch.
    other_key_cause: str

    @property
    def construction(self) -> str:
        return f"{{{self.timestamp_header}}}{{body}}"

    @abstractmethod
    def decode_signature(self, value: str) -> bytes | None:
        """The signature bytes a header value holds, or None when it holds none."""

    @abstractmethod
    def public_key(self, secret: str) -> Any | None:
        """The public key a secret holds, or None when it holds none of this kind."""

    def verifies(self, key: Any, signature: bytes, message: bytes) -> bool:
        return signature_verifies(key, signature, message)

    @abstractmethod
    def sign_message(self, secret: str, message: bytes) -> str:
        """The encoded signature of ``message`` with the private key ``secret`` (``ValueError``
        for a secret that isn't one)."""

    def mismatch_hint(self, verifies: Callable[[bytes], bool], body: bytes) -> str:
        """What explains a signature no key verifies; ``verifies(other_body)`` tells whether it
        verifies over another body under any configured key."""
        if not can_reencode(body):
            return f"{TOO_LARGE_TO_REENCODE}; if it was not re-encoded, {self.other_key_cause}"
        if any(verifies(variant) for variant in reencoded_bodies(body)):
            return BODY_REENCODED_HINT
        return f"The body shows no sign of re-encoding: {self.other_key_cause}"

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(self.header)
        if value is None:
            return unsigned(self.name, self.header)
        headers_read, construction = [self.header, self.timestamp_header], self.construction
        if refusal := oversized(self.name, self.header, value, headers_read, construction):
            return refusal
        value = value.strip()
        signature = self.decode_signature(value)
        if signature is None:
            return malformed(
                self.name,
                self.not_a_signature,
                headers_read,
                received=[value],
                construction=construction,
            )
        sent = header_timestamp(
            self.name, request, self.timestamp_header, headers_read, [value], construction
        )
        if isinstance(sent, Verdict):
            return sent
        sent_at, timestamp = sent
        age = timestamp_age(request, timestamp)
        if not options.secrets:
            return unverified(self.name, headers_read, [value], construction, timestamp, age)
        fields = dict(
            headers_read=headers_read,
            construction=construction,
            received=[value],
            timestamp=timestamp,
        )
        keys = [(index, self.public_key(secret)) for index, secret in enumerate(options.secrets)]
        usable = [(index, key) for index, key in keys if key is not None]
        if not usable:
            return Verdict(
                scheme=self.name,
                status="invalid",
                reason=self.no_usable_key,
                age_seconds=age,
                **fields,
            )
        prefix = text_bytes(sent_at)

        def verifies(body: bytes) -> bool:
            return any(self.verifies(key, signature, prefix + body) for _, key in usable)

        index = next(
            (i for i, key in usable if self.verifies(key, signature, prefix + request.body)), None
        )
        if index is not None:
            return matched(self.name, options, index, expected=None, age=age, **fields)
        return Verdict(
            scheme=self.name,
            status="invalid",
            reason=self.no_match,
            hint=self.mismatch_hint(verifies, request.body) if options.explain else None,
            age_seconds=age,
            **fields,
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """``secret`` is a private key (see the provider's ``generate_keypair``), not the public
        key ``verify`` takes; a malformed one raises ``ValueError``. ``url`` plays no part."""
        sent_at = str(timestamp)
        return [
            (self.header, self.sign_message(secret, sent_at.encode() + body)),
            (self.timestamp_header, sent_at),
        ]
