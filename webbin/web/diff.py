"""Comparing two captured requests: what changed from request ``a`` to request ``b``.

Pure functions over two stored rows, shared by the API (``GET .../diff/{b}``) and the
dashboard, producing the :class:`~webbin.web.schemas.RequestDiff` the API documents:

* the request line (method, path, query string);
* the headers, aligned in order with repeats kept (difflib over the exact ``(name, value)``
  pairs, so order matters and each occurrence is its own entry); inside a run that differs,
  occurrences of one name are paired up as "changed", the rest are added or removed;
* the body: structurally when both are JSON objects or arrays (JSON Pointers to each value
  added, removed or changed, array items aligned the way lines are, numbers compared as
  written so ``1.10`` and ``1.1`` differ as the bytes do), as a unified text diff when both
  are UTF-8 text, and for anything else sizes, SHA-256 digests, the first differing offset
  and a hex dump of both sides there.

Captured data is hostile, and this runs inside a request: every stage is bounded (bytes
compared as text, items aligned, nesting followed, changes listed, characters per value),
and a diff cut short says so (``truncated``, ``note``). Nothing here escapes anything: the
templates and JSON encoding do, as for every captured value.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from typing import Any

from webbin.storage.models import CapturedRequest
from webbin.web.schemas import (
    BinaryDiff,
    BodyDiff,
    FieldChange,
    HeaderChange,
    HeadersDiff,
    JsonChange,
    RequestDiff,
    RequestRef,
)
from webbin.web.serialize import rfc3339

TEXT_CAP = 256 * 1024  # bytes of each body diffed as text
LINE_CAP = 5000  # lines of each body diffed as text
JSON_CAP = 2 * 1024 * 1024  # bytes of each body parsed as JSON
ALIGN_CAP = 2000  # items of an array aligned; longer arrays are compared index by index
DEPTH_CAP = 64  # nesting followed; deeper values are compared whole
MAX_CHANGES = 500  # JSON changes listed
VALUE_CAP = 2000  # characters of a value shown
WINDOW = 64  # bytes of each binary body dumped
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def compare(a: CapturedRequest, b: CapturedRequest) -> RequestDiff:
    """Everything that differs from ``a`` to ``b``."""
    line = [
        FieldChange(field=field, old=getattr(a, field), new=getattr(b, field))
        for field in ("method", "path", "query_string")
        if getattr(a, field) != getattr(b, field)
    ]
    return RequestDiff(
        a=_ref(a),
        b=_ref(b),
        request_line=line,
        headers=headers_diff(a.headers, b.headers),
        body=body_diff(a.body, b.body, f"#{a.seq}", f"#{b.seq}"),
    )


def _ref(row: CapturedRequest) -> RequestRef:
    return RequestRef(
        id=row.id,
        seq=row.seq,
        method=row.method,
        path=row.path,
        query_string=row.query_string,
        size=row.size,
        received_at=rfc3339(row.received_at),
    )


# --- headers ------------------------------------------------------------------------------


def headers_diff(old: list[list[str]], new: list[list[str]]) -> HeadersDiff:
    """``old`` and ``new`` aligned in order, every occurrence kept."""
    a = [(name, value) for name, value in old]
    b = [(name, value) for name, value in new]
    entries: list[HeaderChange] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            entries.extend(HeaderChange(op="same", old=pair, new=pair) for pair in a[i1:i2])
        else:
            entries.extend(_pair_up(a[i1:i2], b[j1:j2]))
    count = {op: sum(e.op == op for e in entries) for op in ("added", "removed", "changed")}
    return HeadersDiff(entries=entries, **count)


def _pair_up(old: list[tuple[str, str]], new: list[tuple[str, str]]) -> list[HeaderChange]:
    """A run that differs: the k-th ``old`` occurrence of a name (case-insensitively) pairs
    with its k-th ``new`` one as changed; unpaired ones are removed (listed first, in order)
    or added (in ``new``'s order, among the changed)."""
    waiting: dict[str, list[tuple[str, str]]] = {}
    for pair in old:
        waiting.setdefault(pair[0].lower(), []).append(pair)
    entries: list[HeaderChange] = []
    paired: list[tuple[str, str]] = []
    for pair in new:
        candidates = waiting.get(pair[0].lower())
        if candidates:
            before = candidates.pop(0)
            paired.append(before)
            entries.append(HeaderChange(op="changed", old=before, new=pair))
        else:
            entries.append(HeaderChange(op="added", old=None, new=pair))
    removed = [pair for pair in old if not _take(paired, pair)]
    return [HeaderChange(op="removed", old=pair, new=None) for pair in removed] + entries


def _take(pool: list[tuple[str, str]], pair: tuple[str, str]) -> bool:
    """Remove one ``pair`` from ``pool`` if there is one; whether there was."""
    if pair in pool:
        pool.remove(pair)
        return True
    return False


# --- bodies -------------------------------------------------------------------------------


def body_diff(a: bytes, b: bytes, label_a: str = "a", label_b: str = "b") -> BodyDiff:
    """``a`` and ``b`` compared as JSON, as text or as bytes, whichever both are."""
    sizes = {"size_a": len(a), "size_b": len(b)}
    empty: dict[str, Any] = {"json_changes": None, "text_diff": None, "binary": None}
    if a == b:
        return BodyDiff(kind="identical", note=None, truncated=False, **sizes, **empty)
    text_a, text_b = _text(a), _text(b)
    if text_a is None or text_b is None:
        return BodyDiff(
            kind="binary",
            note=None,
            truncated=False,
            **sizes,
            **{**empty, "binary": binary_diff(a, b)},
        )
    parsed = _json_pair(a, b)
    if isinstance(parsed, tuple):
        try:
            changes, truncated = json_changes(*parsed)
        except RecursionError:  # parsed, but too deep to walk and show: compare as text
            parsed = "The JSON is nested too deeply to compare structurally."
    if isinstance(parsed, tuple):
        return BodyDiff(
            kind="json",
            note="Only the first changes are listed." if truncated else None,
            truncated=truncated,
            **sizes,
            **{**empty, "json_changes": changes},
        )
    diff, note, truncated = text_diff(text_a, text_b, label_a, label_b)
    notes = " ".join(n for n in (parsed, note) if n) or None
    return BodyDiff(
        kind="text", note=notes, truncated=truncated, **sizes, **{**empty, "text_diff": diff}
    )


def _text(body: bytes) -> str | None:
    """The body as text, if it is UTF-8 without control characters (tab, CR, LF aside)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _CONTROL.search(text) else text


# --- text ---------------------------------------------------------------------------------


def text_diff(a: str, b: str, label_a: str, label_b: str) -> tuple[str, str | None, bool]:
    """(unified diff, note, truncated) of two texts, line by line."""
    notes = []
    truncated = False
    lines_a, cut_a = _lines(a)
    lines_b, cut_b = _lines(b)
    if cut_a or cut_b:
        truncated = True
        notes.append(
            f"Only the first {LINE_CAP} lines or {TEXT_CAP // 1024} KiB of each body are compared."
        )
    diff = "\n".join(
        difflib.unified_diff(lines_a, lines_b, fromfile=label_a, tofile=label_b, lineterm="")
    )
    if not diff and not truncated:
        notes.append("The bodies differ only in line endings (CRLF, LF) or a final newline.")
    return diff, " ".join(notes) or None, truncated


def _lines(text: str) -> tuple[list[str], bool]:
    cut = len(text) > TEXT_CAP
    lines = text[:TEXT_CAP].splitlines()
    return lines[:LINE_CAP], cut or len(lines) > LINE_CAP


# --- JSON ---------------------------------------------------------------------------------


class _Number(str):
    """A JSON number as written: ``1.10`` and ``1.1`` are different bytes, and shown so.
    Never equal to a string, so ``{"n": 1}`` and ``{"n": "1"}`` differ when compared whole."""

    def __eq__(self, other: object) -> bool:
        return type(other) is _Number and str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__


class _RepeatedKey(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _RepeatedKey
    return result


def _json_pair(a: bytes, b: bytes) -> tuple[Any, Any] | str | None:
    """Both bodies parsed, when both are a JSON object or array; else a note saying why
    they are compared as text (or None when neither looks like JSON)."""
    if len(a) > JSON_CAP or len(b) > JSON_CAP:
        return f"Bodies over {JSON_CAP // (1024 * 1024)} MiB are compared as text."
    values = []
    for body in (a, b):
        try:
            value = json.loads(
                body.decode("utf-8-sig"),
                object_pairs_hook=_object,
                parse_float=_Number,
                parse_int=_Number,
                parse_constant=_Number,
            )
        except _RepeatedKey:
            return "A body repeats a key in a JSON object, so both are compared as text."
        except (ValueError, RecursionError):
            return None
        if not isinstance(value, dict | list):
            return None
        values.append(value)
    return values[0], values[1]


def json_changes(a: Any, b: Any) -> tuple[list[JsonChange], bool]:
    """(changes from ``a`` to ``b``, whether the list stops at MAX_CHANGES)."""
    changes: list[JsonChange] = []
    try:
        _walk(a, b, "", 0, changes)
    except _Full:
        return changes, True
    return changes, False


class _Full(Exception):
    """MAX_CHANGES changes are listed."""


def _add(changes: list[JsonChange], op: str, pointer: str, old: Any, new: Any) -> None:
    if len(changes) >= MAX_CHANGES:
        raise _Full
    changes.append(
        JsonChange(
            op=op,
            pointer=pointer,
            old=None if op == "added" else _shown(old),
            new=None if op == "removed" else _shown(new),
        )
    )


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values of the same type (``true`` is not ``1``, ``"1"`` is not 1)."""
    return type(a) is type(b) and a == b


def _walk(a: Any, b: Any, pointer: str, depth: int, changes: list[JsonChange]) -> None:
    if _same(a, b):
        return
    if depth >= DEPTH_CAP or type(a) is not type(b) or not isinstance(a, dict | list):
        _add(changes, "changed", pointer, a, b)
    elif isinstance(a, dict):
        for key, value in a.items():
            here = f"{pointer}/{_escape(key)}"
            if key not in b:
                _add(changes, "removed", here, value, None)
            else:
                _walk(value, b[key], here, depth + 1, changes)
        for key, value in b.items():
            if key not in a:
                _add(changes, "added", f"{pointer}/{_escape(key)}", None, value)
    else:
        _walk_items(a, b, pointer, depth, changes)


def _walk_items(a: list, b: list, pointer: str, depth: int, changes: list[JsonChange]) -> None:
    """Array items aligned as a line diff aligns lines; a run that differs pairs its items
    by position (and looks inside them), the rest are added or removed."""
    if len(a) > ALIGN_CAP or len(b) > ALIGN_CAP:
        opcodes = [("replace", 0, len(a), 0, len(b))]
    else:
        keys_a, keys_b = [_compact(v) for v in a], [_compact(v) for v in b]
        opcodes = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1)
        for k in range(paired):
            _walk(a[i1 + k], b[j1 + k], f"{pointer}/{j1 + k}", depth + 1, changes)
        for i in range(i1 + paired, i2):
            _add(changes, "removed", f"{pointer}/{i}", a[i], None)
        for j in range(j1 + paired, j2):
            _add(changes, "added", f"{pointer}/{j}", None, b[j])


def _escape(key: str) -> str:
    """A key as a JSON Pointer token (RFC 6901: ``~`` is ``~0``, ``/`` is ``~1``)."""
    return key.replace("~", "~0").replace("/", "~1")


def _compact(value: Any) -> str:
    """Compact JSON text of a parsed value, numbers as written. Iterative, so a value nested
    as deep as the parser allows costs no recursion (pieces already written are 1-tuples)."""
    parts: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            parts.append(item[0])
        elif isinstance(item, _Number):
            parts.append(str.__str__(item))
        elif isinstance(item, str) or item is None or isinstance(item, bool):
            parts.append(json.dumps(item, ensure_ascii=False))
        else:
            pieces: list[Any] = [("{",) if isinstance(item, dict) else ("[",)]
            entries = item.items() if isinstance(item, dict) else enumerate(item)
            for index, (key, child) in enumerate(entries):
                if index:
                    pieces.append((",",))
                if isinstance(item, dict):
                    pieces.append((json.dumps(key, ensure_ascii=False) + ":",))
                pieces.append(child)
            pieces.append(("}",) if isinstance(item, dict) else ("]",))
            stack.extend(reversed(pieces))
    return "".join(parts)


def _shown(value: Any) -> str:
    text = _compact(value)
    return text if len(text) <= VALUE_CAP else text[:VALUE_CAP] + "…"


# --- bytes --------------------------------------------------------------------------------


def first_difference(a: bytes, b: bytes) -> int | None:
    """Offset of the first byte that differs, the shorter length if one is a prefix of the
    other, None if they are equal. Compares in blocks, so megabytes take milliseconds."""
    if a == b:
        return None
    block = 4096
    start = 0
    while a[start : start + block] == b[start : start + block]:
        start += block
    end = min(len(a), len(b), start + block)
    return next((i for i in range(start, end) if a[i] != b[i]), end)


def binary_diff(a: bytes, b: bytes) -> BinaryDiff:
    offset = first_difference(a, b)
    window = max((offset or 0) - 16, 0) // 16 * 16
    return BinaryDiff(
        sha256_a=hashlib.sha256(a).hexdigest(),
        sha256_b=hashlib.sha256(b).hexdigest(),
        first_difference=offset,
        window_offset=window,
        hex_a=hexdump(a[window : window + WINDOW], window),
        hex_b=hexdump(b[window : window + WINDOW], window),
    )


_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))


def hexdump(data: bytes, base: int) -> str:
    """16 bytes a line: offset, hex, and the printable ASCII (others as ``.``)."""
    lines = []
    for start in range(0, len(data), 16):
        chunk = data[start : start + 16]
        hexes = " ".join(f"{byte:02x}" for byte in chunk)
        lines.append(f"{base + start:08x}  {hexes:<47}  {chunk.translate(_PRINTABLE).decode()}")
    return "\n".join(lines)
