"""Search: one query syntax for a bin's requests, the same in the API (``?q=``), the dashboard's
search box and the live streams. The full syntax is in ``docs/search.md``.

A query is terms combined with AND (juxtaposition or ``AND``), ``OR`` (AND binds tighter),
``-term`` / ``NOT term`` and parentheses. A term is ``field:value`` (``method:POST``,
``path:/orders/*``, ``header:X-GitHub-Event=push``, ``body:"some text"``,
``json:data.object.status=succeeded``, ``verdict:invalid``, ``provider:stripe``,
``event:push``, ``retry:yes``, ``since:15m``, ``after:``/``before:`` an ISO 8601 time) or a
bare word or ``"quoted phrase"`` searched for anywhere. Matching ignores the case of the
letters A-Z everywhere; ``*`` in an unquoted value matches any run of characters.

:func:`parse` turns the text into a :class:`Query` or raises :class:`QueryError`, which names
the offending term and where it starts. A query then works two ways, which agree:

* in SQL, for the stored rows: every structured term (method, path, verdict, provider,
  event, retry, times) compiles to a where clause; ``provider:`` and ``event:`` are seeks of
  their indexes (revision 0008). A query made only of those is answered by one keyset
  query, like the unfiltered list (:func:`search`).
* in Python, for text terms (``header:``, ``body:``, ``json:``, bare words), which read
  headers and bodies: the rows SQL cannot rule out are scanned newest first, bodies read in
  batches, and the scan stops after a page of matches *or* a budget of rows and body bytes,
  returning the cursor to continue from (:class:`Page`). So one call never reads more than
  :data:`SCAN_BYTES` of bodies however big the bin, and a page may hold fewer matches than
  asked for while ``next_before`` still says there is more to look at.

To run only the rows SQL cannot rule out, each node has two SQL bounds: one every match
satisfies (``upper``) and one only matches satisfy (``lower``); a text term's are TRUE and
FALSE, and ``NOT`` swaps them. The scan reads the rows within ``upper`` and Python decides.
Every SQL term is written so it is never NULL (a NULL provider is "not stripe"), so ``NOT``
in SQL means what it means in Python.

The live streams use :func:`matching_ids`: a batch of new rows' ids that match, in Python
alone when the query has no text terms (the feed's summary rows carry every structured
column), else with one bounded read of those rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true

from webbin.storage.models import CapturedRequest, db
from webbin.storage.queries import SUMMARY_COLUMNS

# Bounds on one query's text and shape: a query is typed by a person (or pasted into a URL).
MAX_QUERY_CHARS = 1000
MAX_TERMS = 40
MAX_DEPTH = 16

# One search call reads at most this many rows and body bytes beyond what SQL rules out
# (always at least one row), then returns the cursor to continue from.
SCAN_ROWS = 2000
SCAN_BYTES = 4 * 1024 * 1024
# Candidate ids read per round of a scan.
SCAN_CHUNK = 500

VERDICTS = ("valid", "stale", "invalid", "unsigned", "unverified")
FIELDS = (
    "after",
    "before",
    "body",
    "event",
    "header",
    "json",
    "method",
    "path",
    "provider",
    "retry",
    "since",
    "verdict",
)
_YES = {"yes": True, "true": True, "no": False, "false": False}
_DURATION = re.compile(r"(\d{1,9})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_METHOD = re.compile(r"[A-Za-z0-9!#$%&'+.^_`|~-]{1,64}")
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z_-]*")
# str.lower() would also fold non-ASCII letters, which SQLite's lower() and LIKE do not.
_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

Row = Any  # anything with a captured request's attributes (an ORM object or a Core row)


def fold(text: str) -> str:
    """``text`` with A-Z lower-cased and nothing else changed."""
    return text.translate(_FOLD)


class QueryError(ValueError):
    """A malformed query: ``message`` names the offending term; ``start``/``end`` are its
    character offsets in the query (0-based, end exclusive)."""

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = max(end, start + 1)


# --- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    text: str
    quoted: bool


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "(", ")", "-"
    start: int
    end: int
    parts: tuple[_Part, ...] = ()

    @property
    def raw(self) -> str:
        return "".join(p.text for p in self.parts)

    @property
    def keyword(self) -> str | None:
        """OR, AND or NOT when the word is exactly that, unquoted."""
        if len(self.parts) == 1 and not self.parts[0].quoted:
            word = self.parts[0].text
            if word in ("OR", "AND", "NOT"):
                return word
        return None


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, i, i + 1))
            i += 1
        elif char == "-" and (not tokens or _separated(text, i)):
            if i + 1 >= n or text[i + 1].isspace() or text[i + 1] == ")":
                raise QueryError('"-" must come right before the term it negates.', i, i + 1)
            tokens.append(_Token("-", i, i + 1))
            i += 1
        else:
            i = _word(text, i, tokens)
    return tokens


def _separated(text: str, i: int) -> bool:
    """A "-" starts a negation only at the start of a word (not inside "a-b")."""
    return i == 0 or text[i - 1].isspace() or text[i - 1] == "("


def _word(text: str, start: int, tokens: list[_Token]) -> int:
    """Read one word (unquoted runs and "quoted strings" glued together) from ``start``."""
    parts: list[_Part] = []
    i, n = start, len(text)
    plain: list[str] = []
    while i < n and not text[i].isspace() and text[i] not in "()":
        if text[i] != '"':
            plain.append(text[i])
            i += 1
            continue
        if plain:
            parts.append(_Part("".join(plain), False))
            plain = []
        quote, i = i, i + 1
        chars: list[str] = []
        while i < n and text[i] != '"':
            if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\':
                i += 1
            chars.append(text[i])
            i += 1
        if i >= n:
            raise QueryError("This quote is never closed.", quote, n)
        parts.append(_Part("".join(chars), True))
        i += 1
    if plain:
        parts.append(_Part("".join(plain), False))
    tokens.append(_Token("word", start, i, tuple(parts)))
    return i


def _split(parts: Sequence[_Part], sep: str) -> tuple[list[_Part], list[_Part] | None]:
    """``parts`` split at the first unquoted ``sep``: (before, after), or (parts, None)."""
    for index, part in enumerate(parts):
        at = -1 if part.quoted else part.text.find(sep)
        if at >= 0:
            before = [*parts[:index], _Part(part.text[:at], False)]
            after = [_Part(part.text[at + 1 :], False), *parts[index + 1 :]]
            return [p for p in before if p.text], [p for p in after if p.text]
    return list(parts), None


def _text(parts: Iterable[_Part]) -> str:
    return "".join(p.text for p in parts)


# --- globs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Glob:
    """A value where each unquoted ``*`` matches any run of characters; A-Z fold."""

    chunks: tuple[str, ...]  # the literal text between the stars, folded

    @classmethod
    def of(cls, parts: Iterable[_Part]) -> Glob:
        chunks, current = [], []
        for part in parts:
            if part.quoted:
                current.append(part.text)
                continue
            pieces = part.text.split("*")
            current.append(pieces[0])
            for piece in pieces[1:]:
                chunks.append("".join(current))
                current = [piece]
        chunks.append("".join(current))
        return cls(tuple(fold(chunk) for chunk in chunks))

    @property
    def literal(self) -> str | None:
        """The folded value when it has no star."""
        return self.chunks[0] if len(self.chunks) == 1 else None

    def match(self, value: str) -> bool:
        """Linear time whatever the pattern (no regex backtracking): the first chunk is a
        prefix, the last a suffix, the ones between are found leftmost, in order."""
        value = fold(value)
        if len(self.chunks) == 1:
            return value == self.chunks[0]
        first, *middle, last = self.chunks
        if len(value) < len(first) + len(last):
            return False
        if not value.startswith(first) or not value.endswith(last):
            return False
        at, stop = len(first), len(value) - len(last)
        for chunk in middle:
            found = value.find(chunk, at, stop)
            if found < 0:
                return False
            at = found + len(chunk)
        return True

    def like(self) -> str:
        """The LIKE pattern (escape character ``\\``) for the folded value."""
        return "%".join(re.sub(r"([\\%_])", r"\\\1", chunk) for chunk in self.chunks)

    def sql(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        """``column`` matches, compared folded; never NULL."""
        lowered = func.lower(column)
        literal = self.literal
        test = lowered == literal if literal is not None else lowered.like(self.like(), "\\")
        return and_(column.is_not(None), test)


# --- the tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One term: its SQL condition (None for a text term, which only Python can decide),
    its Python test, and the columns beyond the summary that test reads."""

    field: str
    start: int
    end: int
    test: Callable[[Row], bool]
    sql: ColumnElement[bool] | None = None
    needs: frozenset[str] = frozenset()

    def matches(self, row: Row) -> bool:
        return self.test(row)

    def bounds(self) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        return (self.sql, self.sql) if self.sql is not None else (true(), false())

    def terms(self) -> Iterable[Term]:
        yield self


@dataclass(frozen=True)
class Not:
    child: Node

    def matches(self, row: Row) -> bool:
        return not self.child.matches(row)

    def bounds(self) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        upper, lower = self.child.bounds()
        return not_(lower), not_(upper)

    def terms(self) -> Iterable[Term]:
        return self.child.terms()


@dataclass(frozen=True)
class All:
    children: tuple[Node, ...]

    def matches(self, row: Row) -> bool:
        return all(child.matches(row) for child in self.children)

    def bounds(self) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        uppers, lowers = zip(*(child.bounds() for child in self.children), strict=True)
        return and_(*uppers), and_(*lowers)

    def terms(self) -> Iterable[Term]:
        for child in self.children:
            yield from child.terms()


@dataclass(frozen=True)
class Any_:
    children: tuple[Node, ...]

    def matches(self, row: Row) -> bool:
        return any(child.matches(row) for child in self.children)

    def bounds(self) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        uppers, lowers = zip(*(child.bounds() for child in self.children), strict=True)
        return or_(*uppers), or_(*lowers)

    def terms(self) -> Iterable[Term]:
        for child in self.children:
            yield from child.terms()


Node = Term | Not | All | Any_


@dataclass(frozen=True)
class Query:
    """A parsed query. The empty query matches everything."""

    text: str
    root: Node | None
    # Columns beyond the summary its Python test reads ("headers", "body").
    needs: frozenset[str] = field(default=frozenset())

    @property
    def exact(self) -> bool:
        """The SQL condition decides alone (no text term)."""
        return self.root is None or all(term.sql is not None for term in self.root.terms())

    def where(self) -> ColumnElement[bool]:
        """A condition every match satisfies; exactly the query when :attr:`exact`."""
        return true() if self.root is None else self.root.bounds()[0]

    def matches(self, row: Row) -> bool:
        """The query's verdict on ``row``, which must carry the columns in :attr:`needs`."""
        return self.root is None or self.root.matches(row)


# --- parsing ------------------------------------------------------------------------------


def parse(
    text: str,
    *,
    now: datetime | None = None,
    providers: Collection[str] | None = None,
) -> Query:
    """The query ``text`` means; :class:`QueryError` if it is malformed.

    ``now`` anchors relative times (``since:15m``); ``providers``, when given, are the
    names ``provider:`` accepts (a misspelt one is an error, not an empty list).
    """
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"The query is longer than {MAX_QUERY_CHARS} characters.", MAX_QUERY_CHARS, len(text)
        )
    parser = _Parser(text, _tokens(text), now or datetime.now(UTC), providers)
    root = parser.parse()
    needs = frozenset().union(*(t.needs for t in root.terms())) if root else frozenset()
    return Query(text=text, root=root, needs=needs)


class _Parser:
    """Recursive descent: or := and ("OR" and)*; and := unary (["AND"] unary)*;
    unary := ("-" | "NOT") unary | "(" or ")" | term."""

    def __init__(
        self,
        text: str,
        tokens: list[_Token],
        now: datetime,
        providers: Collection[str] | None,
    ) -> None:
        self.text = text
        self.tokens = tokens
        self.at = 0
        self.now = now
        self.providers = providers
        self.count = 0

    def parse(self) -> Node | None:
        if not self.tokens:
            return None
        node = self._or(0)
        if self.at < len(self.tokens):
            token = self.tokens[self.at]
            raise QueryError('This ")" closes nothing.', token.start, token.end)
        return node

    def _peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _or(self, depth: int) -> Node:
        children = [self._and(depth)]
        while (token := self._peek()) is not None and token.keyword == "OR":
            self.at += 1
            if self._peek() is None or self._peek().kind == ")" or self._peek().keyword == "OR":
                raise QueryError('"OR" needs a term on both sides.', token.start, token.end)
            children.append(self._and(depth))
        return children[0] if len(children) == 1 else Any_(tuple(children))

    def _and(self, depth: int) -> Node:
        children = [self._unary(depth)]
        while (token := self._peek()) is not None and token.kind != ")" and token.keyword != "OR":
            if token.keyword == "AND":
                self.at += 1
                following = self._peek()
                if following is None or following.kind == ")" or following.keyword == "OR":
                    raise QueryError('"AND" needs a term on both sides.', token.start, token.end)
                continue
            children.append(self._unary(depth))
        return children[0] if len(children) == 1 else All(tuple(children))

    def _unary(self, depth: int) -> Node:
        token = self._peek()
        if token is None:
            end = len(self.text)
            raise QueryError("The query ends where a term should follow.", end, end + 1)
        if depth > MAX_DEPTH:
            raise QueryError("Too many nested groups or negations.", token.start, token.end)
        if token.kind == "-" or token.keyword == "NOT":
            self.at += 1
            if self._peek() is None:
                word = self.text[token.start : token.end]
                raise QueryError(f'"{word}" negates nothing.', token.start, token.end)
            return Not(self._unary(depth + 1))
        if token.kind == "(":
            self.at += 1
            if (inner := self._peek()) is not None and inner.kind == ")":
                raise QueryError("This group is empty.", token.start, inner.end)
            node = self._or(depth + 1)
            closing = self._peek()
            if closing is None or closing.kind != ")":
                raise QueryError('This "(" is never closed.', token.start, token.end)
            self.at += 1
            return node
        if token.kind == ")":
            raise QueryError('This ")" closes nothing.', token.start, token.end)
        if token.keyword in ("AND", "OR"):
            message = f'"{token.keyword}" needs a term on both sides.'
            raise QueryError(message, token.start, token.end)
        self.at += 1
        self.count += 1
        if self.count > MAX_TERMS:
            raise QueryError(f"The query has more than {MAX_TERMS} terms.", token.start, token.end)
        return _Terms(self, token).build()


class _Terms:
    """Builds the Term one word means."""

    def __init__(self, parser: _Parser, token: _Token) -> None:
        self.parser = parser
        self.token = token
        self.word = parser.text[token.start : token.end]

    def fail(self, message: str) -> QueryError:
        return QueryError(message, self.token.start, self.token.end)

    def term(self, name: str, test: Callable[[Row], bool], **extra: Any) -> Term:
        return Term(name, self.token.start, self.token.end, test, **extra)

    def build(self) -> Term:
        parts = self.token.parts
        first = parts[0]
        name, colon, _ = first.text.partition(":")
        if first.quoted or not colon or not _FIELD_NAME.fullmatch(name):
            return self.text(_text(parts))
        name = name.lower()
        if name not in FIELDS:
            raise self.fail(
                f'Unknown field "{name}" in {self.word}. Fields: {", ".join(FIELDS)}. '
                f'To search for the text itself, quote it: "{_text(parts)}".'
            )
        _, value = _split(parts, ":")
        if not value:
            raise self.fail(f"{name}: needs a value, as in {_EXAMPLES[name]}.")
        return getattr(self, name)(value)

    # --- text terms ---------------------------------------------------------------------

    def text(self, needle: str) -> Term:
        if not needle:
            raise self.fail('An empty "" matches nothing: put text between the quotes.')
        folded, raw = fold(needle), needle.encode("utf-8", "surrogateescape").lower()

        def test(row: Row) -> bool:
            if raw in (row.body or b"").lower():
                return True
            fields = [row.method, row.path, row.query_string, row.provider or "", row.event or ""]
            fields.extend(text for pair in row.headers for text in pair)
            return any(folded in fold(text) for text in fields)

        return self.term("text", test, needs=frozenset({"headers", "body"}))

    def body(self, value: list[_Part]) -> Term:
        raw = _text(value).encode("utf-8", "surrogateescape").lower()
        return self.term(
            "body", lambda row: raw in (row.body or b"").lower(), needs=frozenset({"body"})
        )

    def header(self, value: list[_Part]) -> Term:
        name_parts, wanted = _split(value, "=")
        name = fold(_text(name_parts))
        if not name:
            raise self.fail("header: needs a header name, as in header:X-GitHub-Event=push.")
        pattern = Glob.of(wanted) if wanted is not None else None

        def test(row: Row) -> bool:
            return any(
                fold(n) == name and (pattern is None or pattern.match(v)) for n, v in row.headers
            )

        return self.term("header", test, needs=frozenset({"headers"}))

    def json(self, value: list[_Part]) -> Term:
        path_parts, wanted = _split(value, "=")
        path = _json_path(path_parts)
        if not path:
            raise self.fail("json: needs a path, as in json:data.object.status=succeeded.")
        pattern = Glob.of(wanted) if wanted is not None else None

        def test(row: Row) -> bool:
            data = _json_body(row.body or b"")
            if data is _NOT_JSON:
                return False
            return any(
                pattern is None or (scalar is not None and pattern.match(scalar))
                for scalar in _scalars(_walk(data, path))
            )

        return self.term("json", test, needs=frozenset({"body"}))

    # --- SQL terms ----------------------------------------------------------------------

    def method(self, value: list[_Part]) -> Term:
        method = _text(value)
        if not _METHOD.fullmatch(method):
            raise self.fail(f"{self.word} is not an HTTP method name.")
        method = method.upper()
        return self.term(
            "method",
            lambda row: row.method.upper() == method,
            sql=func.upper(CapturedRequest.method) == method,
        )

    def path(self, value: list[_Part]) -> Term:
        if not (value[0].text.startswith("/") or value[0].text.startswith("*")):
            value = [_Part("/", True), *value]
        pattern = Glob.of(value)
        return self.term(
            "path", lambda row: pattern.match(row.path), sql=pattern.sql(CapturedRequest.path)
        )

    def verdict(self, value: list[_Part]) -> Term:
        verdict = fold(_text(value))
        if verdict not in VERDICTS:
            raise self.fail(f"{self.word}: a verdict is one of {', '.join(VERDICTS)}.")
        column = CapturedRequest.signature_status
        return self.term(
            "verdict",
            lambda row: row.signature_status == verdict,
            sql=and_(column.is_not(None), column == verdict),
        )

    def provider(self, value: list[_Part]) -> Term:
        pattern = Glob.of(value)
        literal = pattern.literal
        known = self.parser.providers
        if literal is not None and known is not None and literal not in known:
            names = ", ".join(sorted(known))
            raise self.fail(f"{self.word}: webbin knows no such provider. Known: {names}.")
        column = CapturedRequest.provider
        # Stored names are lower-case already: an exact name is a plain seek of the index.
        sql = and_(column.is_not(None), column == literal) if literal else pattern.sql(column)
        return self.term(
            "provider",
            lambda row: row.provider is not None and pattern.match(row.provider),
            sql=sql,
        )

    def event(self, value: list[_Part]) -> Term:
        pattern = Glob.of(value)
        return self.term(
            "event",
            lambda row: row.event is not None and pattern.match(row.event),
            sql=pattern.sql(CapturedRequest.event),
        )

    def retry(self, value: list[_Part]) -> Term:
        wanted = _YES.get(fold(_text(value)))
        if wanted is None:
            raise self.fail(f"{self.word}: retry: takes yes or no.")
        column = CapturedRequest.duplicate_of
        return self.term(
            "retry",
            lambda row: (row.duplicate_of is not None) == wanted,
            sql=column.is_not(None) if wanted else column.is_(None),
        )

    def since(self, value: list[_Part]) -> Term:
        return self._time("since", value, later=True)

    def after(self, value: list[_Part]) -> Term:
        return self._time("after", value, later=True)

    def before(self, value: list[_Part]) -> Term:
        return self._time("before", value, later=False)

    def _time(self, name: str, value: list[_Part], *, later: bool) -> Term:
        moment = self._moment(_text(value))
        column = CapturedRequest.received_at
        if later:
            return self.term(
                name, lambda row: _utc(row.received_at) >= moment, sql=column >= moment
            )
        return self.term(name, lambda row: _utc(row.received_at) < moment, sql=column < moment)

    def _moment(self, text: str) -> datetime:
        """A duration ago (15m, 2h, 1d, 1h30m) or an ISO 8601 time (UTC unless it says)."""
        if _DURATION.match(text):
            pieces = _DURATION.findall(text)
            if "".join(a + b for a, b in pieces) != text:
                raise self.fail(f"{self.word}: write a duration as 15m, 2h, 1d or 1h30m.")
            try:
                ago = timedelta()
                for amount, unit in pieces:
                    ago += timedelta(**{_UNITS[unit]: int(amount)})
                return self.parser.now - ago
            except OverflowError:
                raise self.fail(f"{self.word}: that is further back than dates go.") from None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(
                f"{self.word}: not a duration (15m, 2h, 1d) or an ISO 8601 time "
                "(2026-11-24, 2026-11-24T10:30:00Z)."
            ) from None
        return _utc(moment)


_EXAMPLES = {
    "after": "after:2026-11-24T10:00:00Z",
    "before": "before:2026-11-24",
    "body": 'body:"some text"',
    "event": "event:push",
    "header": "header:X-GitHub-Event=push",
    "json": "json:data.object.status=succeeded",
    "method": "method:POST",
    "path": "path:/orders/*",
    "provider": "provider:stripe",
    "retry": "retry:yes",
    "since": "since:15m",
    "verdict": "verdict:invalid",
}


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes, which webbin always stores as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- JSON bodies --------------------------------------------------------------------------

_NOT_JSON = object()
_ANY = object()  # a "*" path segment: every key or element


def _json_path(parts: Sequence[_Part]) -> list[Any]:
    """Dotted path segments; an unquoted ``*`` alone is any key or element, a quoted
    segment may hold dots (``json:"a.b".c``)."""
    segments: list[Any] = []
    current: list[_Part] = []
    rest = list(parts)
    while rest:
        before, after = _split(rest, ".")
        current = before
        if len(current) == 1 and not current[0].quoted and current[0].text == "*":
            segments.append(_ANY)
        elif current:
            segments.append(_text(current))
        if after is None:
            break
        rest = after
    return segments


def _json_body(body: bytes) -> Any:
    if body.lstrip()[:1] not in (b"{", b"["):
        return _NOT_JSON
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _walk(data: Any, path: Sequence[Any]) -> Iterable[Any]:
    """Every value at ``path``: a number steps into an array, ``*`` into every member, and a
    name applied to an array applies to each of its elements."""
    if not path:
        yield data
        return
    step, rest = path[0], path[1:]
    if isinstance(data, dict):
        if step is _ANY:
            for value in data.values():
                yield from _walk(value, rest)
        elif step in data:
            yield from _walk(data[step], rest)
    elif isinstance(data, list):
        if step is _ANY:
            for value in data:
                yield from _walk(value, rest)
        elif isinstance(step, str) and step.isdigit():
            index = int(step)
            if index < len(data):
                yield from _walk(data[index], rest)
        else:
            for value in data:
                yield from _walk(value, path)


def _scalars(values: Iterable[Any]) -> Iterable[str | None]:
    """Each value as text to compare (JSON's spelling of numbers, true, false and null);
    None for objects and arrays, which only a presence test matches."""
    for value in values:
        if isinstance(value, str):
            yield value
        elif value is None or isinstance(value, bool | int | float):
            yield json.dumps(value)
        else:
            yield None


# --- running a query ----------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """Matches newest first, and where to continue: ``next_before`` is the id to pass as
    ``before`` for the next page (None: nothing older is left to look at)."""

    rows: list[Row]
    next_before: int | None


def _columns(needs: frozenset[str]) -> list[Any]:
    extra = [CapturedRequest.headers] if "headers" in needs else []
    if "body" in needs:
        extra.append(CapturedRequest.body)
    return [*SUMMARY_COLUMNS, *extra]


def search(bin_id: str, query: Query, before: int | None, limit: int) -> Page:
    """One page of ``bin_id``'s requests matching ``query``, newest first, older than
    ``before``: one keyset query when SQL decides alone, else a bounded scan."""
    base = (CapturedRequest.bin_id == bin_id, query.where())

    def older(cursor: int | None) -> tuple[ColumnElement[bool], ...]:
        return base if cursor is None else (*base, CapturedRequest.id < cursor)

    newest_first = CapturedRequest.id.desc()
    if query.exact:
        statement = select(*SUMMARY_COLUMNS).where(*older(before)).order_by(newest_first)
        rows = list(db.session.execute(statement.limit(limit)))
        return Page(rows, rows[-1].id if len(rows) == limit else None)
    matches: list[Row] = []
    scanned_rows = scanned_bytes = 0
    cursor = before  # the oldest id scanned so far
    while scanned_rows < SCAN_ROWS:
        candidates = list(
            db.session.execute(
                select(CapturedRequest.id, CapturedRequest.size)
                .where(*older(cursor))
                .order_by(newest_first)
                .limit(SCAN_CHUNK)
            )
        )
        chosen: list[int] = []
        for candidate in candidates:
            cost = candidate.size if "body" in query.needs else 0
            if scanned_rows and (scanned_rows >= SCAN_ROWS or scanned_bytes + cost > SCAN_BYTES):
                break
            chosen.append(candidate.id)
            scanned_rows += 1
            scanned_bytes += cost
        for row in _full_rows(chosen, query.needs):
            if query.matches(row):
                matches.append(row)
                if len(matches) == limit:
                    return Page(matches, row.id)
        if chosen:
            cursor = chosen[-1]
        if len(chosen) < len(candidates):  # the budget ran out here
            return Page(matches, cursor)
        if len(candidates) < SCAN_CHUNK:  # nothing older is left
            return Page(matches, None)
    return Page(matches, cursor)


def _full_rows(ids: list[int], needs: frozenset[str]) -> list[Row]:
    """The rows ``ids`` with the extra columns, newest first, read in the caller's session."""
    if not ids:
        return []
    return list(
        db.session.execute(
            select(*_columns(needs))
            .where(CapturedRequest.id.in_(ids))
            .order_by(CapturedRequest.id.desc())
        )
    )


def matching_ids(query: Query, rows: Sequence[Row]) -> set[int]:
    """The ids of ``rows`` (summary rows, as the live feed reads them) that match.

    Without text terms, Python decides from the rows alone. Otherwise the rows SQL does not
    rule out are read again with their headers and bodies, in batches of at most
    :data:`SCAN_BYTES` of bodies, each on its own short connection (a live stream must not
    keep a transaction open).
    """
    if not query.needs:
        return {row.id for row in rows if query.matches(row)}
    found: set[int] = set()
    batch: list[int] = []
    size = 0
    for row in rows:
        if batch and size + row.size > SCAN_BYTES:
            found |= _matching_batch(query, batch)
            batch, size = [], 0
        batch.append(row.id)
        size += row.size
    if batch:
        found |= _matching_batch(query, batch)
    return found


def _matching_batch(query: Query, ids: list[int]) -> set[int]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(*_columns(query.needs)).where(CapturedRequest.id.in_(ids), query.where())
        )
        return {row.id for row in rows if query.matches(row)}
