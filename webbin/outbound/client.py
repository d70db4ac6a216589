"""Outbound HTTP for "resend": the only place webbin talks to other servers.

A resend replays a captured webhook to a URL the user typed, so this module is
an SSRF boundary (request-baskets' CVE-2023-27163 let anyone reach internal
services this way).  The defences, in order:

* the URL is parsed strictly (http/https only, no user-info, no whitespace or
  control characters), and IP literals are normalised the way a C resolver
  reads them (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``), so the
  policy judges the address that would really be dialled;
* the host is resolved exactly once and *every* address is checked against an
  ``AddressPolicy``; cloud-metadata / link-local, unspecified, multicast,
  broadcast and reserved addresses are refused whatever the configuration;
* the socket is connected to the checked IP itself, never to the name, so a
  second (rebound) DNS answer cannot slip in; ``Host``, SNI and certificate
  verification still use the name from the URL;
* redirects are never followed: a 3xx is simply the result.

Why ``http.client``/``socket`` rather than urllib3: a resend must put the
captured request on the wire as it was.  urllib3 files headers in an
``HTTPHeaderDict``, which groups repeated names (``A, B, A`` goes out as
``A, A, B``) and adds ``User-Agent`` unless told to skip it, and its pools dial
by host name.  Writing the request head ourselves is a few lines and exact;
``http.client.HTTPResponse`` still does the error-prone part, parsing the
response (chunked bodies, HEAD, 1xx continue).  Everything is blocking stdlib
I/O, which gevent's monkey-patching makes cooperative under gunicorn.

Time limits: ``connect_timeout`` bounds each connect and the TLS handshake,
``read_timeout`` each wait for the server (sending included), and
``total_timeout`` the whole exchange: every single socket wait is clipped to
the time left, so a server that trickles one byte a second is still cut off.
The one wait no limit can bound is ``socket.getaddrinfo`` itself (the C
resolver has no timeout parameter); its time does count against the total.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import re
import socket
import ssl
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
T = TypeVar("T")

_net = ipaddress.ip_network

# Refused whatever the policy flags or allowlist say.  Order matters: the
# metadata entries sit inside ranges listed later (fc00::/7, 100.64.0.0/10,
# 240.0.0.0/4), and the first match names the reason.
_ALWAYS_REFUSED: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    (
        "a link-local / cloud-metadata address",
        (
            _net("169.254.0.0/16"),
            _net("fe80::/10"),
            _net("fd00:ec2::254/128"),  # AWS IMDS over IPv6
            _net("100.100.100.200/32"),  # Alibaba Cloud metadata
        ),
    ),
    ("an unspecified address", (_net("0.0.0.0/8"), _net("::/128"))),
    ("a multicast address", (_net("224.0.0.0/4"), _net("ff00::/8"))),
    ("a broadcast address", (_net("255.255.255.255/32"),)),
    (
        "a reserved address",
        (
            _net("240.0.0.0/4"),
            _net("192.0.0.0/24"),  # future use, IETF protocol assignments
            _net("192.0.2.0/24"),
            _net("198.51.100.0/24"),
            _net("203.0.113.0/24"),  # docs
            _net("2001:db8::/32"),
            _net("3fff::/20"),  # IPv6 documentation
            _net("100::/64"),  # discard-only
        ),
    ),
)
_LOOPBACK = (_net("127.0.0.0/8"), _net("::1/128"))
_PRIVATE = (
    _net("10.0.0.0/8"),
    _net("172.16.0.0/12"),
    _net("192.168.0.0/16"),
    _net("100.64.0.0/10"),  # carrier-grade NAT
    _net("198.18.0.0/15"),  # benchmarking, used as a private range in practice
    _net("fc00::/7"),  # unique local
    _net("64:ff9b:1::/48"),  # local-use NAT64
)
_GLOBAL_UNICAST_V6 = _net("2000::/3")
_NAT64_WELL_KNOWN = _net("64:ff9b::/96")

_DEFAULT_PORTS = {"http": 80, "https": 443}
# The caller strips these; if one slips through we drop it rather than send a
# second Host, a wrong length, or a framing header we do not honour.
_DROPPED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)
# Methods whose body-less form conventionally carries no Content-Length.
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")
_READ_CHUNK = 64 * 1024
# Longer URLs are refused: most servers (gunicorn, nginx) cap the request line near 8 KiB.
MAX_URL_LENGTH = 8192


@dataclass(frozen=True)
class AddressPolicy:
    """Which destination addresses a resend may reach.

    The local-tool profile (the default) allows loopback and private networks
    so users can resend to their app on localhost; the production profile
    turns both off and lists exceptions in ``allowlist``.  Allowlist entries
    may also be given as strings ("10.1.0.0/16"); they are parsed here so a
    bad configuration fails at start-up rather than on the first resend.
    """

    allow_loopback: bool = True
    allow_private: bool = True
    allowlist: tuple[IPNetwork, ...] = ()

    def __post_init__(self) -> None:
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in self.allowlist)
        object.__setattr__(self, "allowlist", nets)

    def check(self, address: IPAddress) -> str | None:
        """Return None if ``address`` may be contacted, else the reason why not.

        An IPv6 address that carries an IPv4 one (v4-mapped, NAT64 64:ff9b::/96,
        6to4, Teredo) is judged by the IPv4 address, where the traffic ends up.
        """
        embedded = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        target = embedded or address
        subject = f"{embedded} (embedded in {address})" if embedded else str(target)
        label = _always_refused(target)
        if label:
            return f"{subject} is {label}"
        if _within(address, self.allowlist) or _within(target, self.allowlist):
            return None
        if not self.allow_loopback and _within(target, _LOOPBACK):
            return f"{subject} is a loopback address (not allowed on this server)"
        if not self.allow_private and _within(target, _PRIVATE):
            return f"{subject} is a private address (not allowed on this server)"
        return None


LOCAL_POLICY = AddressPolicy()
PRODUCTION_POLICY = AddressPolicy(allow_loopback=False, allow_private=False)


@dataclass(frozen=True)
class OutboundResult:
    """What happened.  ``error`` is set whenever the exchange did not complete.

    ``status`` is None when no response head arrived.  If the failure came
    later (the body timed out, was cut by the total deadline, or the connection
    dropped), status, headers and the body received so far are kept next to
    the error, because that partial response is exactly what the user wants
    to see.  A body longer than the cap is not an error: it is ``truncated``.
    """

    status: int | None
    reason: str | None
    headers: list[tuple[str, str]]
    body: bytes
    truncated: bool
    elapsed_ms: float
    error: str | None
    # invalid_url | invalid_request | blocked | dns | refused | timeout | tls | too_large | other
    error_kind: str | None
    address: str | None
    # True once a connection to the target was attempted (even if refused or timed out): the
    # URL was valid, allowed by the policy and resolved, so the request really went out.
    dialled: bool = False


class OutboundError(Exception):
    """A failure already phrased for the user; ``kind`` is the error_kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def send(
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    policy: AddressPolicy = LOCAL_POLICY,
    connect_timeout: float = 5.0,
    read_timeout: float = 10.0,
    total_timeout: float = 30.0,
    max_response_bytes: int = 1 << 20,
    resolver: Resolver | None = None,
) -> OutboundResult:
    """Send one request exactly as given and return the response; never raises."""
    started = time.perf_counter()
    exchange = _Exchange(_Clock(started + total_timeout, total_timeout))
    try:
        target = _parse_url(url)
        head = _request_head(method, target, headers, body)
        addresses = _resolve(target, policy, resolver or _system_resolver)
        exchange.run(
            target,
            addresses,
            head + body,
            method,
            connect_timeout,
            read_timeout,
            max_response_bytes,
        )
    except OutboundError as exc:
        exchange.error = exc
    except Exception as exc:  # never raise to the caller, whatever broke
        exchange.error = OutboundError("other", f"Unexpected error: {type(exc).__name__}: {exc}")
    return exchange.result(started)


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # ASCII: IDNA-encoded name or canonical IP text
    ip: IPAddress | None  # set when the URL host is an IP literal
    port: int
    request_target: str  # path and query, as sent on the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _invalid(reason: str) -> OutboundError:
    return OutboundError("invalid_url", f"Invalid URL: {reason}")


def url_problem(url: str) -> str | None:
    """Why :func:`send` would refuse ``url`` before dialling ("Invalid URL: ..."), or None.

    The same check ``send`` makes first, for callers that must answer a bad URL as bad input
    rather than record it as a failed attempt.
    """
    try:
        _parse_url(url)
    except OutboundError as exc:
        return exc.message
    return None


def _parse_url(url: str) -> _Target:
    """Validate ``url`` strictly; anything unusual is refused, not guessed at."""
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"it is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in url):
        raise _invalid("it contains spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _invalid(str(exc)) from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise _invalid("only http and https are allowed (start it with http:// or https://)")
    authority = parts.netloc
    if "@" in authority:
        raise _invalid(
            "user names and passwords in the URL are not supported; "
            "send an Authorization header instead"
        )
    if authority.startswith("["):
        host_text, bracket, rest = authority[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _invalid("malformed IPv6 address in brackets")
        port_text = rest[1:]
        try:
            ip: IPAddress | None = ipaddress.IPv6Address(host_text)
        except ValueError:
            raise _invalid(f"[{host_text}] is not an IPv6 address") from None
        if "%" in host_text:
            raise _invalid("IPv6 zone identifiers are not supported")
    else:
        if authority.count(":") > 1:
            raise _invalid("IPv6 addresses must be written in brackets, e.g. http://[::1]:8080/")
        host_text, _, port_text = authority.partition(":")
        ip = None
    if not host_text:
        raise _invalid("a host is required")
    port = _parse_port(port_text, parts.scheme)
    if ip is None:
        host_text = _ascii_host(host_text)
        ip = _legacy_ipv4(host_text)
    if ip is None:
        _check_host_name(host_text)
    request_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # Browsers percent-encode non-ASCII in paths; the request line must be ASCII.
    request_target = re.sub(r"[^\x21-\x7e]", lambda m: quote(m.group()), request_target)
    return _Target(parts.scheme, str(ip) if ip else host_text, ip, port, request_target)


def _parse_port(text: str, scheme: str) -> int:
    if not text:
        return _DEFAULT_PORTS[scheme]
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise _invalid(f"{text!r} is not a valid port")
    return int(text)


def _ascii_host(text: str) -> str:
    """Lower-case the host and IDNA-encode it (bücher.example -> xn--bcher-kva.example)."""
    if text.isascii():
        return text.lower()
    try:
        return text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _invalid(f"{text!r} is not a valid host name") from None


def _legacy_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """Read ``text`` the way inet_aton (and so getaddrinfo) does, if it is an IPv4 literal.

    Catches the spellings attackers use to sneak 127.0.0.1 past naive checks:
    2130706433, 0177.0.0.1, 0x7f.1, 127.1.
    """
    if not _LEGACY_IPV4.fullmatch(text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def _check_host_name(name: str) -> None:
    labels = name.removesuffix(".").split(".")
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise _invalid(f"{name!r} is not a valid host name")


def _request_head(
    method: str, target: _Target, headers: list[tuple[str, str]], body: bytes
) -> bytes:
    """Build the request head byte for byte: order, repeats and case as given."""
    if not _TOKEN.fullmatch(method):
        raise OutboundError("invalid_request", f"Invalid HTTP method {method!r}")
    lines = [
        f"{method} {target.request_target} HTTP/1.1".encode("ascii"),
        b"Host: " + target.host_header.encode("ascii"),
    ]
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise OutboundError("invalid_request", f"Invalid header name {name!r}")
        if name.lower() in _DROPPED_HEADERS:
            continue
        if any(c in value for c in "\r\n\0"):
            raise OutboundError(
                "invalid_request", f"Header {name} contains a line break or NUL character"
            )
        lines.append(name.encode("ascii") + b": " + _header_bytes(value))
    if body or method not in _BODYLESS_METHODS:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _header_bytes(value: str) -> bytes:
    """Latin-1 round-trips what WSGI servers captured; anything beyond it goes out as UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _resolve(target: _Target, policy: AddressPolicy, resolver: Resolver) -> list[IPAddress]:
    """Resolve once and refuse the whole request if any answer is refused.

    Checking only the address we happen to dial first would let a name that
    answers "public, private" probe internal hosts through the fallback.
    """
    if target.ip is not None:
        addresses = [target.ip]
    else:
        try:
            answers = resolver(target.host, target.port)
        except socket.gaierror as exc:
            detail = f" ({exc.strerror})" if exc.strerror else ""
            raise OutboundError("dns", f"DNS lookup failed for {target.host}{detail}") from None
        except Exception as exc:
            raise OutboundError("dns", f"DNS lookup failed for {target.host}: {exc}") from None
        try:
            addresses = list(dict.fromkeys(ipaddress.ip_address(a) for a in answers))
        except ValueError as exc:
            raise OutboundError("dns", f"DNS lookup for {target.host} gave {exc}") from None
        if not addresses:
            raise OutboundError("dns", f"DNS lookup for {target.host} returned no addresses")
    for address in addresses:
        reason = policy.check(address)
        if reason is not None:
            via = "" if target.ip is not None else f"{target.host} resolves to {address}; "
            raise OutboundError("blocked", f"Refused: {via}{reason}")
    return addresses


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour:
        return address.sixtofour
    return address.teredo[1] if address.teredo else None


def _always_refused(address: IPAddress) -> str | None:
    for label, networks in _ALWAYS_REFUSED:
        if _within(address, networks):
            return label
    # Outside global unicast, IPv6 has nothing a webhook could live on.
    if (
        isinstance(address, ipaddress.IPv6Address)
        and address not in _GLOBAL_UNICAST_V6
        and not _within(address, _LOOPBACK + _PRIVATE)
    ):
        return "a reserved address"
    return None


def _within(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def _endpoint(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def _seconds(value: float) -> str:
    return f"{value:g} s"


class _Clock:
    """Gives every socket wait the smaller of its own limit and the time left overall."""

    def __init__(self, deadline: float, total: float) -> None:
        self.deadline = deadline
        self.total = total
        self.phase = "connecting"

    def budget(self, limit: float) -> tuple[float, bool]:
        """Return (timeout, True if the overall deadline is the tighter bound)."""
        left = self.deadline - time.perf_counter()
        if left <= 0:
            raise self.expired(True, limit)
        return min(limit, left), left < limit

    def expired(self, overall: bool, limit: float) -> OutboundError:
        if overall:
            return OutboundError(
                "timeout",
                f"Gave up after {_seconds(self.total)} (the total time limit) while {self.phase}",
            )
        return OutboundError("timeout", f"Timed out after {_seconds(limit)} {self.phase}")

    def call(self, sock: socket.socket, limit: float, fn: Callable[[], T]) -> T:
        timeout, overall = self.budget(limit)
        sock.settimeout(timeout)
        try:
            return fn()
        except TimeoutError:
            raise self.expired(overall, limit) from None


class _DeadlineReader(io.RawIOBase):
    """Raw stream for HTTPResponse whose every recv is clipped by the _Clock."""

    def __init__(self, sock: socket.socket, clock: _Clock, limit: float) -> None:
        self._sock, self._clock, self._limit = sock, clock, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        return self._clock.call(self._sock, self._limit, lambda: self._sock.recv_into(buffer))


class _ResponseSource:
    """The one method HTTPResponse needs from a socket, routed through the clock."""

    def __init__(self, reader: _DeadlineReader) -> None:
        self._reader = reader

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(self._reader)


class _Exchange:
    """Collects whatever arrived so that a late failure still shows the partial response."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.status: int | None = None
        self.reason: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.truncated = False
        self.address: str | None = None
        self.dialled = False
        self.error: OutboundError | None = None

    def run(
        self,
        target: _Target,
        addresses: list[IPAddress],
        request: bytes,
        method: str,
        connect_timeout: float,
        read_timeout: float,
        cap: int,
    ) -> None:
        try:
            sock = self._connect(target, addresses, connect_timeout)
            try:
                self.clock.phase = "sending the request"
                self.clock.call(sock, read_timeout, lambda: sock.sendall(request))
                self.clock.phase = "waiting for a response"
                source = _ResponseSource(_DeadlineReader(sock, self.clock, read_timeout))
                response = http.client.HTTPResponse(source, method=method)  # type: ignore[arg-type]
                try:
                    response.begin()
                    self.status, self.reason = response.status, response.reason
                    self.headers = response.getheaders()
                    self.clock.phase = "reading the response body"
                    self._read_body(response, cap)
                finally:
                    response.close()
            finally:
                sock.close()
        except OutboundError:
            raise
        except Exception as exc:
            raise _describe(exc, self.clock.phase) from None

    def _connect(
        self, target: _Target, addresses: list[IPAddress], connect_timeout: float
    ) -> socket.socket:
        """Dial the checked addresses in order, the way create_connection would for a name."""
        failures: list[OutboundError] = []
        for address in addresses:
            # A v4-mapped address is the IPv4 host; dialling it as IPv4 also works
            # where the IPv6 stack is disabled.
            dial = getattr(address, "ipv4_mapped", None) or address
            where = _endpoint(dial, target.port)
            self.clock.phase = f"connecting to {where}"
            timeout, overall = self.clock.budget(connect_timeout)
            self.dialled = True
            try:
                sock = _dial(dial, target.port, timeout)
            except TimeoutError:
                failures.append(self.clock.expired(overall, connect_timeout))
                if overall:
                    break
                continue
            except ConnectionRefusedError:
                failures.append(OutboundError("refused", f"Connection refused by {where}"))
                continue
            except OSError as exc:
                failures.append(
                    OutboundError("other", f"Could not connect to {where}: {exc.strerror or exc}")
                )
                continue
            self.address = str(dial)
            if target.scheme == "http":
                return sock
            try:
                return self._start_tls(sock, target, connect_timeout)
            except BaseException:
                sock.close()
                raise
        raise OutboundError(failures[-1].kind, "; ".join(f.message for f in failures))

    def _start_tls(
        self, sock: socket.socket, target: _Target, connect_timeout: float
    ) -> ssl.SSLSocket:
        """Handshake with the URL's host name for SNI and verification, not the dialled IP."""
        self.clock.phase = "doing the TLS handshake"
        context = ssl.create_default_context()
        name = target.host.removesuffix(".")
        try:
            return self.clock.call(
                sock, connect_timeout, lambda: context.wrap_socket(sock, server_hostname=name)
            )
        except ssl.SSLCertVerificationError as exc:
            raise OutboundError(
                "tls", f"TLS certificate verification failed for {name}: {exc.verify_message}"
            ) from None
        except ssl.SSLError as exc:
            raise OutboundError("tls", f"TLS handshake failed: {_ssl_detail(exc)}") from None

    def _read_body(self, response: http.client.HTTPResponse, cap: int) -> None:
        """Read at most cap + 1 bytes: enough to know the body was longer than the cap."""
        chunks: list[bytes] = []
        size = 0
        try:
            while size <= cap:
                data = response.read1(min(_READ_CHUNK, cap + 1 - size))
                if not data:
                    break
                chunks.append(data)
                size += len(data)
        finally:
            body = b"".join(chunks)
            self.body, self.truncated = body[:cap], len(body) > cap

    def result(self, started: float) -> OutboundResult:
        error = self.error
        return OutboundResult(
            status=self.status,
            reason=self.reason,
            headers=self.headers,
            body=self.body,
            truncated=self.truncated,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            error=error.message if error else None,
            error_kind=error.kind if error else None,
            address=self.address,
            dialled=self.dialled,
        )


def _dial(address: IPAddress, port: int, timeout: float) -> socket.socket:
    """Connect to exactly this IP.

    Not socket.create_connection: it runs even an IP literal through
    getaddrinfo, and after the policy check no resolver may be in the path.
    """
    sock = socket.socket(socket.AF_INET6 if address.version == 6 else socket.AF_INET)
    try:
        sock.settimeout(timeout)
        sock.connect((str(address), port))
    except BaseException:
        sock.close()
        raise
    return sock


def _ssl_detail(exc: ssl.SSLError) -> str:
    detail = (exc.reason or str(exc)).replace("_", " ").lower()
    if exc.reason == "WRONG_VERSION_NUMBER":
        detail += " (the server does not seem to speak TLS on this port; try http://)"
    return detail


def _describe(exc: Exception, phase: str) -> OutboundError:
    """Phrase an exception raised after connecting as a sentence for the user."""
    if isinstance(exc, ssl.SSLError):
        return OutboundError("tls", f"TLS error while {phase}: {_ssl_detail(exc)}")
    if isinstance(exc, http.client.RemoteDisconnected):
        return OutboundError("other", "The server closed the connection without sending a response")
    if isinstance(exc, http.client.LineTooLong):
        return OutboundError("too_large", f"The response head is too large ({exc})")
    if isinstance(exc, http.client.IncompleteRead):
        return OutboundError(
            "other", "The server closed the connection before the response body was complete"
        )
    if isinstance(exc, http.client.HTTPException):
        return OutboundError(
            "other",
            f"The server sent an invalid HTTP response while {phase} ({type(exc).__name__}: {exc})",
        )
    if isinstance(exc, ConnectionResetError):
        return OutboundError("other", f"The server reset the connection while {phase}")
    if isinstance(exc, OSError):
        return OutboundError("other", f"Network error while {phase}: {exc.strerror or exc}")
    return OutboundError("other", f"Unexpected error while {phase}: {type(exc).__name__}: {exc}")
