"""Jinja2 rendering of the templates shipped with reclaim (StrictUndefined: a missing value
is a bug, not an empty string)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined


def templates_dir() -> Path:
    package = Path(__file__).resolve().parent
    installed = package / "templates"  # inside a wheel
    return installed if installed.is_dir() else package.parent / "templates"


def _money(value: float) -> str:
    return f"${value:,.2f}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir()),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["money"] = _money
    env.filters["code"] = _code
    env.filters["plain"] = _plain
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def _code(value: object) -> str:
    """Markdown inline code that no value can break out of (tag values are user input)."""
    text = str(value).replace("\n", " ")
    fence = "`"
    while fence in text:
        fence += "`"
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


_MARKDOWN_SPECIAL = "\\`*_{}[]<>()#+!|~"


def _plain(value: object) -> str:
    """Text that markdown shows as written: user data cannot format, link or inject HTML."""
    text = str(value).replace("\n", " ")
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)
