"""Pieces of the JMESPath expressions manifests check AWS responses with.

Neutral: imports nothing from reclaim. An expression is data in a manifest, evaluated by the
executor; values from a finding enter one only as literals, never as expression text.
"""

from __future__ import annotations

import json

from pydantic import JsonValue


def json_literal(value: JsonValue) -> str:
    """A JMESPath literal for any JSON value (quotes and backticks escaped)."""
    return "`" + json.dumps(value, sort_keys=True).replace("`", "\\`") + "`"
