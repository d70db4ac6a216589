"""Response headers that keep captured content inert and pages unframeable.

Everything webbin shows comes from strangers, so the browser is told to run nothing but
webbin's own script files: no inline script, no eval, no plugins, no <base> rewriting, no
framing, and requests only to webbin itself. Jinja escapes captured text and ``hx-ignore``
keeps htmx off it; this policy is the layer under both. Views that set their own policy
(raw downloads and custom capture answers use ``sandbox``) keep it.
"""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        # 'self' covers the page's own ws:// and wss:// origin in CSP 3.
        "connect-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)

# The API reference page (/api/docs) only: Swagger UI's stylesheet draws its select arrows,
# copy and expand icons as data: images. An image cannot run script, and the page shows no
# captured data (only webbin's own OpenAPI document), so images from data: URLs are allowed
# there; scripts and styles stay 'self'.
API_DOCS_POLICY = CONTENT_SECURITY_POLICY.replace("img-src 'self'", "img-src 'self' data:")

HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)


def add_headers(response: Response) -> Response:
    for name, value in HEADERS:
        response.headers.setdefault(name, value)
    if request.path.startswith(("/api/", "/bins/")) and "Cache-Control" not in response.headers:
        # Pages and API answers hold captured data and capability URLs: keep them out of caches.
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_headers)
    # A webbin published over HTTPS must not send its session cookie over plain HTTP.
    if str(app.config.get("PUBLIC_URL", "")).startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
