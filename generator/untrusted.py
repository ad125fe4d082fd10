"""Reading what anyone may have written: reclaim.yml, a pull request's plan.json,
rollback.json, README.md and journal.json, findings and shard files, the state file, results
files and webhook payloads.

Each is read with limits, so that no byte sequence becomes a traceback: at most
``MAX_BYTES`` (read as such, never more), strict UTF-8, JSON or YAML nested at most
``MAX_DEPTH`` deep with at most ``MAX_VALUES`` values (a YAML alias bomb counts every
expansion), text keys only, no NaN or Infinity, no integer beyond what Python parses, no lone
surrogate (which would make printing the value fail later). Every refusal is one message that
names the file, raised as the caller's error class (and so with its exit code).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from generator.errors import ReclaimError, describe_validation_error

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 500_000

_Model = TypeVar("_Model", bound=BaseModel)


class _Refused(Exception):
    """What is wrong with a parsed document; the caller words it with the file's name."""


def read_bytes(
    path: Path, error: type[ReclaimError], *, max_bytes: int = MAX_BYTES, hint: str | None = None
) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise error(f"{path} does not exist", hint=hint) from None
    except IsADirectoryError:
        raise error(f"{path} is a directory, not a file", hint=hint) from None
    except OSError as failure:
        raise error(f"cannot read {path}: {failure.strerror or failure}", hint=hint) from None
    if len(data) > max_bytes:
        raise error(
            f"{path} is larger than {max_bytes // (1024 * 1024)} MiB: refused unread",
            hint=hint,
        )
    return data


def decode(data: bytes, path: Path | str, error: type[ReclaimError], hint: str | None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as failure:
        line = data.count(b"\n", 0, failure.start) + 1
        raise error(
            f"{path} is not valid UTF-8 (line {line}, byte {failure.start}: {failure.reason})",
            hint=hint,
        ) from None


def read_text(
    path: Path, error: type[ReclaimError], *, max_bytes: int = MAX_BYTES, hint: str | None = None
) -> str:
    return decode(read_bytes(path, error, max_bytes=max_bytes, hint=hint), path, error, hint)


def _no_constant(name: str) -> float:
    raise _Refused(f"{name} is not a number JSON allows")


def parse_json(text: str, source: Path | str, error: type[ReclaimError], hint: str | None) -> Any:
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as failure:
        raise error(
            f"{source}: not valid JSON at line {failure.lineno}, column {failure.colno}: "
            f"{failure.msg}",
            hint=hint,
        ) from None
    except RecursionError:
        raise error(f"{source}: nested deeper than {MAX_DEPTH} levels", hint=hint) from None
    except (_Refused, ValueError) as failure:  # ValueError: an integer of 4,300+ digits
        raise error(f"{source}: not valid JSON: {failure}", hint=hint) from None
    return checked(data, source, error, hint)


def parse_yaml(text: str, source: Path | str, error: type[ReclaimError], hint: str | None) -> Any:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as failure:
        mark = getattr(failure, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(failure, "problem", None) or str(failure).splitlines()[0]
        raise error(f"{source}{where}: not valid YAML: {problem}", hint=hint) from None
    except RecursionError:
        raise error(f"{source}: nested deeper than {MAX_DEPTH} levels", hint=hint) from None
    except (ValueError, TypeError) as failure:  # a constructor refusing a value
        raise error(f"{source}: not valid YAML: {failure}", hint=hint) from None
    return checked(data, source, error, hint)


def checked(data: Any, source: Path | str, error: type[ReclaimError], hint: str | None) -> Any:
    try:
        _walk(data)
    except _Refused as failure:
        raise error(f"{source}: {failure}", hint=hint) from None
    return data


def _walk(data: Any) -> None:
    """Depth, size, keys and text of a parsed document, without recursion (the document may
    be a YAML alias bomb or refer to itself: every visit counts against MAX_VALUES)."""
    pending: list[tuple[Any, int, str]] = [(data, 1, "")]
    visited = 0
    while pending:
        value, depth, where = pending.pop()
        visited += 1
        if visited > MAX_VALUES:
            raise _Refused(f"more than {MAX_VALUES:,} values (or a reference to itself)")
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels (at {where or 'the top'})")
        if isinstance(value, str):
            _text(value, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise _Refused(f"{where or 'the top level'}: key {key!r} is not text")
                _text(key, where)
                pending.append((item, depth + 1, f"{where}.{key}" if where else key))
        elif isinstance(value, list | tuple):
            pending.extend((item, depth + 1, f"{where}[{n}]") for n, item in enumerate(value))


def _text(value: str, where: str) -> None:
    if value.isascii():  # most text: no surrogate possible, and no copy made to find out
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused(f"{where or 'a value'}: holds a lone surrogate (\\ud800-\\udfff)") from None


def to_model(
    model: type[_Model],
    data: Any,
    source: Path | str,
    error: type[ReclaimError],
    hint: str | None = None,
) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as failure:
        raise error(describe_validation_error(str(source), failure), hint=hint) from None


def load_json_model(
    path: Path,
    model: type[_Model],
    error: type[ReclaimError],
    *,
    hint: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> _Model:
    """``path`` read with the limits above and validated as ``model``; any failure is one
    ``error`` naming the file."""
    text = read_text(path, error, max_bytes=max_bytes, hint=hint)
    return to_model(model, parse_json(text, path, error, hint), path, error, hint)
