"""A stopped RDS instance that AWS started again after 7 days is stopped again, on the same
pull request (the GitHub stand-in) and in the journal, only while the finding holds, and only
for a plan merged onto the default branch whose journal reclaim wrote (moto)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.rds import rds_backends
from moto.rds.models import Event

from generator.findings import FindingsReport, ScanUnit
from generator.forge.base import branch_for
from generator.pipeline.restarts import AUTO_START_MESSAGE, stop_again
from generator.planner import plan_finding, write_remediation
from generator.propose import sync_proposals
from tests import trusted
from tests.github.conftest import ForgeFactory
from tests.github_standin.server import GitHubStandIn
from tests.rule_harness import REGION, client, executor, scan

FOLDER = "remediations"
RULE = "rds-idle"
AS_OF = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=8)
NOW = datetime.now(UTC)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def create_idle(name: str) -> None:
    rds, cw = client("rds"), client("cloudwatch")
    rds.create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    for day in range(14):
        put_connections(cw, name, AS_OF - timedelta(days=day, hours=1), 0)


def put_connections(cw: Any, name: str, when: datetime, value: float) -> None:
    cw.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "DatabaseConnections",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": name}],
                "Timestamp": when,
                "Value": value,
            }
        ],
    )


def aws_starts_it_again(
    name: str, monkeypatch: pytest.MonkeyPatch, *, connections: float = 0
) -> None:
    """What AWS does 7 days after a stop: starts it and says why in an RDS event; CloudWatch
    then sees the connections it has (none, while idle)."""
    client("rds").start_db_instance(DBInstanceIdentifier=name)
    monkeypatch.setitem(
        Event.EVENT_MAP,
        "DB_INSTANCE_AUTO_START",
        {
            "Categories": ["notification"],
            "Message": f"DB instance is being started due to it {AUTO_START_MESSAGE}.",
        },
    )
    backend = rds_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend.add_event("DB_INSTANCE_AUTO_START", backend.databases[name])
    put_connections(client("cloudwatch"), name, NOW - timedelta(minutes=30), connections)


def status(name: str) -> str:
    item = client("rds").describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
    return str(item["DBInstanceStatus"])


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def merged_and_applied(
    standin: GitHubStandIn, make_forge: ForgeFactory, tmp_path: Path, name: str
) -> tuple[Path, str, int]:
    """The finding proposed on the stand-in, merged by a human, checked out, applied (moto),
    and its journal committed to the default branch as reclaim's apply run does."""
    create_idle(name)
    finding = scan(RULE, as_of=AS_OF).finding(name)
    report = FindingsReport(
        as_of=AS_OF,
        findings=(finding,),
        completed=(ScanUnit(account=finding.account, region=REGION, rule=RULE),),
    )
    sync_proposals(report, make_forge(), FOLDER)
    (pull,) = standin.pull_by_head(branch_for(finding.id))
    merge = standin.human_merge(pull.number)
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(standin.git.path), str(checkout)], check=True)
    git(checkout, "config", "user.email", "reclaim@example.com")
    git(checkout, "config", "user.name", "reclaim")
    folder = checkout / FOLDER / finding.id
    executor().apply(folder)
    git(checkout, "add", f"{FOLDER}/{finding.id}/journal.json")
    git(checkout, "commit", "-q", "-m", "reclaim: journals of apply run 1")
    assert status(name) == "stopped"
    return checkout, merge, pull.number


def run(checkout: Path, make_forge: ForgeFactory | None = None) -> list[Any]:
    config = trusted.config_for_rule(RULE)
    return stop_again(
        checkout,
        FOLDER,
        config,
        client_for=lambda plan: client,
        executor_for=lambda plan: executor(),
        forge=make_forge() if make_forge else None,
        now=NOW,
    )


def test_restarted_by_aws_and_still_idle_is_stopped_again_on_the_same_pull_request(
    aws: None,
    standin: GitHubStandIn,
    make_forge: ForgeFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkout, _merge, number = merged_and_applied(standin, make_forge, tmp_path, "weekly")
    aws_starts_it_again("weekly", monkeypatch)
    pulls_before = len(standin.pulls)

    (outcome,) = run(checkout, make_forge)

    assert outcome.status == "stopped again", outcome.message
    assert status("weekly") == "stopped"
    (journal_path,) = (checkout / FOLDER).glob("*/journal.json")
    journal = json.loads(journal_path.read_text())
    (follow_up,) = journal["follow_ups"]
    assert follow_up["kind"] == "re-stop" and follow_up["status"] == "completed"
    assert [s["step_id"] for s in follow_up["steps"]] == ["precheck", "stop", "verify"]
    assert journal["apply"]["status"] == "completed" and journal["rollback"] is None
    # a comment on the merged PR, not a new PR
    assert len(standin.pulls) == pulls_before
    comments = [c.body for c in standin.comments_on(number) if "Stopped again" in c.body]
    assert len(comments) == 1 and "weekly" in comments[0]

    # the next scheduled run: it is stopped, nothing to do, no second comment
    (again,) = run(checkout, make_forge)
    assert again.status == "left alone" and "still stopped" in again.message
    assert len([c for c in standin.comments_on(number) if "Stopped again" in c.body]) == 1


def test_started_by_a_person_connected_to_or_skip_tagged_it_keeps_running(
    aws: None,
    standin: GitHubStandIn,
    make_forge: ForgeFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkout, _merge, _number = merged_and_applied(standin, make_forge, tmp_path, "needed")
    client("rds").start_db_instance(DBInstanceIdentifier="needed")  # a person, no AWS event
    (outcome,) = run(checkout)
    assert outcome.status == "left alone" and "not because AWS started it" in outcome.message
    assert status("needed") == "available"

    client("rds").stop_db_instance(DBInstanceIdentifier="needed")
    aws_starts_it_again("needed", monkeypatch, connections=3)
    (outcome,) = run(checkout)
    assert (
        outcome.status == "left alone" and "3 connections since AWS started it" in outcome.message
    )
    assert status("needed") == "available"

    rds = client("rds")
    arn = rds.describe_db_instances(DBInstanceIdentifier="needed")["DBInstances"][0][
        "DBInstanceArn"
    ]
    rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "reclaim:skip", "Value": ""}])
    (outcome,) = run(checkout)
    assert outcome.status == "left alone" and "skip tag" in outcome.message
    assert status("needed") == "available"


def test_rolled_back_plans_are_not_stopped_again(
    aws: None,
    standin: GitHubStandIn,
    make_forge: ForgeFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkout, _merge, _number = merged_and_applied(standin, make_forge, tmp_path, "undone")
    (folder,) = (checkout / FOLDER).glob("*/plan.json")
    executor().rollback(folder.parent)
    aws_starts_it_again_events_only(monkeypatch, "undone")
    assert run(checkout) == []
    assert status("undone") == "available"


def aws_starts_it_again_events_only(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setitem(
        Event.EVENT_MAP,
        "DB_INSTANCE_AUTO_START",
        {"Categories": ["notification"], "Message": AUTO_START_MESSAGE},
    )
    backend = rds_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend.add_event("DB_INSTANCE_AUTO_START", backend.databases[name])


def _forged_folder(checkout: Path, applied: Path, name: str) -> str:
    """A copy of a genuine applied folder, for another instance, with a journal claiming its
    apply completed: what a branch author can write."""
    create_idle(name)
    finding = scan(RULE, as_of=AS_OF).finding(name)
    remediation = plan_finding(finding)
    target = write_remediation(remediation, checkout / FOLDER)
    journal = json.loads((applied / "journal.json").read_text())
    from generator.manifest.folder import digest

    journal["plan_id"] = finding.id
    journal["plan_sha256"] = digest((target / "plan.json").read_text())
    journal["rollback_sha256"] = digest((target / "rollback.json").read_text())
    (target / "journal.json").write_text(json.dumps(journal, indent=2) + "\n")
    return f"{FOLDER}/{finding.id}"


def test_a_branch_cannot_make_the_scheduled_run_stop_anything(
    aws: None,
    standin: GitHubStandIn,
    make_forge: ForgeFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkout, _merge, _number = merged_and_applied(standin, make_forge, tmp_path, "genuine")
    (genuine,) = (checkout / FOLDER).glob("*/journal.json")

    # 1. an unmerged branch: its folder is not on the default branch the run checks out
    git(checkout, "checkout", "-q", "-b", "attacker")
    forged = _forged_folder(checkout, genuine.parent, "victim")
    git(checkout, "add", forged)
    git(checkout, "commit", "-q", "-m", "add a plan and a journal saying it was applied")
    git(checkout, "checkout", "-q", "main")
    aws_starts_it_again_events_only(monkeypatch, "victim")
    assert all("victim" not in o.folder for o in run(checkout))
    assert status("victim") == "available"

    # 2. merged, but the journal came with its plan: not reclaim's journal, refused
    git(checkout, "merge", "-q", "--no-ff", "attacker", "-m", "Merge pull request #99")
    outcomes = {o.folder: o for o in run(checkout)}
    assert outcomes[forged].status == "failed"
    assert "journal.json arrived with its plan" in outcomes[forged].message
    assert status("victim") == "available"


def test_the_command_runs_in_a_checkout_with_nothing_to_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from generator.cli import main

    git(tmp_path, "init", "-q")
    (tmp_path / FOLDER).mkdir()
    (tmp_path / "reclaim.yml").write_text("version: 1\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["restop-restarted", "--config", "reclaim.yml"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


class _ClusterEventSource:
    """What moto's Event reads of a resource, for a cluster (moto records no cluster events)."""

    def __init__(self, cluster_id: str) -> None:
        self.resource_id = cluster_id
        self.event_source_type = "db-cluster"
        self.arn = f"arn:aws:rds:{REGION}:{DEFAULT_ACCOUNT_ID}:cluster:{cluster_id}"


def test_an_aurora_cluster_aws_started_again_is_stopped_again_when_every_member_is_idle(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rds, cw = client("rds"), client("cloudwatch")
    rds.create_db_cluster(
        DBClusterIdentifier="analytics",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    members = ["analytics-0", "analytics-1"]
    for member in members:
        rds.create_db_instance(
            DBInstanceIdentifier=member,
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
            DBClusterIdentifier="analytics",
        )
        for day in range(14):
            put_connections(cw, member, AS_OF - timedelta(days=day, hours=1), 0)
    finding = scan("aurora-idle", as_of=AS_OF).finding("analytics")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "reclaim@example.com")
    git(repo, "config", "user.name", "reclaim")
    git(repo, "commit", "-q", "--allow-empty", "-m", "initial")
    git(repo, "checkout", "-q", "-b", f"reclaim/{finding.id}")
    folder = write_remediation(plan_finding(finding), repo / FOLDER)
    git(repo, "add", FOLDER)
    git(repo, "commit", "-q", "-m", "propose")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", f"reclaim/{finding.id}", "-m", "Merge pull request #1")
    executor().apply(folder)
    git(repo, "add", FOLDER)
    git(repo, "commit", "-q", "-m", "reclaim: journals of apply run 1")

    def cluster_status() -> str:
        return str(
            rds.describe_db_clusters(DBClusterIdentifier="analytics")["DBClusters"][0]["Status"]
        )

    assert cluster_status() == "stopped"
    rds.start_db_cluster(DBClusterIdentifier="analytics")  # AWS, 7 days later
    monkeypatch.setitem(
        Event.EVENT_MAP,
        "DB_CLUSTER_AUTO_START",
        {
            "Categories": ["notification"],
            "Message": f"DB cluster is being started due to it {AUTO_START_MESSAGE}.",
        },
    )
    backend = rds_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend.events.append(Event("DB_CLUSTER_AUTO_START", _ClusterEventSource("analytics")))
    put_connections(cw, members[0], NOW - timedelta(minutes=30), 0)
    put_connections(cw, members[1], NOW - timedelta(minutes=30), 2)  # a reader is used again

    config = trusted.config_for_rule("aurora-idle")
    kwargs: dict[str, Any] = {
        "client_for": lambda plan: client,
        "executor_for": lambda plan: executor(),
        "forge": None,
        "now": NOW,
    }
    (outcome,) = stop_again(repo, FOLDER, config, **kwargs)
    assert outcome.status == "left alone" and "analytics-1: 2 connections" in outcome.message
    assert cluster_status() == "available"

    monkeypatch.setattr(
        "generator.pipeline.restarts.fetch_metrics",
        _peaks_of_zero_only(members),
    )
    (outcome,) = stop_again(repo, FOLDER, config, **kwargs)
    assert outcome.status == "stopped again", outcome.message
    assert cluster_status() == "stopped"


def _peaks_of_zero_only(members: list[str]) -> Any:
    """CloudWatch after the reader went quiet again (moto keeps the earlier datapoint)."""
    from generator.aws.metrics import MetricSeries

    def fetch(cloudwatch: Any, window: Any, queries: Any) -> dict[str, MetricSeries]:
        return {q.key: MetricSeries(q.key, ((window.end, 0.0),)) for q in queries}

    return fetch
