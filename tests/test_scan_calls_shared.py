"""A listing two or three rules read costs one fetch per account-region, shared page by
page: DescribeInstances for ec2-idle and ec2-previous-generation, DescribeDBInstances for
rds-idle, aurora-idle and extended-support. Counted on moto through the whole scan (fleet,
shared listings, declared-calls guard), as botocore sends the requests.

moto answers a listing in one page unless asked for fewer: ``Paged`` sets the page size on
every request of an operation, so the sharing is seen over several pages. Each scan runs on
a thread of its own with a deadline, so readers waiting for each other for ever fail the test
instead of hanging it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from generator.rules import RULES
from generator.scan import scan
from tests import scan_populations, trusted
from tests.conftest import REGION, CallLog, RecordingSession, config_for

AS_OF = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DEADLINE_SECONDS = 120
OTHER_REGION = "eu-west-1"


class Paged(RecordingSession):
    """A recording session whose requests of ``operation`` ask for ``size`` items a page."""

    def __init__(self, log: CallLog, operation: str = "", parameter: str = "", size: int = 0):
        super().__init__(log)
        self.operation, self.parameter, self.size = operation, parameter, size

    def client(self, service: str, region: str) -> Any:
        client = super().client(service, region)
        if self.operation and not getattr(client, "_reclaim_paged", False):
            client.meta.events.register("provide-client-params", self._page_size)
            client._reclaim_paged = True
        return client

    def _page_size(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == self.operation:
            params[self.parameter] = self.size


def before_the_deadline(work: Callable[[], Any]) -> Any:
    """``work()``, on a thread of its own: a scan still running at the deadline fails."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed to the test below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE_SECONDS)
    assert not thread.is_alive(), "the scan's readers waited for each other for ever"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_scan(
    tmp_path: Path, enabled: dict[str, dict[str, Any]], session: RecordingSession, **config: Any
) -> Any:
    rules = {name: enabled.get(name, {"enabled": False}) for name in RULES}
    reclaim_config = config_for(tmp_path, rules=rules, **config)
    trusted.remember(reclaim_config, AS_OF)

    def scanned() -> Any:
        return scan(reclaim_config, as_of=AS_OF, session_for=lambda account: session, workers=4)

    report = before_the_deadline(scanned)
    assert report.errors == ()
    return report


def outcome(report: Any, rule: str) -> tuple[list[str], list[str]]:
    """What ``rule`` reported, byte for byte: its findings and the resources it left alone."""
    return (
        sorted(f.model_dump_json() for f in report.findings if f.rule == rule),
        sorted(s.model_dump_json() for s in report.skipped if s.rule == rule),
    )


def alone_and_together(
    tmp_path: Path, rules: dict[str, dict[str, Any]], session: Callable[[CallLog], Any]
) -> tuple[dict[str, int], int, Any]:
    """Each rule's scan alone (its count of ``counted`` calls, and its outcome must equal
    the one it has among the others), then all together: (alone counts, together's
    count, together's report). ``counted`` is the session's paged operation."""
    together_log = CallLog()
    paged = session(together_log)
    together = run_scan(tmp_path / "together", rules, paged)
    alone: dict[str, int] = {}
    for name, settings in rules.items():
        log = CallLog()
        report = run_scan(tmp_path / name, {name: settings}, session(log))
        alone[name] = log.count(paged.operation)
        assert outcome(report, name) == outcome(together, name), name
    return alone, together_log.count(paged.operation), together


@pytest.fixture
def quiet(aws: None) -> Iterator[None]:
    """Every GetMetricData query answers 14 days of 0 (idle CPU, network, connections)."""
    with scan_populations.quiet_metrics(as_of=AS_OF):
        yield


@pytest.fixture
def no_engine_lifecycles(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto implements neither DescribeDBEngineVersions nor DescribeDBMajorEngineVersions:
    here they know no version, so extended-support reads every DB instance and finds none
    in paid support (its findings are tests/test_rule_extended_support.py's)."""
    from moto.core.responses import ActionResult
    from moto.rds.responses import RDSResponse

    def versions(self: Any) -> ActionResult:
        return ActionResult({"DBEngineVersions": []})

    def majors(self: Any) -> ActionResult:
        return ActionResult({"DBMajorEngineVersions": []})

    monkeypatch.setattr(RDSResponse, "describe_db_engine_versions", versions, raising=False)
    monkeypatch.setattr(RDSResponse, "describe_db_major_engine_versions", majors, raising=False)


def launch_reservations(count: int, instance_type: str, region: str = REGION) -> None:
    """``count`` reservations of one running instance (moto pages DescribeInstances by
    reservation)."""
    ec2 = boto3.client("ec2", region_name=region)
    for _ in range(count):
        ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=instance_type
        )


EC2_RULES: dict[str, dict[str, Any]] = {"ec2-idle": {}, "ec2-previous-generation": {}}


def test_running_instances_are_listed_once_a_region_for_both_ec2_rules(
    quiet: None, tmp_path: Path
) -> None:
    for region in (REGION, OTHER_REGION):
        launch_reservations(2, "t3.micro", region)
        launch_reservations(2, "m4.large", region)  # previous generation: m5.large
    log = CallLog()
    report = run_scan(tmp_path, EC2_RULES, RecordingSession(log), regions=[REGION, OTHER_REGION])
    assert log.count("DescribeInstances") == 2  # one a region, for both rules (was 4)
    found = {(f.rule, f.region) for f in report.findings}
    assert found == {(rule, region) for rule in EC2_RULES for region in (REGION, OTHER_REGION)}


def test_both_ec2_rules_take_every_page_of_one_describe_instances_and_judge_as_alone(
    quiet: None, tmp_path: Path
) -> None:
    launch_reservations(7, "t3.micro")
    launch_reservations(5, "c4.xlarge")  # previous generation: c5.xlarge

    def five_a_page(log: CallLog) -> Paged:
        return Paged(log, "DescribeInstances", "MaxResults", 5)

    alone, together, report = alone_and_together(tmp_path, EC2_RULES, five_a_page)

    assert alone == {"ec2-idle": 3, "ec2-previous-generation": 3}  # 12 reservations, 5 a page
    assert together == 3  # the same three pages, for both (was 6)
    counts = {rule: sum(f.rule == rule for f in report.findings) for rule in EC2_RULES}
    assert counts == {"ec2-idle": 12, "ec2-previous-generation": 5}


def test_ec2_idle_reads_the_addresses_after_its_instances_while_eip_unassociated_reads_them(
    quiet: None, tmp_path: Path
) -> None:
    """ec2-idle shares a paginated listing (the instances) and a single-answer one (the
    addresses), read in that order; eip-unassociated reads the addresses at once and
    ec2-previous-generation the instances page by page: nobody waits for ever."""
    launch_reservations(8, "m4.large")
    ec2 = boto3.client("ec2", region_name=REGION)
    for _ in range(3):
        ec2.allocate_address(Domain="vpc")
    log = CallLog()
    rules = {**EC2_RULES, "eip-unassociated": {}}
    report = run_scan(tmp_path, rules, Paged(log, "DescribeInstances", "MaxResults", 5))

    assert log.count("DescribeInstances") == 2 and log.count("DescribeAddresses") == 1
    judged = {rule: len([*outcome(report, rule)[0], *outcome(report, rule)[1]]) for rule in rules}
    assert judged == {"ec2-idle": 8, "ec2-previous-generation": 8, "eip-unassociated": 3}


DB_RULES: dict[str, dict[str, Any]] = {"rds-idle": {}, "aurora-idle": {}, "extended-support": {}}


def twenty_a_page(log: CallLog) -> Paged:
    return Paged(log, "DescribeDBInstances", "MaxRecords", 20)  # the least RDS answers


def test_the_three_database_rules_share_one_describe_db_instances_and_judge_as_alone(
    quiet: None, no_engine_lifecycles: None, tmp_path: Path
) -> None:
    scan_populations.rds_instances(21)
    scan_populations.aurora_clusters(2)  # 23 DB instances in all: two pages

    alone, together, report = alone_and_together(tmp_path, DB_RULES, twenty_a_page)

    assert alone == {"rds-idle": 2, "aurora-idle": 2, "extended-support": 2}
    assert together == 2  # the same two pages, for all three (was 6)
    counts = {rule: sum(f.rule == rule for f in report.findings) for rule in DB_RULES}
    assert counts["rds-idle"] == 21 and counts["aurora-idle"] == 2


def test_aurora_idle_without_clusters_lists_no_db_instances_and_holds_nobody_up(
    quiet: None, no_engine_lifecycles: None, tmp_path: Path
) -> None:
    """aurora-idle declares the listing but, with no cluster, never reads it: the others
    read both pages without waiting for it (its unit's end releases it)."""
    scan_populations.rds_instances(21)

    alone, together, report = alone_and_together(tmp_path, DB_RULES, twenty_a_page)

    assert alone == {"rds-idle": 2, "aurora-idle": 0, "extended-support": 2}
    assert together == 2
    assert sum(f.rule == "rds-idle" for f in report.findings) == 21


def test_a_scan_of_no_instances_costs_one_listing_a_region(aws: None, tmp_path: Path) -> None:
    log = CallLog()
    run_scan(
        tmp_path,
        {**EC2_RULES, **DB_RULES},
        RecordingSession(log),
        regions=[REGION, OTHER_REGION],
    )
    assert log.count("DescribeInstances") == 2  # was 4
    assert log.count("DescribeDBInstances") == 2  # was 4: aurora-idle reads none without clusters
