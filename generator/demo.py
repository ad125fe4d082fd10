"""`reclaim demo`: the whole path, offline, in under a minute.

An in-process AWS (moto) is seeded with a small but realistic account; a local git repository
stands in for GitHub. Two scans ten days apart (the scheduled workflow runs daily; AWS keeps
no detach time, so the first scan starts each volume's clock), one branch per finding, a
merge, the apply that merge triggers, and a rollback. The repository is left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from generator.aws.session import AccountSession
from generator.config import load_config
from generator.errors import MissingDependency, ReclaimError
from generator.executor.observe import RuleObserver
from generator.executor.runner import Executor
from generator.forge.local import LocalGitForge
from generator.propose import propose, remediations_in_repo
from generator.report_format import ScanDetails, details_text, findings_table, print_run
from generator.report_stream import reason_group
from generator.scan import scan

MARKER = ".reclaim-demo"
DEMO_REGIONS = ("us-east-1", "eu-west-1")
DAYS_BETWEEN_SCANS = 10
_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "reclaim demo",
    "GIT_AUTHOR_EMAIL": "demo@reclaim.invalid",
    "GIT_COMMITTER_NAME": "reclaim demo",
    "GIT_COMMITTER_EMAIL": "demo@reclaim.invalid",
}
_AWS_ISOLATION = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_AWS_VARIABLES_TO_HIDE = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@dataclass(frozen=True)
class DemoResult:
    repo: Path
    findings: int
    monthly_usd: float
    merged_finding: str
    deleted_volume: str
    backup_snapshot: str
    restored_volume: str
    mismatches: tuple[str, ...]


@contextmanager
def _isolated_environment() -> Iterator[None]:
    """Fake credentials and no endpoint overrides: the demo can never reach a real account."""
    saved = {
        key: os.environ.get(key)
        for key in (*_AWS_ISOLATION, *_AWS_VARIABLES_TO_HIDE, *_GIT_IDENTITY)
    }
    try:
        for key in _AWS_VARIABLES_TO_HIDE:
            os.environ.pop(key, None)
        os.environ.update(_AWS_ISOLATION)
        os.environ.update(_GIT_IDENTITY)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _prepare_directory(directory: Path) -> Path:
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise ReclaimError(
                f"{directory} exists and is not a previous reclaim demo; refusing to touch it",
                hint="pass --dir with a new or empty directory",
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("created by `reclaim demo`; safe to delete\n")
    return directory


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ReclaimError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def _commit_all(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


def _tags(**tags: str) -> list[dict[str, Any]]:
    return [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def seed_account(session: AccountSession) -> dict[str, str]:
    """A small account: servers with their disks, and the volumes people forgot."""
    ec2 = session.client("ec2", "us-east-1")
    kms = session.client("kms", "us-east-1")
    key_arn = kms.create_key(Description="analytics data key")["KeyMetadata"]["Arn"]
    ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=2,
        MaxCount=2,
        InstanceType="t3.medium",
        Placement={"AvailabilityZone": "us-east-1a"},
    )

    def volume(region: str, zone: str, **spec: Any) -> str:
        client = session.client("ec2", region)
        return str(client.create_volume(AvailabilityZone=zone, **spec)["VolumeId"])

    ids = {
        "test-do-not-delete": volume(
            "us-east-1",
            "us-east-1a",
            Size=100,
            VolumeType="gp2",
            TagSpecifications=_tags(Name="test-do-not-delete", team="platform"),
        ),
        "old-ci-cache": volume(
            "us-east-1",
            "us-east-1b",
            Size=500,
            VolumeType="io1",
            Iops=5000,
            TagSpecifications=_tags(Name="old-ci-cache", team="build"),
        ),
        "analytics-scratch": volume(
            "us-east-1",
            "us-east-1c",
            Size=1000,
            VolumeType="gp3",
            Iops=6000,
            Throughput=500,
            Encrypted=True,
            KmsKeyId=key_arn,
            TagSpecifications=_tags(Name="analytics-scratch", team="data"),
        ),
        "legal-hold": volume(
            "us-east-1",
            "us-east-1a",
            Size=50,
            VolumeType="gp2",
            TagSpecifications=_tags(Name="legal-hold", **{"reclaim:skip": "litigation"}),
        ),
        "golden-image-builder": volume(
            "us-east-1",
            "us-east-1a",
            Size=30,
            VolumeType="gp3",
            TagSpecifications=_tags(Name="golden-image-builder"),
        ),
        "eu-backup-staging": volume(
            "eu-west-1",
            "eu-west-1a",
            Size=500,
            VolumeType="st1",
            TagSpecifications=_tags(Name="eu-backup-staging", team="platform"),
        ),
    }
    return ids


def _write_config(repo: Path, excluded_volume: str) -> None:
    config = {
        "version": 1,
        "regions": list(DEMO_REGIONS),
        "rules": {
            "ebs-unattached": {
                "min_unattached_days": 7,
                # The in-process AWS keeps no CloudTrail event history.
                "use_cloudtrail": False,
            }
        },
        "exclusions": {"skip_tag": "reclaim:skip", "resource_ids": [excluded_volume]},
        "output": {"remediations_dir": "remediations", "state_file": ".reclaim/state.json"},
        "forge": {"type": "local", "path": ".", "base_branch": "main"},
    }
    (repo / "reclaim.yml").write_text(
        "# reclaim demo configuration (see README: config reference)\n"
        + yaml.safe_dump(config, sort_keys=False)
    )


def _restored_mismatches(
    session: AccountSession, original: dict[str, Any], restored_id: str
) -> tuple[str, ...]:
    ec2 = session.client("ec2", "us-east-1")
    restored = ec2.describe_volumes(VolumeIds=[restored_id])["Volumes"][0]
    fields = (
        "AvailabilityZone",
        "VolumeType",
        "Size",
        "Iops",
        "Throughput",
        "Encrypted",
        "KmsKeyId",
    )
    problems = [f for f in fields if original.get(f) != restored.get(f)]

    def tags(volume: dict[str, Any]) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in volume.get("Tags", [])}

    if tags(original) != tags(restored):
        problems.append("Tags")
    return tuple(problems)


def _idle_database(
    repo: Path,
    session: AccountSession,
    config: Any,
    forge: LocalGitForge,
    folder: str,
    as_of: datetime,
    console: Console,
) -> str:
    """An RDS instance nobody connected to for two weeks: found, stopped, started again."""
    rds = session.client("rds", "us-east-1")
    name = "reports-staging"
    rds.create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="reports",
        MasterUserPassword="demo-password",
        Tags=[{"Key": "team", "Value": "bi"}],
    )
    session.client("cloudwatch", "us-east-1").put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "DatabaseConnections",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": name}],
                "Timestamp": as_of - timedelta(days=day, hours=1),
                "Value": 0.0,
            }
            for day in range(14)
        ],
    )
    rules = config.rules.model_copy(
        update={
            rule.replace("-", "_"): config.rule_settings(rule).model_copy(
                update={"enabled": rule == "rds-idle"}
            )
            for rule in config.enabled_rules()
        }
    )
    report = scan(config.model_copy(update={"rules": rules}), as_of=as_of)
    finding = next(f for f in report.findings if f.resource_id == name)
    propose(report, forge, folder)
    forge.merge(finding.id)
    console.print(
        f"\n[bold]rds-idle[/bold]: {finding.title}: ${finding.cost.monthly_usd:,.2f}/month "
        f"({finding.cost.basis}). Reviewer merged reclaim/{finding.id}",
        highlight=False,
    )
    executor = Executor(
        client_for=session.client,
        account_id=session.account_id,
        observer=RuleObserver.from_config(config),
        clock=lambda: as_of,
        actor="demo-reviewer",
    )
    remediation = repo / folder / finding.id

    def status() -> str:
        return str(
            rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0][
                "DBInstanceStatus"
            ]
        )

    print_run(executor.apply(remediation), console)
    stopped = status()
    _commit_all(repo, f"reclaim apply {finding.id}: journal")
    console.print(f"\n[bold]/rollback[/bold] commented on the merged PR for {name}")
    print_run(executor.rollback(remediation), console)
    _commit_all(repo, f"reclaim rollback {finding.id}: journal")
    started = status()
    if (stopped, started) != ("stopped", "available"):
        raise ReclaimError(f"demo: {name} was {stopped} after apply and {started} after rollback")
    return (
        f"stopped {name} (${finding.cost.monthly_usd:,.2f}/month compute; storage still "
        f"billed), started again: {started}"
    )


def run_demo(directory: Path, console: Console) -> DemoResult:
    try:
        from moto import mock_aws
    except ImportError:
        raise MissingDependency(
            "the demo needs moto (an in-process AWS)",
            hint='install it with: pip install "reclaim[demo]"',
        ) from None
    repo = _prepare_directory(directory)
    with _isolated_environment(), mock_aws():
        return _run(repo, console)


def _run(repo: Path, console: Console) -> DemoResult:
    session = AccountSession(label="demo (in-process moto)")
    console.rule("[bold]reclaim demo[/bold]: an in-process AWS account and a local git repository")
    ids = seed_account(session)
    _git(repo, "init", "-q", "-b", "main")
    _write_config(repo, ids["golden-image-builder"])
    _commit_all(repo, "Add reclaim.yml")
    config = load_config(repo / "reclaim.yml")
    console.print(
        f"Seeded account {session.account_id()}: 2 running servers, "
        f"{len(ids)} unattached volumes in {', '.join(DEMO_REGIONS)}.\n"
        f"Repository: {repo}",
        highlight=False,
    )

    day0 = datetime.now(UTC)
    first = scan(config, as_of=day0)
    _commit_all(repo, "reclaim scan: record first-seen times")
    console.print(
        f"\n[bold]Day 0[/bold] scan: {len(first.findings)} findings. AWS records no detach time, "
        f"so the scan starts a clock for each of "
        f"{sum(1 for s in first.skipped if s.rule == 'ebs-unattached')} unattached volumes "
        f"(.reclaim/state.json).",
        highlight=False,
    )
    fresh = session.client("ec2", "us-east-1").create_volume(
        AvailabilityZone="us-east-1a",
        Size=20,
        VolumeType="gp3",
        TagSpecifications=_tags(Name="detached-this-morning"),
    )["VolumeId"]

    day10 = day0 + timedelta(days=DAYS_BETWEEN_SCANS)
    report = scan(config, as_of=day10)
    _commit_all(repo, "reclaim scan: update first-seen times")
    console.print(f"\n[bold]Day {DAYS_BETWEEN_SCANS}[/bold] scan (--as-of {day10:%Y-%m-%d}):")
    console.print(findings_table(report))
    grouped = Counter((s.rule, reason_group(s.reason)) for s in report.skipped)
    for line in details_text(ScanDetails(left_alone=grouped)):
        console.print(line, markup=False, highlight=False)
    left_alone = [s for s in report.skipped if s.rule == "ebs-unattached"]
    for skipped in left_alone:
        console.print(
            f"  unattached volume left alone: {skipped.resource_id} ({skipped.region}): "
            f"{skipped.reason}",
            markup=False,
            highlight=False,
        )
    if fresh not in {s.resource_id for s in report.skipped}:
        raise ReclaimError(f"demo: the fresh volume {fresh} should have been left alone")

    forge = LocalGitForge(repo, "main")
    folder = remediations_in_repo(config)
    results = propose(report, forge, folder)
    console.print("\n[bold]propose[/bold]: one branch per finding")
    for result in results:
        console.print(f"  {result.outcome.value:>9}  {result.reference}", highlight=False)
    again = propose(report, forge, folder)
    console.print(
        f"  propose again: {sum(r.outcome.value == 'unchanged' for r in again)} of {len(again)} "
        "unchanged (no duplicates)",
        highlight=False,
    )

    target = next(f for f in report.findings if f.resource_id == ids["test-do-not-delete"])
    original = session.client("ec2", "us-east-1").describe_volumes(VolumeIds=[target.resource_id])[
        "Volumes"
    ][0]
    forge.merge(target.id)
    console.print(f"\n[bold]Reviewer merged[/bold] reclaim/{target.id}")

    executor = Executor(
        client_for=session.client,
        account_id=session.account_id,
        # apply looks at the volume again with the repository's reclaim.yml and state file,
        # on day 10 like the scan that proposed it
        observer=RuleObserver.from_config(config),
        clock=lambda: day10,
        actor="demo-reviewer",
    )
    remediation = repo / folder / target.id
    applied = executor.apply(remediation)
    print_run(applied, console)
    _commit_all(repo, f"reclaim apply {target.id}: journal")
    snapshot = str(applied.output("backup", "SnapshotId"))

    console.print(f"\n[bold]/rollback[/bold] commented on the merged PR for {target.resource_id}")
    rolled_back = executor.rollback(remediation)
    print_run(rolled_back, console)
    _commit_all(repo, f"reclaim rollback {target.id}: journal")
    restored = str(rolled_back.output("restore", "VolumeId"))
    mismatches = _restored_mismatches(session, original, restored)

    database = _idle_database(repo, session, config, forge, folder, day10, console)

    summary = Table(title="Summary", show_header=False)
    summary.add_row(
        "findings",
        f"{len(report.findings)} (${report.monthly_total:,.2f}/month, "
        f"${report.monthly_total * 12:,.2f}/year)",
    )
    others = len(report.skipped) - len(left_alone)
    summary.add_row(
        "left alone",
        f"{len(report.skipped)} resource(s): {len(left_alone)} unattached volume(s) "
        f"(skip tag, exclusion, too fresh) and {others} judged by the other rules "
        "(reasons above)",
    )
    branches = len(results) + 1  # and the idle database's
    summary.add_row("branches", f"{branches} reclaim/* branches in the demo repository")
    summary.add_row(
        "applied",
        f"deleted {target.resource_id} after backup {snapshot} "
        f"(saves ${target.cost.monthly_usd:,.2f}/month)",
    )
    summary.add_row(
        "restored",
        f"{restored} from {snapshot}: "
        + (
            "identical on every recorded attribute"
            if not mismatches
            else f"DIFFERS on {', '.join(mismatches)}"
        ),
    )
    summary.add_row("database", database)
    summary.add_row("repository", f"{repo}  (try: git -C {repo} log --all --oneline --graph)")
    console.print(summary)
    if mismatches:
        raise ReclaimError(f"demo: restored volume differs on {', '.join(mismatches)}")
    return DemoResult(
        repo=repo,
        findings=len(report.findings),
        monthly_usd=report.monthly_total,
        merged_finding=target.id,
        deleted_volume=target.resource_id,
        backup_snapshot=snapshot,
        restored_volume=restored,
        mismatches=mismatches,
    )
