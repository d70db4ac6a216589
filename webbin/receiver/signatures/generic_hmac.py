"""A custom HMAC of the body in a header the bin names: algorithm (sha1/sha256/sha512),
encoding (hex/base64) and an optional prefix such as ``sha256=`` come from the bin's settings.
Never auto-detected: nothing in a request says which header is the signature."""

from __future__ import annotations

from ._common import (
    ALGORITHMS,
    MAX_HEADER_CHARS,
    MAX_SIGNATURES,
    HmacSpec,
    malformed,
    text_hmac,
    unsigned,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict


class GenericHmac:
    name = "generic-hmac"
    title = "Generic HMAC"

    def detect(self, request: SignedRequest) -> bool:
        return False

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        header = options.header
        if not header:
            return Verdict(
                scheme=self.name,
                status="unsigned",
                reason="No signature header is configured for generic HMAC.",
                hint="Name the header that carries the signature in the bin's signature settings.",
            )
        algorithm, encoding = options.algorithm.lower(), options.encoding.lower()
        construction = f"{options.prefix}{encoding}({algorithm} HMAC of {{body}})"
        if algorithm not in ALGORITHMS or encoding not in ("hex", "base64"):
            return malformed(
                self.name,
                f"Unsupported settings: algorithm {options.algorithm!r},"
                f" encoding {options.encoding!r}.",
                [header],
            )
        values = request.header_values(header)
        if not values:
            return unsigned(self.name, header)
        if any(len(v) > MAX_HEADER_CHARS for v in values):
            return malformed(
                self.name,
                f"{header} is far longer than a signature.",
                [header],
                construction=construction,
            )
        received = [v.strip() for v in values][:MAX_SIGNATURES]
        signatures = [
            v.removeprefix(options.prefix)
            for v in received
            if v.startswith(options.prefix) and v != options.prefix
        ]
        if not signatures:
            return malformed(
                self.name,
                f"{header} does not start with the configured prefix {options.prefix!r}.",
                [header],
                received=received,
                construction=construction,
            )
        return verify_hmac(
            request,
            options,
            HmacSpec(
                scheme=self.name,
                headers_read=[header],
                construction=construction,
                received=received,
                signatures=signatures,
                message=request.body,
                algorithm=algorithm,
                encoding=encoding,
                prefix=options.prefix,
                resign_body=lambda body: body,
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """The configured header; ``ValueError`` when the settings can't sign."""
        algorithm, encoding = options.algorithm.lower(), options.encoding.lower()
        if not options.header or algorithm not in ALGORITHMS or encoding not in ("hex", "base64"):
            raise ValueError("generic-hmac needs a header name, sha1/sha256/sha512 and hex/base64")
        return [(options.header, options.prefix + text_hmac(secret, body, algorithm, encoding))]


SCHEME = GenericHmac()
