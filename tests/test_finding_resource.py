"""A finding's ``resource`` is JSON: checked whole wherever it comes from, except the
JSON-mode dump of a validated record that Rule.new_finding makes (scanned_finding)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from generator.aws.prices import bundled_prices
from generator.findings import Finding, scanned_finding
from tests.factories import volume_finding

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


def _fields(resource: Any) -> dict[str, Any]:
    return {
        "id": "toy-123456789012-us-east-1-t-1",
        "rule": "toy",
        "account": "123456789012",
        "region": "us-east-1",
        "resource_type": "Toy::Thing",
        "resource_id": "t-1",
        "title": "t",
        "observed_at": AS_OF,
        "cost": bundled_prices().cost(1.0, "us-east-1", "toy"),
        "reversibility": "report-only",
        "risk": "low",
        "evidence": (),
        "resource": resource,
    }


@pytest.mark.parametrize(
    "resource",
    [{"when": AS_OF}, {"ids": {"a", "b"}}, {"nested": [{"deep": object()}]}, ["not", "a dict"]],
    ids=["datetime", "set", "object", "list"],
)
def test_a_resource_that_is_not_json_is_refused(resource: Any) -> None:
    with pytest.raises(ValidationError, match="resource"):
        Finding(**_fields(resource))
    with pytest.raises(ValidationError, match="resource"):
        Finding.model_validate(_fields(resource))


def test_a_findings_file_resource_is_checked_whole() -> None:
    import json

    finding = volume_finding()
    data = json.loads(finding.model_dump_json())
    assert Finding.model_validate_json(json.dumps(data)) == finding
    for resource in ([1, 2], "a string", None):
        with pytest.raises(ValidationError, match="resource"):
            Finding.model_validate_json(json.dumps({**data, "resource": resource}))


def test_only_a_dict_is_taken_as_a_dumped_record() -> None:
    with pytest.raises(ValidationError, match="resource"):
        scanned_finding(**_fields(["not", "a dict"]))
    made = scanned_finding(**_fields({"thing_id": "t-1", "sizes": [1, 2], "on": True}))
    assert Finding.model_validate_json(made.model_dump_json()) == made


def test_every_other_field_of_a_scanned_finding_is_still_validated() -> None:
    with pytest.raises(ValidationError, match="account"):
        scanned_finding(**{**_fields({}), "account": "not-an-account"})
    with pytest.raises(ValidationError, match="id"):
        scanned_finding(**{**_fields({}), "id": "no spaces allowed in an ID"})
