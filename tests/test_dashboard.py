"""The dashboard issue: what the last scan could not see is on it, not only in a CI log."""

from __future__ import annotations

from datetime import UTC, datetime

from generator.findings import FindingsReport, ScanError
from generator.forge.dashboard import render_dashboard
from tests.factories import ACCOUNT, volume_finding

AS_OF = datetime(2026, 2, 1, tzinfo=UTC)


def test_a_degraded_data_source_is_listed_with_its_effect() -> None:
    warning = ScanError(
        account=ACCOUNT,
        region="us-east-1",
        rule="ebs-unattached",
        message="CloudTrail LookupEvents failed (HTTP 500) after 3 attempts: unattached ages "
        "come from the first-seen clocks only",
    )
    report = FindingsReport(as_of=AS_OF, findings=(volume_finding(),), warnings=(warning,))

    markdown = render_dashboard(report, [], {})

    section = markdown.split("## Warnings from the last scan (1)", 1)[1].split("## Errors", 1)[0]
    assert "`ebs-unattached`" in section and "first-seen clocks only" in section
    assert "## Errors from the last scan (0)" in markdown  # a warning is not an error


def test_no_warnings_section_when_every_source_answered() -> None:
    report = FindingsReport(as_of=AS_OF, findings=(volume_finding(),))
    assert "Warnings from the last scan" not in render_dashboard(report, [], {})
