"""JSON Schemas of what reclaim reads and writes, generated from the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def json_schema(kind: str) -> dict[str, Any]:
    from generator.config import with_every_rule_typed
    from generator.findings import FindingsReport
    from generator.manifest.models import Journal, Plan, Rollback

    models: dict[str, type[BaseModel]] = {
        "plan": Plan,
        "rollback": Rollback,
        "journal": Journal,
        "findings": FindingsReport,
        "config": with_every_rule_typed(),
    }
    schema = models[kind].model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
