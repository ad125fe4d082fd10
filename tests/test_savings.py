"""Savings net of the backup a plan keeps: in the PR body and in scan output, rendered from
the finding's record and the bundled price table (nothing new is stored in the finding)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from generator.aws.prices import bundled_prices
from generator.findings import Cost, Finding, FindingsReport
from generator.planner import plan_finding
from generator.report_format import findings_markdown, print_report
from generator.savings import net_savings

CASES = Path(__file__).parent / "golden" / "cases"


def _golden(rule: str) -> Finding:
    path = sorted((CASES / rule).glob("*/plan.json"))[0]
    return Finding.model_validate(json.loads(path.read_text())["finding"])


def _volume(size_gib: int, volume_type: str, monthly: float, **changes: Any) -> Finding:
    finding = _golden("ebs-unattached")
    resource = json.loads(json.dumps(finding.resource))
    resource["volume"].update(size_gib=size_gib, volume_type=volume_type)
    cost = finding.cost.model_copy(update={"monthly_usd": monthly})
    return finding.model_copy(update={"resource": resource, "cost": cost, **changes})


def test_a_deleted_volume_saves_its_price_less_its_backup_snapshot() -> None:
    finding = _volume(100, "gp2", 10.0)
    net = net_savings(finding)
    assert net is not None
    rate = bundled_prices().ebs.snapshot.standard_gib_month
    assert net.backup.monthly_usd == round(100 * rate, 2) == 5.0
    assert net.net_monthly_usd == 5.0
    assert net.backup.upper_bound and "upper bound" in net.backup.basis

    body = plan_finding(finding).readme
    assert "| Saves | **$10.00/month**" in body
    backup_row = next(line for line in body.splitlines() if line.startswith("| Backup kept |"))
    assert "up to $5.00/month" in backup_row
    assert "net at least $5.00/month for the 30 days it is kept after the apply" in backup_row
    assert "$10.00/month once it is deleted" in backup_row
    assert "volume's size is an upper bound" in body


def test_a_backup_dearer_than_the_volume_is_said_plainly() -> None:
    # 2 TiB of sc1 costs $30.72/month; a full snapshot of it up to $102.40/month.
    finding = _volume(2048, "sc1", 30.72)
    net = net_savings(finding)
    assert net is not None and net.net_monthly_usd == round(30.72 - 102.40, 2)
    body = plan_finding(finding).readme
    assert "the backup costs up to $71.68/month more than the resource did" in body
    assert "net at least" not in body


def test_an_unknown_saving_has_an_unknown_net() -> None:
    finding = _volume(100, "gp2", 0.0)
    finding = finding.model_copy(update={"cost": finding.cost.model_copy(update={"unknown": True})})
    body = plan_finding(finding).readme
    row = next(line for line in body.splitlines() if line.startswith("| Backup kept |"))
    assert "net saving unknown" in row and "once it is deleted" not in row


def test_a_backup_priced_with_another_regions_list_prices_is_marked_estimated() -> None:
    finding = _golden("ebs-unattached")
    finding = finding.model_copy(update={"region": "eu-west-1"})
    net = net_savings(finding)
    assert net is not None and net.estimated
    assert "(estimated)" in net.backup_words


def test_a_plan_that_keeps_no_billed_backup_shows_the_saving_alone() -> None:
    for rule in ("eip-unassociated", "ec2-idle", "logs-retention"):
        finding = _golden(rule)
        assert net_savings(finding) is None
        assert "Backup kept" not in plan_finding(finding).readme


def test_scan_output_shows_the_net_figure_beside_the_findings() -> None:
    volume, address = _volume(100, "gp2", 10.0), _golden("eip-unassociated")
    report = FindingsReport(as_of=volume.observed_at, findings=(volume, address))
    markdown = findings_markdown(report)
    lines = [line for line in markdown.splitlines() if line.startswith("- ")]
    assert lines == [
        f"- {volume.resource_id}: the backup snapshot of {volume.resource_id}: up to "
        "$5.00/month; net at least $5.00/month for the 30 days it is kept"
    ]
    console = Console(file=io.StringIO(), width=200)
    print_report(report, "table", console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "net of the backups the plans keep:" in text
    assert f"{volume.resource_id}: the backup snapshot" in text
    assert address.resource_id + ":" not in text


def test_cost_stays_the_gross_saving() -> None:
    """The net figure is rendered, not stored: the finding's cost is what the change stops
    paying, as before (the golden manifests hold every byte of the serialized finding)."""
    finding = _volume(100, "gp2", 10.0)
    assert isinstance(finding.cost, Cost) and finding.cost.monthly_usd == 10.0
    assert "backup" not in json.loads(finding.model_dump_json())["cost"]


def test_the_pr_states_the_configured_retention_and_apply_holds_it_to_reclaim_yml() -> None:
    """backup_retention_days is in the record and in the plan's notes: a PR stating 365 days
    when the default branch's reclaim.yml says 30 is refused by apply's re-observation."""
    import pytest

    from generator.errors import PrecheckFailed
    from generator.executor.observe import check_observed
    from generator.rules.ebs_unattached import EbsUnattachedSettings

    assert EbsUnattachedSettings().backup_retention_days == 30
    with pytest.raises(ValueError):
        EbsUnattachedSettings(backup_retention_days=0)
    observed = _volume(100, "gp2", 10.0)
    assert observed.resource["backup_retention_days"] == 30
    forged_resource = {**observed.resource, "backup_retention_days": 365}
    forged = observed.model_copy(update={"resource": forged_resource})
    remediation = plan_finding(forged)
    assert "for the 365 days it is kept" in remediation.readme
    assert any("kept 365 days after the apply" in note for note in remediation.plan.notes)
    with pytest.raises(PrecheckFailed, match="no longer what the rule derives"):
        check_observed(remediation.plan, remediation.rollback, observed)
    honest = plan_finding(observed)
    check_observed(honest.plan, honest.rollback, observed)  # the same retention passes
