"""Generated variants of a genuine file: byte edits, edits of its structure, and the shapes
that break naive readers (invalid UTF-8, deep nesting, huge numbers, lone surrogates, YAML
alias bombs and tags, wrong top-level types)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import strategies as st

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3),  # surrogates
    st.sampled_from(
        [
            "",
            "2026-13-45T99:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01",
            "vol-",
            "vol-/../../etc",
            "\x00",
            "\u202e",
            "-->",
        ]
    ),
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)

_BAD_BYTES = st.sampled_from(
    [
        b"\xff",
        b"\xc3",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\x00",
        b"\xef\xbb\xbf",
        b"\r",
        b"\x1b[31m",
    ]
)


def _depth_bomb(depth: int, open_: str, close: str) -> bytes:
    return (open_ * depth + close * depth).encode()


JSON_SPECIALS = st.sampled_from(
    [
        b"",
        b"null",
        b"[]",
        b'"a string"',
        b"42",
        b"NaN",
        b'{"a": Infinity}',
        b"1" * 5000,
        b'{"x": ' + b"9" * 5000 + b"}",
        b'{"a": "\\ud800"}',
        b'{"\\udfff": 1}',
        _depth_bomb(70, "[", "]"),
        _depth_bomb(5000, "[", "]"),
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b"\xef\xbb\xbf{}",
        b"{} {}",
    ]
)

YAML_SPECIALS = st.sampled_from(
    [
        b"",
        b"- a list\n",
        b"just text\n",
        b"version: 1\nversion: 2\n",
        b"\tversion: 1\n",
        b"!!python/object/apply:os.system ['true']\n",
        b"a: !!binary AAAA\n",
        b"? [a, b]\n: 1\n",
        b"1: one\n",
        b"a: &a [*a]\n",
        b"a: &a\n  b: *a\n",
        b"a: &x [1,1,1,1,1,1,1,1,1]\nb: &y [*x,*x,*x,*x,*x,*x,*x,*x,*x]\nc: &z [*y,*y,*y,*y,*y,*y,*y,*y,*y]\n"
        b"d: &w [*z,*z,*z,*z,*z,*z,*z,*z,*z]\ne: [*w,*w,*w,*w,*w,*w,*w,*w,*w]\n",
        _depth_bomb(70, "[", "]"),
        _depth_bomb(3000, "[", "]"),
        b"regions: us-east-1\n",
        b"accounts: {}\n",
        b"version: 1\nrules: {ebs-unattached: {min_unattached_days: 1e400}}\n",
        b"\xff\xfe",
    ]
)


@st.composite
def byte_edits(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["truncate", "insert", "overwrite", "delete", "duplicate"]))
        if kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(_BAD_BYTES | st.binary(min_size=1, max_size=8))
        elif kind == "overwrite" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        elif kind == "duplicate":
            data[position:position] = data[max(0, position - 64) : position]
    return bytes(data)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


@st.composite
def structure_edits(draw: st.DrawFn, original: Any) -> Any:
    """``original`` (a parsed document) with one to three values deleted, replaced, retyped
    or given an unknown sibling."""
    document = json.loads(json.dumps(original, default=str))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["replace", "delete", "unknown-key", "wrap", "stringify"]))
        if not path:
            if kind == "replace":
                document = draw(JSON_VALUES)
            continue
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        if kind == "replace":
            parent[key] = draw(JSON_VALUES)
        elif kind == "delete":
            del parent[key]
        elif kind == "unknown-key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(JSON_VALUES)
        elif kind == "wrap":
            parent[key] = [parent[key]]
        elif kind == "stringify":
            parent[key] = json.dumps(parent[key])
    return document


def _dump_json(document: Any, ascii_only: bool) -> bytes:
    try:
        text = json.dumps(document, ensure_ascii=ascii_only, indent=2)
    except ValueError:  # an integer too long for str(): the file would hold it anyway
        text = json.dumps(str(document))
    return text.encode("utf-8", "surrogatepass")


def json_variants(original: bytes) -> st.SearchStrategy[bytes]:
    document = json.loads(original)
    return st.one_of(
        byte_edits(original),
        st.builds(_dump_json, structure_edits(document), st.booleans()),
        st.builds(_dump_json, structure_edits(document), st.booleans()),
        JSON_SPECIALS,
    )


def _dump_yaml(document: Any) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True).encode("utf-8", "surrogatepass")


def yaml_variants(original: bytes) -> st.SearchStrategy[bytes]:
    document = yaml.safe_load(original)
    return st.one_of(
        byte_edits(original),
        st.builds(_dump_yaml, structure_edits(document)),
        st.builds(_dump_yaml, structure_edits(document)),
        YAML_SPECIALS,
    )


def text_variants(original: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(byte_edits(original), st.binary(max_size=64), JSON_SPECIALS)
