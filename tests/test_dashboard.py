"""The dashboard issue: what the last scan could not see is on it, not only in a CI log."""

from __future__ import annotations

from datetime import UTC, date, datetime

from generator.findings import FindingsReport, ScanError
from generator.forge.dashboard import render_dashboard, same_dashboard
from generator.forge.track_record import track_record
from generator.realized import AppliedChange, Measurement, RealizedReport
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


def _change(rule: str, resource: str, promised: float, rolled_back: bool = False) -> AppliedChange:
    return AppliedChange(
        finding_id=f"{rule}-{ACCOUNT}-us-east-1-{resource}",
        rule=rule,
        account=ACCOUNT,
        region="us-east-1",
        resource_id=resource,
        promised_monthly_usd=promised,
        applied_on=date(2026, 1, 25),
        rolled_back=rolled_back,
    )


def _measured(change: AppliedChange, realized: float | None, moved: float = 0.0) -> Measurement:
    return Measurement(
        finding_id=change.finding_id,
        days=6,
        realized_monthly_usd=realized,
        moved_monthly_usd=moved,
        moved_usage_types=("USE1-DataTransfer-Regional-Bytes",) if moved else (),
        basis="usage types in us-east-1, 6 day(s) after vs 6 before 2026-01-25",
    )


def _track_section(markdown: str) -> str:
    return markdown.split("## Track record of applied changes", 1)[1].split("## Open findings")[0]


def test_track_record_shows_realized_next_to_promised_per_rule_and_the_rollback_rate() -> None:
    volumes = [_change("ebs-unattached", f"vol-{i}", 10.0) for i in range(3)]
    rolled = _change("ebs-unattached", "vol-9", 10.0, rolled_back=True)
    nat = _change("nat-gateway-idle", "nat-1", 32.85)
    realized = RealizedReport(
        as_of=AS_OF,
        measurements=(
            _measured(volumes[0], 9.5),
            _measured(volumes[1], 8.5),
            _measured(volumes[2], None),  # Cost Explorer did not answer for it
            _measured(rolled, 10.0),  # rolled back: never counted as saved
            _measured(nat, 32.0, moved=20.0),
        ),
        unavailable=("account 123456789012: GetCostAndUsageWithResources: DataUnavailable",),
    )
    track = track_record([*volumes, rolled, nat], realized)

    section = _track_section(
        render_dashboard(FindingsReport(as_of=AS_OF, findings=()), [], {}, track)
    )

    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if "| `" in line}
    ebs = [cell.strip() for cell in rows["`ebs-unattached`"].split("|")[1:-1]]
    # applied 4, rolled back 1 (25 %), promised $30 live, 2 measured: $18 of $20 = 90 %
    assert ebs == ["`ebs-unattached`", "4", "1", "25%", "$30.00", "2", "$18.00 (of $20.00)", "90%"]
    nat_row = [cell.strip() for cell in rows["`nat-gateway-idle`"].split("|")[1:-1]]
    assert nat_row[3:] == ["0%", "$32.85", "1", "$32.00 (of $32.85)", "97%"]
    moved = section.split("### Cost that moved elsewhere (1)", 1)[1]
    assert f"`{nat.finding_id}`" in moved and "$20.00/month more on" in moved
    assert "`USE1-DataTransfer-Regional-Bytes`" in moved
    assert "DataUnavailable" in section.split("Not measured:", 1)[1]
    assert f"`{rolled.finding_id}`" not in section
    summary = render_dashboard(FindingsReport(as_of=AS_OF, findings=()), [], {}, track)
    assert (
        "| Realized savings measured on the bill (3 of 4 applied changes; see the track "
        "record) | **$50.00** |"
    ) in summary


def test_a_measurement_for_a_change_the_journals_do_not_know_is_ignored() -> None:
    known = _change("ebs-unattached", "vol-1", 10.0)
    stranger = _change("ebs-unattached", "vol-666", 1000.0)
    track = track_record(
        [known],
        RealizedReport(
            as_of=AS_OF, measurements=(_measured(known, 10.0), _measured(stranger, 1000.0))
        ),
    )
    assert track.realized_usd == 10.0 and track.measured == 1
    section = _track_section(
        render_dashboard(FindingsReport(as_of=AS_OF, findings=()), [], {}, track)
    )
    assert "vol-666" not in section


def test_without_a_reading_the_track_record_says_so_and_still_counts_rollbacks() -> None:
    changes = [_change("ec2-idle", "i-1", 50.0), _change("ec2-idle", "i-2", 50.0, rolled_back=True)]
    section = _track_section(
        render_dashboard(
            FindingsReport(as_of=AS_OF, findings=()), [], {}, track_record(changes, None)
        )
    )
    assert "Not measured this run" in section
    row = next(line for line in section.splitlines() if "`ec2-idle`" in line)
    assert [c.strip() for c in row.split("|")[2:-1]] == [
        "2",
        "1",
        "50%",
        "$50.00",
        "0",
        "not measured",
        "n/a",
    ]


def test_no_applied_change_no_table() -> None:
    markdown = render_dashboard(FindingsReport(as_of=AS_OF, findings=()), [], {})
    assert "No change applied yet" in _track_section(markdown)


def test_the_reading_date_alone_does_not_rewrite_the_dashboard() -> None:
    change = _change("ebs-unattached", "vol-1", 10.0)
    report = FindingsReport(as_of=AS_OF, findings=())

    def rendered(day: int) -> str:
        reading = RealizedReport(
            as_of=datetime(2026, 2, day, tzinfo=UTC), measurements=(_measured(change, 9.0),)
        )
        return render_dashboard(report, [], {}, track_record([change], reading))

    assert rendered(1) != rendered(2)
    assert same_dashboard(rendered(1), rendered(2))
