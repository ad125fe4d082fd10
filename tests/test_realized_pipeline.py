"""`reclaim measure-savings` (scan job, read-only) hands its reading to `reclaim propose`
(no AWS access), whose dashboard shows the track record; Cost Explorer through Stubber."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from botocore.stub import Stubber
from rich.console import Console

from generator.config import parse_config
from generator.forge.local import LocalGitForge
from generator.manifest.folder import RemediationFolder, digest
from generator.manifest.models import Journal, RunRecord
from generator.pipeline.realized_savings import load_reading, measure_savings_command
from generator.planner import plan_finding
from generator.propose import sync_proposals
from tests.factories import ACCOUNT, volume_finding
from tests.github.helpers import report
from tests.test_realized_savings import by_usage_type, ce_client, usage_type_request

AS_OF = datetime(2026, 2, 1, 6, tzinfo=UTC)
APPLIED = datetime(2026, 1, 25, 10, tzinfo=UTC)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def applied_volume(repo: Path, volume_id: str = "vol-0aaaaaaaaaaaaaaa1") -> str:
    """A merged plan whose apply completed, as the apply run commits it: plan + journal."""
    remediation = plan_finding(volume_finding(volume_id=volume_id))
    folder = RemediationFolder(repo / "remediations" / remediation.finding.id)
    folder.path.mkdir(parents=True)
    folder.write_manifests(remediation.plan, remediation.rollback, remediation.readme)
    run = RunRecord(kind="apply", status="completed", started_at=APPLIED, finished_at=APPLIED)
    folder.save_journal(
        Journal(
            plan_id=remediation.plan.plan_id,
            plan_sha256=digest(folder.plan_text()),
            rollback_sha256=digest(folder.rollback_text()),
            apply=run,
        )
    )
    return remediation.finding.id


class OneAccount:
    def __init__(self, ce: Any) -> None:
        self.ce = ce
        self.asked: list[tuple[str, str]] = []

    def __call__(self, account: Any) -> Any:
        return self

    def client(self, service: str, region: str) -> Any:
        self.asked.append((service, region))
        return self.ce


def config(repo: Path) -> Any:
    return parse_config(
        {"regions": ["us-east-1"], "accounts": [{"name": "prod", "id": ACCOUNT}]},
        source="reclaim.yml",
        base_dir=repo,
    )


def test_the_scan_measures_and_propose_publishes_the_track_record(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    finding_id = applied_volume(tmp_path)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "apply")
    ce = ce_client()
    start, end = date(2026, 1, 20), date(2026, 1, 31)
    output = tmp_path / "realized.json"
    err = io.StringIO()
    with Stubber(ce) as stub:
        stub.add_response(
            "get_cost_and_usage",
            by_usage_type(
                start,
                end,
                {"USE1-EBS:VolumeUsage.gp2": lambda d: 0.3 if d < APPLIED.date() else 0.0},
            ),
            usage_type_request(start, end, ["us-east-1"]),
        )
        sessions = OneAccount(ce)
        measure_savings_command(
            config(tmp_path), AS_OF, output, err=Console(file=err), session_for=sessions
        )
    assert sessions.asked == [("ce", "us-east-1")]
    assert "1 of 1 applied change(s) measured" in err.getvalue()

    dashboard = tmp_path / ".reclaim" / "dashboard.md"
    reading = load_reading(output, Console(file=io.StringIO()))
    sync_proposals(
        report(),
        LocalGitForge(tmp_path, dashboard_path=dashboard),
        "remediations",
        repo_root=tmp_path,
        realized=reading,
    )
    text = dashboard.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `ebs-unattached` |"))
    promised = volume_finding().cost.monthly_usd
    realized = round(0.3 * 730 / 24, 2)
    assert f"| 1 | 0 | 0% | ${promised:.2f} | 1 | ${realized:.2f} (of ${promised:.2f}) |" in row
    assert f"`{finding_id}`: promised ${promised:.2f}/month, realized ${realized:.2f}" in text


def test_cost_explorer_refusing_still_writes_the_reading_and_says_it_once(tmp_path: Path) -> None:
    applied_volume(tmp_path, "vol-0aaaaaaaaaaaaaaa1")
    applied_volume(tmp_path, "vol-0aaaaaaaaaaaaaaa2")
    ce = ce_client()
    err = io.StringIO()
    with Stubber(ce) as stub:
        stub.add_client_error(
            "get_cost_and_usage",
            service_error_code="AccessDeniedException",
            service_message="User is not authorized to perform: ce:GetCostAndUsage",
            http_status_code=400,
        )
        result = measure_savings_command(
            config(tmp_path),
            AS_OF,
            tmp_path / "realized.json",
            err=Console(file=err, width=400),
            session_for=OneAccount(ce),
        )
    assert err.getvalue().count("AccessDeniedException") == 1
    assert load_reading(tmp_path / "realized.json", Console(file=io.StringIO())) == result
    assert [m.realized_monthly_usd for m in result.measurements] == [None, None]


def test_an_account_not_in_reclaim_yml_is_not_asked(tmp_path: Path) -> None:
    applied_volume(tmp_path)
    other = parse_config(
        {"regions": ["us-east-1"], "accounts": [{"name": "dev", "id": "210987654321"}]},
        source="reclaim.yml",
        base_dir=tmp_path,
    )

    def no_session(account: Any) -> Any:
        raise AssertionError("a session was opened")

    result = measure_savings_command(
        other, AS_OF, tmp_path / "r.json", err=Console(file=io.StringIO()), session_for=no_session
    )
    assert result.unavailable == (
        f"account {ACCOUNT}: is not in reclaim.yml: its changes are not measured",
    )


def test_a_missing_reading_is_said_and_the_dashboard_says_not_measured(tmp_path: Path) -> None:
    err = io.StringIO()
    assert load_reading(tmp_path / "absent.json", Console(file=err, width=400)) is None
    assert "no realized-savings reading" in err.getvalue()


def test_a_journal_only_on_a_pull_request_branch_counts_for_nothing(tmp_path: Path) -> None:
    """A branch author commits a plan with a 'completed' journal on their branch: the
    default branch's checkout, which propose reads, does not have it."""
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "reclaim.yml").write_text("version: 1\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "init")
    git(tmp_path, "checkout", "-q", "-b", "reclaim/forged")
    applied_volume(tmp_path)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "forged journal")
    git(tmp_path, "checkout", "-q", "main")
    assert not (tmp_path / "remediations").exists()

    dashboard = tmp_path / "dashboard.md"
    sync_proposals(
        report(),
        LocalGitForge(tmp_path, dashboard_path=dashboard),
        "remediations",
        repo_root=tmp_path,
    )
    assert "No change applied yet" in dashboard.read_text()


class Services:
    """One account's session: a client per service (the stubbed ones)."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    def __call__(self, account: Any) -> Any:
        return self

    def client(self, service: str, region: str) -> Any:
        return self.clients[service]


def test_the_dashboard_counts_the_findings_aws_corroborates(tmp_path: Path) -> None:
    from tests.test_recommenders import _clients, _idle_item

    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "reclaim.yml").write_text("version: 1\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "init")
    one = volume_finding(volume_id="vol-0aaaaaaaaaaaaaaa1")
    two = volume_finding(volume_id="vol-0aaaaaaaaaaaaaaa2")
    clients, stubs = _clients()
    stubs["cost-optimization-hub"].add_client_error(
        "list_recommendations", service_error_code="AccessDeniedException", http_status_code=400
    )
    stubs["compute-optimizer"].add_response(
        "get_idle_recommendations",
        {"idleRecommendations": [_idle_item(one.resource_id, 4.0, None)]},
        {"accountIds": [ACCOUNT]},
    )
    err = io.StringIO()
    with stubs["cost-optimization-hub"], stubs["compute-optimizer"]:
        reading = measure_savings_command(
            config(tmp_path),
            AS_OF,
            tmp_path / "realized.json",
            err=Console(file=err, width=400),
            session_for=Services(clients),
            findings=[one, two],
        )
    assert reading.second_opinion_asked == tuple(sorted([one.id, two.id]))
    assert reading.corroborated == (one.id,)
    assert err.getvalue().count("Cost Optimization Hub") == 1  # said once

    dashboard = tmp_path / "dashboard.md"
    gone = volume_finding(volume_id="vol-0aaaaaaaaaaaaaaa9")  # corroborated, not found now
    reading = reading.model_copy(update={"corroborated": (*reading.corroborated, gone.id)})
    sync_proposals(
        report(one, two),
        LocalGitForge(tmp_path, dashboard_path=dashboard),
        "remediations",
        repo_root=tmp_path,
        realized=reading,
    )
    text = dashboard.read_text()
    assert "also flag\n**1 of the 2** current findings" in text
    assert "`Cost Optimization Hub: access denied`" in text.split("second opinion, not asked", 1)[1]


def test_second_opinion_off_asks_no_recommender(tmp_path: Path) -> None:
    off = parse_config(
        {
            "regions": ["us-east-1"],
            "accounts": [{"name": "prod", "id": ACCOUNT}],
            "forge": {"second_opinion": False},
        },
        source="reclaim.yml",
        base_dir=tmp_path,
    )
    reading = measure_savings_command(
        off,
        AS_OF,
        tmp_path / "r.json",
        err=Console(file=io.StringIO()),
        session_for=Services({}),  # any client asked for would be a KeyError
        findings=[volume_finding()],
    )
    assert reading.second_opinion_asked == () and reading.corroborated == ()


def test_a_malformed_reading_is_said_and_not_used(tmp_path: Path) -> None:
    bad = tmp_path / "realized.json"
    bad.write_text('{"as_of": "yesterday"}')
    err = io.StringIO()
    assert load_reading(bad, Console(file=err, width=400)) is None
    assert "realized-savings reading not used" in err.getvalue()


def test_the_command_line_writes_a_reading_and_skips_a_missing_findings_file(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from generator.cli import main

    (tmp_path / "reclaim.yml").write_text(
        "version: 1\nregions: [us-east-1]\naccounts: [{name: prod, id: '123456789012'}]\n"
        "forge: {second_opinion: false}\n"
    )
    result = CliRunner().invoke(
        main,
        [
            "measure-savings",
            "--config",
            str(tmp_path / "reclaim.yml"),
            "--as-of",
            "2026-02-01T06:00:00Z",
            "--output",
            str(tmp_path / "realized.json"),
            str(tmp_path / "shards" / "*.json"),  # the shell's glob when no shard uploaded
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no such findings file, skipped" in result.output
    reading = load_reading(tmp_path / "realized.json", Console(file=io.StringIO()))
    assert reading is not None and reading.measurements == () and reading.unavailable == ()
