"""Turn captured request body bytes into plain data a template can show.

The body comes from strangers, so everything here is defensive: nothing raises
on hostile input, every expensive step is capped, and the result is data only
(strings, lists, dataclasses). No HTML is produced; the template auto-escapes.

JSON is re-indented from its own text rather than round-tripped through Python
objects, so numbers, key order and duplicate keys stay exactly as written
(``json.loads`` would turn ``1.10`` into ``1.1`` and refuse integers longer than
4300 digits). ``json.loads`` is still used, hooks stubbed out, to validate. A long
pretty JSON body also comes as lines and nodes (``tree``) that the template lays out as
``<details>`` elements, so objects and arrays fold without any script on the page.

Views that reformat a text body (JSON, form fields, multipart parts) also carry it as
received (``raw``), for a raw/pretty toggle.
"""

import codecs
import encodings
import json
import pkgutil
import re
import zlib
from dataclasses import dataclass, field
from functools import cache
from itertools import chain, groupby
from operator import itemgetter
from urllib.parse import unquote_to_bytes

from pygments.lexers import JsonLexer
from pygments.token import STANDARD_TYPES, _TokenType

DECOMPRESS_CAP = 8 * 1024 * 1024  # bytes a Content-Encoding may inflate to
JSON_VALIDATE_CAP = 2 * 1024 * 1024  # bodies above this are re-indented unvalidated
JSON_CAP = 256 * 1024  # characters of pretty JSON tokenised: JsonLexer costs ~0.5 s/MiB
TEXT_CAP = 512 * 1024  # bytes decoded as text; also form bytes parsed and multipart text
HEX_CAP = 64 * 1024  # bytes hex-dumped; also the budget for part hex previews
MAX_FIELDS = 1000
MAX_PARTS = 1000
MAX_CODINGS = 4  # stacked Content-Encodings decoded
MAX_BOUNDARY = 200  # RFC 2046 allows 70; be lenient, but not unbounded
PART_TEXT_CAP = 64 * 1024  # bytes of one part decoded as text
PART_HEX_CAP = 256  # bytes of a binary part hex-dumped as a preview
PART_HEADER_CAP = 16 * 1024  # bytes searched for the end of a part's headers
TREE_MIN_LINES = 40  # pretty JSON longer than this folds (shorter reads best whole)
TREE_MAX_NODES = 2000  # foldable objects and arrays at most; later ones are plain lines
TREE_MAX_DEPTH = 32  # nested <details> at most; deeper containers are plain lines

FORM = "application/x-www-form-urlencoded"
_TEXT_TYPES = frozenset(
    {
        FORM,
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/graphql",
        "application/sql",
        "application/csv",
        "application/x-ndjson",
        "application/x-sh",
    }
)
# Codecs that decode but are not charsets a sender could mean.
_NOT_CHARSETS = frozenset(
    {
        "aliases",
        "charmap",
        "idna",
        "punycode",
        "raw_unicode_escape",
        "unicode_escape",
        "undefined",
    }
)
# Only labels naming a real codec module or alias reach codecs.lookup: the
# encodings package caches every miss forever, so arbitrary attacker labels
# would grow memory without bound.
_KNOWN_CODECS = (
    frozenset(m.name for m in pkgutil.iter_modules(encodings.__path__))
    | frozenset(encodings.aliases.aliases)
) - _NOT_CHARSETS

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_START = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*+[\[{]")
_JSON_TOKEN = re.compile(
    r"""[ \t\n\r]*+(?:
      (?P<open>[{\[])
    | (?P<close>[}\]])
    | (?P<comma>,)
    | (?P<colon>:)
    | (?P<str>"[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*+)*+")
    | (?P<atom>-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?(?:[eE][-+]?[0-9]++)?
        |true|false|null|NaN|-?Infinity)
    )""",
    re.VERBOSE,
)
_PARAM = re.compile(r'([^=;\s]+)\s*+(?:=\s*+("[^"\\]*+(?:\\.[^"\\]*+)*+"?|[^;]*+))?', re.DOTALL)
_UNESCAPE = re.compile(r'\\(["\\])')
_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))
_LEXER = JsonLexer()


@dataclass(frozen=True)
class Part:
    """One part of a multipart body.

    ``content_type`` is the part's raw Content-Type header value (parameters
    included). ``text`` is the body decoded (part charset if known, else UTF-8)
    when it decodes cleanly with no control characters but tab/CR/LF, cut to
    PART_TEXT_CAP bytes and the shared text budget; ``truncated`` says that cut
    happened. ``hexdump`` (added field) previews the first PART_HEX_CAP bytes
    of a part that is not text, while the shared hex budget lasts.
    """

    index: int
    name: str | None
    filename: str | None
    content_type: str | None
    size: int
    headers: list[tuple[str, str]]
    text: str | None
    truncated: bool
    hexdump: str | None = None


@dataclass(slots=True)
class JsonLine:
    """One step of a folding JSON view, in document order.

    kind: "open" (a line opening an object or array that folds: the ``<summary>``),
    "line" (any other line, a closing bracket included) or "close" (the end of the fold).
    ``closed`` is what a folded node shows after its first line (`` … ], 3 items``);
    ``newline`` says a line break follows (every line but the last).
    """

    kind: str
    tokens: list[tuple[str, str]] = field(default_factory=list)
    closed: str = ""
    newline: bool = False


@dataclass(frozen=True)
class BodyView:
    """What the template shows for one body; only the fields of ``kind`` are set.

    kind: "empty", "json", "form", "multipart", "text" or "binary".
    tokens: json: (Pygments short css class, text) pairs; joined they are the
      pretty-printed JSON (indent 2, non-ASCII unescaped, numbers and keys as written).
    text: text: the decoded text. fields: form: (name, value) in body order.
    parts: multipart: the parts. hexdump: binary: ``hexdump -C`` style lines.
    truncated: a cap was hit. For multipart: too many parts, or some part's text
      was cut (binary part previews do not count).
    note: short sentences explaining decoding, fallbacks and caps.
    tree: json, when the pretty text is long: the same tokens as folding lines.
    raw: json, form, multipart: the body as received, decoded but not reformatted,
      when it is text (first TEXT_CAP bytes); ``raw_truncated`` says it was cut.
    """

    kind: str
    tokens: list[tuple[str, str]] | None = None
    text: str | None = None
    fields: list[tuple[str, str]] | None = None
    parts: list[Part] | None = None
    hexdump: str | None = None
    truncated: bool = False
    note: str | None = None
    tree: list[JsonLine] | None = None
    raw: str | None = None
    raw_truncated: bool = False


@dataclass
class _Budget:
    """Output left for all multipart previews together, so 1000 parts stay cheap."""

    text: int = TEXT_CAP
    hex: int = HEX_CAP


def render_body(
    body: bytes, content_type: str | None, content_encoding: str | None = None
) -> BodyView:
    """Pick the most readable view of a body from its declared type and its bytes."""
    data: bytes | None = body
    notes: list[str] = []
    if content_encoding and body:
        data, notes = _decode_content(body, content_encoding)
        if data is None:
            return _binary_view(body, notes)
    if not data:
        return BodyView("empty", note=_join(notes))
    media, params = _parse_params(content_type or "")
    label = params.get("charset", "")
    codec = _codec(label)
    if label and codec is None:
        notes.append(f"Unknown charset {_shorten(label)}: decoded as UTF-8.")
    codec = codec or "utf-8"
    mismatch = None
    json_tried = False
    if media.startswith("multipart/"):
        view = _multipart_view(data, params.get("boundary", ""), notes)
        if isinstance(view, BodyView):
            return view
        mismatch = f"Content-Type says multipart but {view}"
    elif media == "application/json" or media.endswith("+json") or media == "text/json":
        json_tried = True
        view = _json_view(data, codec, notes)
        if isinstance(view, BodyView):
            return view
        mismatch = f"Content-Type says JSON but {view}"
    if not json_tried and _JSON_START.match(data):
        said = mismatch or (media and f"Content-Type says {_shorten(media)} but the body is JSON")
        view = _json_view(data, codec, [*notes, f"{said}: shown as JSON."] if said else notes)
        if isinstance(view, BodyView):
            return view
        if not mismatch and not _is_texty(media):
            mismatch = f"The body starts like JSON but {view}"
    if media == FORM:
        view = _form_view(data, codec, notes)
        if isinstance(view, BodyView):
            return view
        mismatch = f"Content-Type says {FORM} but {view}"
    return _text_view(data, codec, _is_texty(media), media, mismatch, notes)


def multipart_part(
    body: bytes, content_type: str | None, index: int, content_encoding: str | None = None
) -> tuple[Part, bytes] | None:
    """One part and its exact bytes, for download; None if there is no such part.

    Pass the same content_encoding as to render_body so indexes agree. Text and
    hex previews use a fresh budget, so they can be longer than render_body's.
    """
    data: bytes | None = body
    if content_encoding and body:
        data, _ = _decode_content(body, content_encoding)
    media, params = _parse_params(content_type or "")
    boundary = params.get("boundary", "")
    multipart = media.startswith("multipart/") and 0 < len(boundary) <= MAX_BOUNDARY
    if data is None or index < 0 or not multipart:
        return None
    spans, _ = _split_parts(data, _boundary_bytes(boundary), index + 1)
    if index >= len(spans):
        return None
    start, end = spans[index]
    return _make_part(index, data[start:end], _Budget())


def hexdump(data: bytes, limit: int = HEX_CAP) -> tuple[str, bool]:
    """``hexdump -C`` style lines for the first ``limit`` bytes, and whether that cut data."""
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        row = data[offset : min(offset + 16, limit)]
        ascii_ = row.translate(_PRINTABLE).decode("ascii")
        lines.append(f"{offset:08x}  {row[:8].hex(' '):<23}  {row[8:].hex(' '):<23}  |{ascii_}|")
    return "\n".join(lines), len(data) > limit


# --- kinds -----------------------------------------------------------------


def _json_view(data: bytes, codec: str, notes: list[str]) -> BodyView | str:
    """JSON view, or why the body is not JSON (a clause for a note)."""
    validated = len(data) <= JSON_VALIDATE_CAP
    try:
        sig_codec = "utf-8-sig" if codec == "utf-8" else codec  # tolerate a UTF-8 BOM
        text = _decode(data[:JSON_VALIDATE_CAP], sig_codec, "strict", validated)
    except ValueError:
        return f"the body is not valid {codec}"
    text = _SURROGATE.sub("\ufffd", text)
    if validated:
        try:
            # Stub number hooks: only validity matters here, and int() would
            # reject integers over 4300 digits.
            json.loads(text, parse_int=len, parse_float=len, parse_constant=len)
        except json.JSONDecodeError as exc:
            return f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        except RecursionError:
            return "the JSON is nested too deeply to display"
    pretty = _reindent(text, JSON_CAP)
    # An unvalidated prefix counts as JSON only if it fills the display cap.
    if pretty is None or not (validated or pretty[2]):
        return (
            "the body is not valid JSON" if validated else "the body is too large to check as JSON"
        )
    text, tail, truncated = pretty
    if truncated and validated:
        cap = _human(JSON_CAP)
        notes = [*notes, f"Pretty-printed JSON is over {cap}: showing the first {cap}."]
    elif truncated:
        notes = [
            *notes,
            f"Body is {_human(len(data))}, too large to validate as JSON: "
            f"showing the first {_human(JSON_CAP)}, pretty-printed.",
        ]
    tokens = _highlight(text, tail)
    raw, raw_cut = _raw_text(data, codec)
    return BodyView(
        "json",
        tokens=tokens,
        truncated=truncated,
        note=_join(notes),
        tree=_tree(tokens),
        raw=raw,
        raw_truncated=raw_cut,
    )


def _form_view(data: bytes, codec: str, notes: list[str]) -> BodyView | str:
    """Form fields decoded like a browser, or why the body is not a form."""
    complete = len(data) <= TEXT_CAP
    chunk = data[:TEXT_CAP]
    if _CONTROL_BYTES.search(chunk):
        return "the body is binary"
    fields: list[tuple[str, str]] = []
    segments = [s for s in chunk.split(b"&") if s]
    for segment in segments[:MAX_FIELDS]:
        name, _, value = segment.partition(b"=")
        fields.append((_form_decode(name, codec), _form_decode(value, codec)))
    notes = list(notes)
    if not complete:
        notes.append(
            f"Body is {_human(len(data))}: showing the fields in the first {_human(TEXT_CAP)}."
        )
    if len(segments) > MAX_FIELDS:
        notes.append(f"More than {MAX_FIELDS:,} fields: showing the first {MAX_FIELDS:,}.")
    truncated = not complete or len(segments) > MAX_FIELDS
    raw, raw_cut = _raw_text(data, codec)
    return BodyView(
        "form",
        fields=fields,
        truncated=truncated,
        note=_join(notes),
        raw=raw,
        raw_truncated=raw_cut,
    )


def _multipart_view(data: bytes, boundary: str, notes: list[str]) -> BodyView | str:
    """Multipart view, or why the body cannot be split (a clause for a note)."""
    if not boundary:
        return "has no boundary parameter"
    if len(boundary) > MAX_BOUNDARY:
        return f"the boundary is over {MAX_BOUNDARY} characters"
    spans, ending = _split_parts(data, _boundary_bytes(boundary), MAX_PARTS)
    if ending == "missing":
        return "its boundary is not in the body"
    budget = _Budget()
    parts = [_make_part(i, data[start:end], budget)[0] for i, (start, end) in enumerate(spans)]
    notes = list(notes)
    if ending == "more":
        notes.append(f"More than {MAX_PARTS:,} parts: showing the first {MAX_PARTS:,}.")
    elif ending == "open":
        notes.append("The body ends without a closing boundary: it may be truncated.")
    cut = any(p.truncated for p in parts)
    if cut:
        notes.append(
            f"Part text is capped ({_human(PART_TEXT_CAP)} a part, {_human(TEXT_CAP)} in all):"
            " download a part to see all of it."
        )
    truncated = ending == "more" or cut
    raw, raw_cut = _raw_text(data, "utf-8")
    return BodyView(
        "multipart",
        parts=parts,
        truncated=truncated,
        note=_join(notes),
        raw=raw,
        raw_truncated=raw_cut,
    )


def _text_view(
    data: bytes, codec: str, declared_text: bool, media: str, mismatch: str | None, notes: list[str]
) -> BodyView:
    """Text if the bytes read as text, else a hex dump; explain any surprise."""
    complete = len(data) <= TEXT_CAP
    chunk = data[:TEXT_CAP]
    notes = list(notes)
    text = _strict_text(chunk, codec, complete)
    if text is None and declared_text:
        # A declared text type with a few bad bytes still reads best as text.
        loose = _decode_loose(chunk, codec, complete)
        if not _CONTROL.search(loose):
            text = loose
            notes.append(f"The body is not valid {codec}: undecodable bytes are shown as \ufffd.")
    if text is None:
        if mismatch:
            notes.append(f"{mismatch}: shown as hex.")
        elif declared_text:
            said = f"Content-Type says {_shorten(media)}"
            notes.append(f"{said} but the body is binary: shown as hex.")
        return _binary_view(data, notes)
    if mismatch:
        notes.append(f"{mismatch}: shown as text.")
    if not complete:
        notes.append(f"Body is {_human(len(data))}: showing the first {_human(TEXT_CAP)}.")
    return BodyView("text", text=text, truncated=not complete, note=_join(notes))


def _binary_view(data: bytes, notes: list[str]) -> BodyView:
    dump, truncated = hexdump(data)
    if truncated:
        shown = f"showing the first {_human(HEX_CAP)} as hex"
        notes = [*notes, f"Body is {_human(len(data))}: {shown}."]
    return BodyView("binary", hexdump=dump, truncated=truncated, note=_join(notes))


# --- JSON ------------------------------------------------------------------


def _reindent(text: str, cap: int) -> tuple[str, list[tuple[str, str]], bool] | None:
    """Lay out JSON text like ``json.dumps(indent=2, ensure_ascii=False)``, tokens kept as written.

    Stops before ``cap`` characters. Returns (pretty text of whole tokens, tail
    tokens for a string or number cut by the cap, whether the cap was hit), or
    None when unparseable text is met first. Iterative, so depth is no problem.
    """
    out: list[str] = []
    size = 0
    depth = 0
    containers: list[str] = []
    pending = False  # a container was just opened: its first lexeme decides "[]" or a new line
    key_next = False
    pos = 0
    while (m := _JSON_TOKEN.match(text, pos)) is not None:
        pos = m.end()
        kind = m.lastgroup or ""
        lexeme = m[kind]
        if kind == "close":
            if containers:
                containers.pop()
            depth = len(containers)
            piece = lexeme if pending else "\n" + "  " * depth + lexeme
            pending = key_next = False
        else:
            lead = "\n" + "  " * depth if pending else ""
            pending = False
            if kind == "open":
                containers.append(lexeme)
                depth = len(containers)
                pending = True
                key_next = lexeme == "{"
                piece = lead + lexeme
            elif kind == "comma":
                key_next = containers[-1:] == ["{"]
                piece = lead + ",\n" + "  " * depth
            elif kind == "colon":
                key_next = False
                piece = lead + ": "
            else:
                if kind == "str" and "\\" in lexeme:
                    normal = json.dumps(json.loads(lexeme), ensure_ascii=False)
                    lexeme = _SURROGATE.sub(_u_escape, normal)
                room = cap - size - len(lead)
                if len(lexeme) > room:
                    if room <= 0:
                        return "".join(out), [], True
                    cut = (_atom_class(lexeme, key_next), lexeme[:room])
                    return "".join(out), [("w", lead), cut] if lead else [cut], True
                key_next = False
                piece = lead + lexeme
        if size + len(piece) > cap:
            return "".join(out), [], True
        out.append(piece)
        size += len(piece)
    if text[pos:].strip(" \t\n\r"):
        return None
    return "".join(out), [], False


def _highlight(text: str, tail: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pygments JsonLexer tokens as (short css class, text), runs of one class merged."""
    lexed = ((_css_class(kind), value) for _, kind, value in _LEXER.get_tokens_unprocessed(text))
    runs = groupby(chain(lexed, tail), key=itemgetter(0))
    return [(cls, "".join(value for _, value in run)) for cls, run in runs]


def _tree(tokens: list[tuple[str, str]]) -> list[JsonLine] | None:
    """Pretty JSON tokens as folding lines, or None when the text is short.

    Works on the layout :func:`_reindent` makes: a line whose last token is an opening
    bracket opens a container, and its closing bracket starts a line of its own (after the
    indent, the line's only whitespace). Every container is tracked, so caps only decide
    which of them fold. A body cut short by a cap leaves containers open; they are closed at
    the end.
    """
    lines = _lines(tokens)
    if len(lines) <= TREE_MIN_LINES:
        return None
    out: list[JsonLine] = []
    # Per open container: its "open" step (None when it does not fold) and child count.
    stack: list[tuple[JsonLine | None, list[int]]] = []
    nodes = folded = 0  # folds made, folds open now
    last_line = len(lines) - 1
    for number, line in enumerate(lines):
        step = JsonLine("line", line, newline=number < last_line)
        out.append(step)
        if not line:
            continue
        head = line[0][1] if line[0][0] != "w" or len(line) == 1 else line[1][1]
        if head[:1] in ("]", "}") and stack:
            opened, count = stack.pop()
            if opened is not None:
                items = "item" if head[0] == "]" else "key"
                opened.closed = f" … {head}  ({count[0]:,} {items}{'s' if count[0] != 1 else ''})"
                out.append(JsonLine("close"))
                folded -= 1
            continue
        if stack:
            stack[-1][1][0] += 1
        cls, tail = line[-1]
        if cls == "p" and tail[-1:] in ("{", "["):
            folds = nodes < TREE_MAX_NODES and folded < TREE_MAX_DEPTH
            if folds:
                step.kind = "open"
                nodes += 1
                folded += 1
            stack.append((step if folds else None, [0]))
    out.extend(JsonLine("close") for opened, _ in stack if opened is not None)
    return out


def _lines(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Tokens split at line breaks (only whitespace tokens hold them), breaks dropped."""
    lines: list[list[tuple[str, str]]] = [[]]
    for token in tokens:
        cls, text = token
        if "\n" not in text:
            lines[-1].append(token)
            continue
        first, *rest = text.split("\n")
        if first:
            lines[-1].append((cls, first))
        for piece in rest:
            lines.append([(cls, piece)] if piece else [])
    return lines


@cache
def _css_class(ttype: _TokenType) -> str:
    while ttype not in STANDARD_TYPES:
        ttype = ttype.parent
    return STANDARD_TYPES[ttype]


def _atom_class(token: str, key: bool) -> str:
    """The class JsonLexer would give a whole token, for one cut short by the cap."""
    if token.startswith('"'):
        return "nt" if key else "s2"
    if token in ("true", "false", "null"):
        return "kc"
    return "mf" if any(c in token for c in ".eE") else "mi"


def _u_escape(match: re.Match[str]) -> str:
    """Re-escape a lone surrogate (from a JSON ``\\ud800``), which UTF-8 cannot encode."""
    return f"\\u{ord(match[0]):04x}"


# --- multipart -------------------------------------------------------------


def _split_parts(data: bytes, boundary: bytes, limit: int) -> tuple[list[tuple[int, int]], str]:
    """(start, end) of up to ``limit`` parts, and how the body ended.

    Ending: "closed" (close delimiter seen), "more" (over ``limit`` parts),
    "open" (body ends inside a part) or "missing" (no delimiter at all). Line
    breaks may be CRLF or bare LF. A delimiter must be followed by "--",
    whitespace or the end, so "--b" does not match inside "--bx".
    """
    dash = re.escape(b"--" + boundary) + rb"(?=--|[ \t\r\n]|\Z)"
    delimiter = re.compile(b"\n" + dash)
    first = re.match(dash, data) or delimiter.search(data)
    if first is None:
        return [], "missing"
    spans: list[tuple[int, int]] = []
    after = first.end()
    while True:
        if data.startswith(b"--", after):
            return spans, "closed"
        newline = data.find(b"\n", after)
        if newline < 0 or newline + 1 == len(data):
            return spans, "open"
        if len(spans) == limit:
            return spans, "more"
        start = newline + 1
        # Search from the newline itself: an empty part between two delimiters
        # shares its line break.
        found = delimiter.search(data, newline)
        if found is None:
            spans.append((start, len(data)))
            return spans, "open"
        end = found.start()
        if end > start and data[end - 1] == 0x0D:
            end -= 1
        spans.append((start, max(start, end)))
        after = found.end()


def _make_part(index: int, raw: bytes, budget: _Budget) -> tuple[Part, bytes]:
    """A Part from its raw bytes (headers, blank line, body) and the exact body bytes."""
    headers, payload = _split_part(raw)
    first: dict[str, str] = {}
    for name, value in headers:
        first.setdefault(name.lower(), value)
    _, disposition = _parse_params(first.get("content-disposition", ""))
    filename = disposition.get("filename")
    if "filename*" in disposition:
        filename = _ext_value(disposition["filename*"]) or filename
    content_type = first.get("content-type")
    _, type_params = _parse_params(content_type or "")
    codec = _codec(type_params.get("charset", "")) or "utf-8"

    complete = len(payload) <= PART_TEXT_CAP
    text = _strict_text(payload[:PART_TEXT_CAP], codec, complete)
    dump = None
    if text is not None:
        if len(text) > budget.text:
            text = text[: budget.text]
            complete = False
        budget.text -= len(text)
    elif budget.hex > 0:
        shown = min(PART_HEX_CAP, budget.hex)
        dump, _ = hexdump(payload, shown)
        budget.hex -= shown
    part = Part(
        index=index,
        name=disposition.get("name"),
        filename=filename,
        content_type=content_type,
        size=len(payload),
        headers=headers,
        text=text,
        truncated=text is not None and not complete,
        hexdump=dump,
    )
    return part, payload


def _split_part(raw: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of one part; no blank line in reach means no headers."""
    if raw.startswith(b"\r\n"):
        return [], raw[2:]
    if raw.startswith(b"\n"):
        return [], raw[1:]
    ends = [(raw.find(sep, 0, PART_HEADER_CAP), len(sep)) for sep in (b"\r\n\r\n", b"\n\n")]
    found = [end for end in ends if end[0] >= 0]
    if not found:
        return [], raw
    at, length = min(found)
    return _parse_header_block(raw[:at]), raw[at + length :]


def _parse_header_block(block: bytes) -> list[tuple[str, str]]:
    """Header lines in order, folded lines joined; lines without a colon dropped."""
    headers: list[tuple[str, list[str]]] = []
    for line in block.decode("utf-8", "replace").split("\n"):
        line = line.rstrip("\r")
        if line[:1] in (" ", "\t"):
            if headers:
                headers[-1][1].append(line.strip())
            continue
        name, colon, value = line.partition(":")
        if colon and name.strip():
            headers.append((name.strip(), [value.strip()]))
    return [(name, " ".join(v for v in values if v)) for name, values in headers]


def _ext_value(value: str) -> str | None:
    """Decode an RFC 5987 ``charset'lang'pct-encoded`` value; None if malformed."""
    charset, quote1, rest = value.partition("'")
    _, quote2, encoded = rest.partition("'")
    if not (quote1 and quote2):
        return None
    return _decode_loose(unquote_to_bytes(encoded), _codec(charset) or "utf-8")


def _boundary_bytes(boundary: str) -> bytes:
    """Boundary as sent: headers arrive latin-1 decoded, but be kind to anything else."""
    try:
        return boundary.encode("latin-1")
    except UnicodeEncodeError:
        return boundary.encode("utf-8", "replace")


# --- shared helpers --------------------------------------------------------


def _decode_content(body: bytes, encoding: str) -> tuple[bytes | None, list[str]]:
    """Undo gzip/deflate Content-Encoding with an output cap; None if it cannot be undone."""
    codings = [c.strip().lower() for c in encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return body, []
    unknown = [c for c in codings if c not in ("gzip", "x-gzip", "deflate")]
    if unknown or len(codings) > MAX_CODINGS:
        shown = unknown[0] if unknown else encoding
        return None, [f"Content-Encoding {_shorten(shown)} is not decoded: shown as raw bytes."]
    data = body
    capped = incomplete = False
    for coding in reversed(codings):
        try:
            data, step_capped, step_complete = _inflate(data, coding)
        except zlib.error:
            data, step_capped, step_complete = b"", False, False
        if not (data or step_complete):  # corrupt, or cut before any output
            return None, [f"The body is not valid {coding} data: shown as raw bytes."]
        capped |= step_capped
        incomplete |= not step_complete
    sizes = f"{len(body):,} → {len(data):,} bytes"
    notes = [f"{', '.join(codings)}-encoded body, shown decompressed ({sizes})."]
    if capped:
        notes.append(f"Decompressed output is capped at {_human(DECOMPRESS_CAP)}.")
    if incomplete:
        notes.append("The compressed stream ends early: showing what could be decompressed.")
    return data, notes


def _inflate(data: bytes, coding: str) -> tuple[bytes, bool, bool]:
    """(output, capped, complete). max_length bounds memory, so a zip bomb stops at the cap."""
    if coding != "deflate":
        return _inflate_stream(data, 16 + zlib.MAX_WBITS)
    try:
        return _inflate_stream(data, zlib.MAX_WBITS)
    except zlib.error:  # raw deflate without the zlib wrapper, as some senders do
        return _inflate_stream(data, -zlib.MAX_WBITS)


def _inflate_stream(data: bytes, wbits: int) -> tuple[bytes, bool, bool]:
    out = bytearray()
    while True:
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(data, DECOMPRESS_CAP + 1 - len(out))
        if len(out) > DECOMPRESS_CAP:
            return bytes(out[:DECOMPRESS_CAP]), True, True
        if not inflater.eof:
            return bytes(out), False, False
        data = inflater.unused_data
        # Concatenated gzip members are one body (what gunzip does).
        if wbits < 16 or not data.startswith(b"\x1f\x8b"):
            return bytes(out), False, True


def _parse_params(value: str) -> tuple[str, dict[str, str]]:
    """Lowercased main value and parameters of a header like Content-Type.

    Quote-aware and linear-time (the header is attacker-controlled). Parameter
    names are lowercased; the first of a repeated name wins. In quoted values
    only \\" and \\\\ are escapes, so Windows paths in filenames survive.
    """
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(rest):
        raw = (m[2] or "").strip()
        if raw.startswith('"'):
            raw = _UNESCAPE.sub(r"\1", raw[1:-1] if len(raw) > 1 and raw.endswith('"') else raw[1:])
        params.setdefault(m[1].lower(), raw)
    return main.strip().lower(), params


def _codec(label: str) -> str | None:
    """Python codec name for a charset label, or None if unknown or not a text charset."""
    name = encodings.normalize_encoding(label[:64]).lower()
    if len(label) > 64 or name not in _KNOWN_CODECS:
        return None
    try:
        codec = codecs.lookup(name).name
        b"\0\0\0\0".decode(codec, "replace")  # bytes-to-bytes codecs (zlib, hex) raise here
    except (LookupError, ValueError):
        return None
    return codec


def _decode(data: bytes, codec: str, errors: str, complete: bool) -> str:
    """Decode; if the data was cut, an incomplete trailing character is held back, not an error."""
    return codecs.getincrementaldecoder(codec)(errors).decode(data, final=complete)


def _decode_loose(data: bytes, codec: str, complete: bool = True) -> str:
    """Decode with U+FFFD for bad bytes, falling back to UTF-8 for codecs that raise even
    so (utf-16 and utf-32 without a BOM)."""
    try:
        text = _decode(data, codec, "replace", complete)
    except ValueError:
        text = _decode(data, "utf-8", "replace", complete)
    return _SURROGATE.sub("\ufffd", text)


def _strict_text(data: bytes, codec: str, complete: bool) -> str | None:
    """Decoded text, or None if it does not decode or has control characters (binary data)."""
    try:
        text = _decode(data, codec, "strict", complete)
    except ValueError:
        return None
    if _CONTROL.search(text):
        return None
    return _SURROGATE.sub("\ufffd", text)


def _raw_text(data: bytes, codec: str) -> tuple[str | None, bool]:
    """The first TEXT_CAP bytes as text exactly as sent (None when they do not read as
    text), and whether the body was longer."""
    complete = len(data) <= TEXT_CAP
    return _strict_text(data[:TEXT_CAP], codec, complete), not complete


def _is_texty(media: str) -> bool:
    """Declared text types get a lenient decode: a few bad bytes should not force a hex dump."""
    return (
        media.startswith("text/")
        or media.endswith(("+xml", "+json", "+yaml"))
        or (media in _TEXT_TYPES)
    )


def _form_decode(raw: bytes, codec: str) -> str:
    return _decode_loose(unquote_to_bytes(raw.replace(b"+", b" ")), codec)


def _human(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    value, unit = (size / 1024, "KiB") if size < 1024 * 1024 else (size / 1024 / 1024, "MiB")
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def _shorten(value: str, limit: int = 60) -> str:
    """Quote an attacker-supplied value for a note, cut so a header cannot flood it."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _join(notes: list[str]) -> str | None:
    return " ".join(notes) or None
