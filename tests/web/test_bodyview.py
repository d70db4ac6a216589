"""Body views: each kind, hostile bodies that must degrade instead of raising, and the caps."""

import gzip
import json
import os
import time
import zlib

import pytest
from pygments.token import STANDARD_TYPES

from webbin.web.bodyview import (
    HEX_CAP,
    JSON_CAP,
    MAX_PARTS,
    PART_TEXT_CAP,
    TEXT_CAP,
    BodyView,
    hexdump,
    multipart_part,
    render_body,
)

MiB = 1024 * 1024
FORM = "application/x-www-form-urlencoded"
SCRIPT = "<script>alert('x')</script>"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff"


def short_id(value: object) -> str | None:
    """Readable test ids: multi-megabyte bodies would otherwise become the id."""
    if isinstance(value, bytes | str) and len(value) > 40:
        return repr(value[:30])[:40] + f"...({len(value)})"
    return None


def joined(view: BodyView) -> str:
    assert view.tokens is not None
    return "".join(text for _, text in view.tokens)


def multipart(*parts: bytes, newline: bytes = b"\r\n") -> bytes:
    """A multipart body with boundary XyZ: preamble, the raw parts, close delimiter, epilogue."""
    lines = [b"preamble, ignored"]
    for part in parts:
        lines += [b"--XyZ", part]
    lines += [b"--XyZ--", b"epilogue, ignored"]
    return newline.join(lines)


def upload(nl: bytes = b"\r\n") -> list[bytes]:
    """A browser-style file upload form: a text field, a PNG file and an empty field."""
    return [
        b'Content-Disposition: form-data; name="title"' + nl + nl + b"Hello <b>world</b>",
        b'Content-Disposition: form-data; name="file"; filename="pic.png"'
        + nl
        + b"Content-Type: image/png"
        + nl
        + nl
        + PNG,
        b'Content-Disposition: form-data; name="empty"' + nl + nl,
    ]


def raw_deflate(data: bytes) -> bytes:
    """Deflate without the zlib wrapper, which some senders label "deflate"."""
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (b"", "application/json", "empty"),
        (b"", None, "empty"),
        (b'{"a": 1}', "application/json", "json"),
        (b'{"a": 1}', "application/json; charset=utf-8", "json"),
        (b'{"data": []}', "application/vnd.api+json", "json"),
        (b'{"specversion": "1.0"}', "application/cloudevents+json", "json"),
        (b"42", "application/json", "json"),
        (b'  {"a": 1}\n', None, "json"),
        (b"[1, 2]", "application/octet-stream", "json"),
        (b'\xef\xbb\xbf{"bom": true}', None, "json"),
        (b"a=1&b=2", FORM, "form"),
        (multipart(*upload()), "multipart/form-data; boundary=XyZ", "multipart"),
        (multipart(*upload()), "multipart/mixed; boundary=XyZ", "multipart"),
        (b"plain text\n", "text/plain", "text"),
        (b"<?xml version='1.0'?><a/>", "application/xml", "text"),
        (b"<feed/>", "application/atom+xml", "text"),
        ("caf\u00e9 \u2603\r\n\ttab".encode(), None, "text"),
        (b"[not json", "text/plain", "text"),
        (PNG, "image/png", "binary"),
        (PNG, None, "binary"),
        (b"abc\x00def", None, "binary"),
        (b"\x1b[31mred\x1b[0m", None, "binary"),
    ],
    ids=short_id,
)
def test_kind_from_content_type_and_bytes(body: bytes, content_type: str | None, kind: str) -> None:
    assert render_body(body, content_type).kind == kind


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "kind", "note"),
    [
        (
            b'{"a": 1,}',
            "application/json",
            None,
            "text",
            "Content-Type says JSON but the body is not valid JSON (Expecting property name"
            " enclosed in double quotes at line 1 column 9): shown as text.",
        ),
        (b"[" * 100_000, "application/json", None, "text", "nested too deeply to display"),
        (b"[" * 100_000, None, None, "text", "The body starts like JSON but the JSON is nested"),
        (b'{"a": 1} trailing', None, None, "text", "not valid JSON (Extra data"),
        (
            b"{\xff}",
            "application/json",
            None,
            "text",
            "but the body is not valid utf-8: shown as text",
        ),
        (b"x" * (3 * MiB), None, None, "text", "Body is 3 MiB: showing the first 512 KiB."),
        (b"--b\r\n\r\nx", "multipart/form-data", None, "text", "has no boundary parameter"),
        (
            b"hello",
            "multipart/form-data; boundary=nope",
            None,
            "text",
            "boundary is not in the body",
        ),
        (b"--b\r\n\r\nx", "multipart/form-data; boundary=" + "b" * 201, None, "text", "over 200"),
        (
            PNG,
            "multipart/form-data; boundary=nope",
            None,
            "binary",
            "not in the body: shown as hex",
        ),
        (
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\ncut off',
            "multipart/form-data; boundary=b",
            None,
            "multipart",
            "ends without a closing boundary",
        ),
        (b"--b\r\n", "multipart/form-data; boundary=b", None, "multipart", "ends without"),
        (b"caf\xe9", "text/plain", None, "text", "not valid utf-8: undecodable bytes are shown as"),
        (b"caf\xe9", None, None, "binary", None),
        (b"abc\x00def", "text/plain", None, "binary", "says 'text/plain' but the body is binary"),
        (b"hi", "text/plain; charset=no-such-thing", None, "text", "Unknown charset 'no-such"),
        (b"hi", "text/plain; charset=zlib", None, "text", "Unknown charset 'zlib'"),
        (b"hi", "text/plain; charset=" + "x" * 5000, None, "text", "…'"),
        (b"a=1&\x00\x01", FORM, None, "binary", "x-www-form-urlencoded but the body is binary"),
        (b'{"a": 1}', FORM, None, "json", "form-urlencoded' but the body is JSON: shown as JSON."),
        (b"\x1f\x8b\x08\x00garbage", None, "gzip", "binary", "not valid gzip data"),
        (b"\x00garbage", None, "deflate", "binary", "not valid deflate data"),
        (b"compressed?", "text/plain", "br", "binary", "Content-Encoding 'br' is not decoded"),
        (b"compressed?", "text/plain", "gzip, zstd", "binary", "'zstd' is not decoded"),
        (gzip.compress(b'{"a": 1}')[:-8], "application/json", "gzip", "json", "ends early"),
        (gzip.compress(b""), "application/json", "gzip", "empty", "(20 → 0 bytes)"),
    ],
    ids=short_id,
)
def test_hostile_bodies_degrade_with_a_note(
    body: bytes, content_type: str | None, encoding: str | None, kind: str, note: str | None
) -> None:
    view = render_body(body, content_type, encoding)
    assert view.kind == kind
    if note is None:
        assert view.note is None
    else:
        assert view.note is not None and note in view.note
        assert len(view.note) < 400


@pytest.mark.parametrize(
    ("make_body", "content_type", "kind"),
    [
        (lambda: b"a" * (10 * MiB), None, "text"),
        (lambda: os.urandom(10 * MiB), None, "binary"),
        (lambda: b"\xff" * (10 * MiB), "text/plain", "text"),
        (lambda: b'{"k": "' + b"v" * (10 * MiB) + b'"}', "application/json", "text"),
        (lambda: b"[" + b",".join([b'{"id": 7, "v": 1.5}'] * 600_000) + b"]", None, "json"),
        (lambda: b'{"a": [' + b"1.25, " * (2 * MiB) + b"0]}", "application/json", "json"),
        (lambda: b"a=b&" * (10 * MiB // 4), FORM, "form"),
        (
            lambda: multipart(*[b"Content-Disposition: form-data; name=x\r\n\r\nhi"] * 250_000),
            "multipart/form-data; boundary=XyZ",
            "multipart",
        ),
        (lambda: b"\n--ax" * (2 * MiB), "multipart/form-data; boundary=a", "text"),
        (lambda: b" " * (10 * MiB) + b"x", "application/json", "text"),
        (lambda: b"[" + b" " * (10 * MiB) + b"x", "application/json", "text"),
    ],
    ids=[
        "text-one-line",
        "random-bytes",
        "invalid-utf8-text",
        "json-one-huge-string",
        "json-sniffed",
        "json-declared",
        "form",
        "multipart-many-parts",
        "multipart-boundary-lookalikes",
        "json-declared-spaces",
        "json-declared-bracket-spaces",
    ],
)
def test_ten_mib_bodies_render_fast_and_truncated(
    make_body, content_type: str | None, kind: str
) -> None:
    body = make_body()
    assert len(body) >= 10 * MiB
    started = time.thread_time()
    view = render_body(body, content_type)
    # This thread's CPU: not the machine's, nor other threads'.
    assert time.thread_time() - started < 1.0
    assert view.kind == kind
    assert view.truncated
    assert view.note


def test_text_and_hexdump_caps_bound_the_output() -> None:
    assert render_body(b"a" * (3 * MiB), None).text == "a" * TEXT_CAP
    dump = render_body(b"\x00" * MiB, None).hexdump
    assert dump is not None and len(dump.splitlines()) == HEX_CAP // 16


def test_gzip_bomb_is_capped() -> None:
    bomb = gzip.compress(b"\0" * (64 * MiB))
    assert len(bomb) < MiB
    started = time.thread_time()
    view = render_body(bomb, "application/octet-stream", "gzip")
    assert time.thread_time() - started < 1.0
    assert view.kind == "binary" and view.truncated
    assert view.note is not None
    assert "→ 8,388,608 bytes" in view.note and "capped at 8 MiB" in view.note


@pytest.mark.parametrize(
    ("encode", "encoding"),
    [
        (gzip.compress, "gzip"),
        (gzip.compress, "x-gzip"),
        (gzip.compress, "GZIP"),
        (lambda data: gzip.compress(data[:5]) + gzip.compress(data[5:]), "gzip"),
        (zlib.compress, "deflate"),
        (raw_deflate, "deflate"),
        (lambda data: gzip.compress(gzip.compress(data)), "gzip, gzip"),
        (lambda data: data, "identity"),
    ],
    ids=short_id,
)
def test_content_encoding_is_decoded_for_display(encode, encoding: str) -> None:
    doc = b'{"event": "push", "n": 1}'
    view = render_body(encode(doc), "application/json", encoding)
    assert view.kind == "json"
    assert json.loads(joined(view)) == json.loads(doc)
    if encoding != "identity":
        assert view.note is not None and "shown decompressed" in view.note


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_multipart_file_upload(newline: bytes) -> None:
    body = multipart(*upload(newline), newline=newline)
    content_type = "multipart/form-data; boundary=XyZ"
    view = render_body(body, content_type)
    assert view.kind == "multipart" and view.note is None and not view.truncated
    assert view.parts is not None
    title, file, empty = view.parts
    assert (title.index, title.name, title.filename, title.content_type) == (0, "title", None, None)
    assert title.text == "Hello <b>world</b>" and title.size == 18
    assert title.headers == [("Content-Disposition", 'form-data; name="title"')]
    assert (file.name, file.filename, file.content_type) == ("file", "pic.png", "image/png")
    assert file.size == len(PNG) and file.text is None
    assert file.hexdump == hexdump(PNG)[0]
    assert (empty.name, empty.text, empty.size) == ("empty", "", 0)

    found = multipart_part(body, content_type, 1)
    assert found is not None
    part, data = found
    assert data == PNG
    assert part == file


@pytest.mark.parametrize(
    ("content_type", "index"),
    [
        ("multipart/form-data; boundary=XyZ", 3),
        ("multipart/form-data; boundary=XyZ", -1),
        ("multipart/form-data; boundary=other", 0),
        ("multipart/form-data", 0),
        ("application/json", 0),
        (None, 0),
    ],
    ids=short_id,
)
def test_multipart_part_returns_none_when_there_is_no_such_part(
    content_type: str | None, index: int
) -> None:
    assert multipart_part(multipart(*upload()), content_type, index) is None


def test_multipart_part_honours_content_encoding() -> None:
    body = gzip.compress(multipart(*upload()))
    found = multipart_part(body, "multipart/form-data; boundary=XyZ", 1, "gzip")
    assert found is not None and found[1] == PNG


@pytest.mark.parametrize(
    ("part", "field", "expected"),
    [
        (
            b"Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''%E2%82%AC%20rates.txt"
            b'; filename="fallback.txt"\r\n\r\nx',
            "filename",
            "\u20ac rates.txt",
        ),
        (
            b'Content-Disposition: form-data; name="f"; filename="C:\\dir\\a \\"b\\".txt"\r\n\r\nx',
            "filename",
            'C:\\dir\\a "b".txt',
        ),
        (
            b'Content-Disposition: form-data; name="semi;colon"\r\n\r\nx',
            "name",
            "semi;colon",
        ),
        (
            'Content-Disposition: form-data; filename="r\u00e9sum\u00e9.pdf"\r\n\r\nx'.encode(),
            "filename",
            "r\u00e9sum\u00e9.pdf",
        ),
        (
            b"Content-Type: text/plain;\r\n charset=latin-1\r\n\r\ncaf\xe9",
            "headers",
            [("Content-Type", "text/plain; charset=latin-1")],
        ),
        (b"Content-Type: text/plain; charset=latin-1\r\n\r\ncaf\xe9", "text", "caf\u00e9"),
        (b"\r\nno headers at all", "text", "no headers at all"),
        (b"X-Header-Only: yes", "text", "X-Header-Only: yes"),
        (
            b"Content-Type: text/plain\r\n\r\nline\r\n--XyZabc is no boundary",
            "text",
            "line\r\n--XyZabc is no boundary",
        ),
        (b"Content-Type: text/plain\r\n\r\n" + b"t" * (PART_TEXT_CAP + 1), "truncated", True),
        (b"Content-Type: text/plain\r\n\r\n" + PNG, "text", None),
        (b"X: " + b"h" * (64 * 1024) + b"\r\n\r\nbody", "headers", []),
    ],
    ids=short_id,
)
def test_multipart_part_details(part: bytes, field: str, expected: object) -> None:
    view = render_body(multipart(part), 'multipart/form-data; boundary="XyZ"')
    assert view.kind == "multipart" and view.parts is not None and len(view.parts) == 1
    assert getattr(view.parts[0], field) == expected


def test_multipart_parts_are_capped() -> None:
    body = multipart(*[b"Content-Disposition: form-data; name=n\r\n\r\nv"] * (MAX_PARTS + 5))
    view = render_body(body, "multipart/form-data; boundary=XyZ")
    assert view.parts is not None and len(view.parts) == MAX_PARTS
    assert view.truncated and view.note == "More than 1,000 parts: showing the first 1,000."
    found = multipart_part(body, "multipart/form-data; boundary=XyZ", MAX_PARTS + 4)
    assert found is not None and found[1] == b"v"


def test_multipart_text_budget_is_shared() -> None:
    text = b"Content-Type: text/plain\r\n\r\n" + b"t" * PART_TEXT_CAP
    view = render_body(multipart(*[text] * 12), "multipart/form-data; boundary=XyZ")
    assert view.parts is not None
    assert sum(len(p.text or "") for p in view.parts) == TEXT_CAP
    assert view.parts[-1].text == "" and view.parts[-1].truncated
    assert view.truncated and view.note is not None and "download a part" in view.note


@pytest.mark.parametrize(
    ("body", "content_type", "fields"),
    [
        (
            b"a=1&a=2&blank=&bare&sp=hello+world&pct=%3Cb%3E%26%3D%2B&&utf=caf%C3%A9",
            FORM,
            [
                ("a", "1"),
                ("a", "2"),
                ("blank", ""),
                ("bare", ""),
                ("sp", "hello world"),
                ("pct", "<b>&=+"),
                ("utf", "caf\u00e9"),
            ],
        ),
        (
            b"bad=%FF%FE&half=%E2%82&k%20ey=v=w",
            FORM,
            [("bad", "\ufffd\ufffd"), ("half", "\ufffd"), ("k ey", "v=w")],
        ),
        (b"x=caf%E9", FORM + "; charset=latin-1", [("x", "caf\u00e9")]),
        (b"=&=v", FORM, [("", ""), ("", "v")]),
        (b"&&&", FORM, []),
    ],
    ids=short_id,
)
def test_form_fields_decode_like_a_browser(
    body: bytes, content_type: str, fields: list[tuple[str, str]]
) -> None:
    view = render_body(body, content_type)
    assert view.kind == "form" and view.fields == fields and not view.truncated


def test_form_fields_are_capped() -> None:
    view = render_body(b"&".join(b"f%d=v" % i for i in range(1500)), FORM)
    assert view.fields is not None and len(view.fields) == 1000 and view.fields[-1] == ("f999", "v")
    assert view.truncated and view.note == "More than 1,000 fields: showing the first 1,000."


@pytest.mark.parametrize(
    ("data", "limit", "expected", "truncated"),
    [
        (
            bytes.fromhex("deadbeef0041") + b"BCDEFGHIJ<>",
            32,
            "00000000  de ad be ef 00 41 42 43  44 45 46 47 48 49 4a 3c  |.....ABCDEFGHIJ<|\n"
            "00000010  3e                                                |>|",
            False,
        ),
        (
            b"Hello, world!\n",
            HEX_CAP,
            "00000000  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 0a        |Hello, world!.|",
            False,
        ),
        (b"hi", 16, "00000000  68 69" + " " * 45 + "|hi|", False),
        (b"\x7f\x80\xff ~", 3, "00000000  7f 80 ff" + " " * 42 + "|...|", True),
        (b"", 16, "", False),
    ],
    ids=short_id,
)
def test_hexdump_format(data: bytes, limit: int, expected: str, truncated: bool) -> None:
    assert hexdump(data, limit) == (expected, truncated)


@pytest.mark.parametrize(
    "doc",
    [
        {"b": 1, "a": [1, 2, {"c": None}], "e": {}, "f": [], "g": True, "h": False},
        [],
        {},
        "just a string",
        [[[[[]]]]],
        {"unicode": "caf\u00e9 \u2603 \U0001f600", "esc": 'tab\there "quoted" back\\slash \u0000'},
        {"nested": [{"deep": [{"deeper": ["x"] * 3}]}]},
    ],
)
def test_json_tokens_join_back_to_pretty_text(doc: object) -> None:
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode()
    view = render_body(body, "application/json")
    assert view.kind == "json" and view.note is None and not view.truncated
    assert joined(view) == json.dumps(doc, indent=2, ensure_ascii=False)
    assert view.tokens is not None
    assert {cls for cls, _ in view.tokens} <= set(STANDARD_TYPES.values())


def test_json_numbers_and_duplicate_keys_stay_as_written() -> None:
    body = b'{"n": 1.10, "big": 12345678901234567890123, "exp": 1E+400, "n": -0.0, "x": "\\/"}'
    view = render_body(body, "application/json")
    assert joined(view) == (
        '{\n  "n": 1.10,\n  "big": 12345678901234567890123,\n  "exp": 1E+400,\n'
        '  "n": -0.0,\n  "x": "/"\n}'
    )
    assert view.tokens is not None
    assert ("nt", '"big"') in view.tokens and ("mi", "12345678901234567890123") in view.tokens
    assert ("mf", "1.10") in view.tokens


@pytest.mark.parametrize(
    "body",
    [
        b'{"n": ' + b"9" * 5000 + b"}",  # int() refuses over 4300 digits
        b'["\\ud800", "\\udfff\\ud83d\\ude00"]',  # lone surrogates cannot be UTF-8 encoded
        b"[NaN, Infinity, -Infinity]",
    ],
)
def test_json_oddities_render_as_json(body: bytes) -> None:
    view = render_body(body, "application/json")
    assert view.kind == "json"
    joined(view).encode("utf-8")  # must be encodable for the response


def test_large_json_is_cut_at_the_cap_as_a_prefix_of_the_full_pretty_text() -> None:
    doc = [{"id": i, "name": f"user {i}", "tags": ["a", "b"]} for i in range(20_000)]
    view = render_body(json.dumps(doc).encode(), "application/json")
    text = joined(view)
    assert view.kind == "json" and view.truncated
    assert view.note == "Pretty-printed JSON is over 256 KiB: showing the first 256 KiB."
    assert len(text) <= JSON_CAP
    assert json.dumps(doc[:10_000], indent=2).startswith(text)


def test_huge_json_string_is_cut_inside_the_string() -> None:
    view = render_body(json.dumps({"blob": "z" * MiB}).encode(), "application/json")
    assert view.kind == "json" and view.truncated and view.tokens is not None
    assert len(joined(view)) == JSON_CAP
    assert view.tokens[-1] == ("s2", '"' + "z" * (JSON_CAP - len('{\n  "blob": ') - 1))


def test_json_over_the_validation_cap_is_pretty_printed_unvalidated() -> None:
    doc = [{"id": i, "v": 1.5} for i in range(200_000)]
    view = render_body(json.dumps(doc).encode(), None)
    assert view.kind == "json" and view.truncated
    assert view.note is not None and "too large to validate as JSON" in view.note
    assert json.dumps(doc[:20_000], indent=2).startswith(joined(view))


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        (b"caf\xe9", "text/plain; charset=ISO-8859-1", "caf\u00e9"),
        (b"\x93quoted\x94", "text/plain; charset=windows-1252", "\u201cquoted\u201d"),
        ("h\u00e9llo".encode("utf-16"), "text/plain; charset=utf-16", "h\u00e9llo"),
        (b"+2AA-", "text/plain; charset=utf-7", "\ufffd"),  # decodes to a lone surrogate
        ("\u00e9".encode() * (TEXT_CAP // 2 + 1), "text/plain", "\u00e9" * (TEXT_CAP // 2)),
        ("x\u00e9".encode() * (TEXT_CAP // 3 + 1), None, "x\u00e9" * (TEXT_CAP // 3)),
    ],
    ids=short_id,
)
def test_text_respects_charset_and_cuts_on_character_boundaries(
    body: bytes, content_type: str | None, text: str
) -> None:
    view = render_body(body, content_type)
    assert view.kind == "text"
    assert view.text is not None and view.text.startswith(text)
    assert len(view.text.encode("utf-8", "strict")) <= TEXT_CAP


def test_script_payload_stays_literal_data_everywhere() -> None:
    raw = SCRIPT.encode()
    pct = raw.replace(b"<", b"%3C").replace(b">", b"%3E").replace(b"'", b"%27")
    views = {
        "json": render_body(json.dumps({SCRIPT: SCRIPT}).encode(), "application/json"),
        "text": render_body(raw, "text/html"),
        "form": render_body(b"raw=" + raw + b"&pct=" + pct, FORM),
        "note": render_body(b"\x00", "text/" + SCRIPT),
        "multipart": render_body(
            multipart(
                b'Content-Disposition: form-data; name="' + raw + b'"; filename="' + raw + b'"\r\n'
                b"X-Evil: " + raw + b"\r\n\r\n" + raw
            ),
            "multipart/form-data; boundary=XyZ",
        ),
    }
    assert views["json"].tokens is not None
    assert ("nt", json.dumps(SCRIPT)) in views["json"].tokens
    assert ("s2", json.dumps(SCRIPT)) in views["json"].tokens
    assert views["text"].text == SCRIPT
    assert views["form"].fields == [("raw", SCRIPT), ("pct", SCRIPT)]
    assert views["note"].note is not None and SCRIPT in views["note"].note
    parts = views["multipart"].parts
    assert parts is not None
    assert (parts[0].name, parts[0].filename, parts[0].text) == (SCRIPT, SCRIPT, SCRIPT)
    assert ("X-Evil", SCRIPT) in parts[0].headers
    for view in views.values():
        strings = [view.text, view.note, view.hexdump, *(t for _, t in view.tokens or [])]
        strings += [v for pair in view.fields or [] for v in pair]
        for part in view.parts or []:
            strings += [part.name, part.filename, part.text, *(v for h in part.headers for v in h)]
        assert all(type(s) is str for s in strings if s is not None)  # no Markup, no HTML
        assert not any("&lt;" in s for s in strings if s)


# --- raw views and folding JSON ----------------------------------------------


def tree_text(view: BodyView) -> str:
    """What the folding view's element holds as text: its lines, one break between each."""
    assert view.tree is not None
    return "".join(
        "".join(text for _, text in line.tokens) + ("\n" if line.newline else "")
        for line in view.tree
    )


def test_reformatted_views_carry_the_body_as_received():
    form = b"a=J%C3%B6rg+M&b=&c"
    assert render_body(form, FORM).raw == form.decode()
    compact = b'{"n":1.10,"n":2}'
    view = render_body(compact, "application/json")
    assert view.raw == compact.decode() and joined(view) != view.raw
    text_parts = multipart(b'Content-Disposition: form-data; name="t"\r\n\r\nhello')
    assert render_body(text_parts, "multipart/form-data; boundary=XyZ").raw == text_parts.decode()
    # Bytes that are not text have no raw text view; plain text needs none.
    binary_parts = multipart(*upload())
    assert render_body(binary_parts, "multipart/form-data; boundary=XyZ").raw is None
    assert render_body(b"just text", "text/plain").raw is None


def test_a_long_raw_view_is_cut_and_says_so():
    body = json.dumps({"s": "x" * (TEXT_CAP + 10)}).encode()
    view = render_body(body, "application/json")
    assert view.raw_truncated and len(view.raw) == TEXT_CAP


def test_short_json_does_not_fold_and_long_json_folds_to_the_same_text():
    assert render_body(b'{"a": [1, 2]}', "application/json").tree is None
    data = {"items": [{"id": i, "tags": ["a", "b"], "meta": {}} for i in range(10)]}
    view = render_body(json.dumps(data).encode(), "application/json")
    assert tree_text(view) == joined(view) == json.dumps(data, indent=2)
    kinds = [line.kind for line in view.tree]
    assert kinds.count("open") == kinds.count("close") == 1 + 1 + 10 + 10
    first = next(line for line in view.tree if line.kind == "open")
    assert first.closed == " … }  (1 key)"
    items = [line for line in view.tree if line.kind == "open"][1]
    assert items.closed == " … ]  (10 items)"
    assert [line.closed for line in view.tree if line.kind == "open"][2] == " … },  (3 keys)"


def test_folds_are_capped_in_depth_and_number_and_stay_balanced():
    from webbin.web.bodyview import TREE_MAX_DEPTH, TREE_MAX_NODES

    deep = b"[" * 200 + b"1" + b"]" * 200  # json.loads refuses much deeper
    view = render_body(deep, "application/json")
    depth = deepest = 0
    for line in view.tree:
        depth += {"open": 1, "close": -1}.get(line.kind, 0)
        assert depth >= 0
        deepest = max(deepest, depth)
    assert depth == 0 and deepest == TREE_MAX_DEPTH
    assert tree_text(view) == joined(view)
    many = json.dumps([[i] for i in range(TREE_MAX_NODES * 2)]).encode()
    view = render_body(many, "application/json")
    assert [line.kind for line in view.tree].count("open") == TREE_MAX_NODES


def test_json_cut_by_the_cap_still_folds_balanced_and_fast():
    huge = json.dumps([{"k": [i, {"v": "x" * 20}]} for i in range(40_000)]).encode()
    started = time.monotonic()
    view = render_body(huge, "application/json")
    assert view.truncated and view.tree is not None
    kinds = [line.kind for line in view.tree]
    assert kinds.count("open") == kinds.count("close")
    assert tree_text(view) == joined(view)
    assert time.monotonic() - started < 5
