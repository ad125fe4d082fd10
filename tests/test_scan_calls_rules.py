"""What each rule's scan costs the account's API for 1,000 resources, counted through the
whole scan on moto (fleet, shared listings, declared-calls guard), one table row per rule.

A row's bound is O(pages) per account-region plus, at most, one confirmation per finding
propose can open (``BUDGET``: min(forge.max_open_prs, forge.max_new_prs_per_run)). Where a
rule must ask AWS about each resource because AWS has no batch form and the answer is the
detection itself, the row says so (``per_resource``): that is the rule's documented bound.
Every resource of a population is a would-be finding (tests/scan_populations.py), the worst
case for per-resource calls. ec2-idle, ebs-unattached, ebs-gp2-to-gp3, eip-unassociated and
ebs-snapshot-archive have their own tests (tests/test_scan_calls.py); logs-retention's is
with that rule.

Two rows run on botocore's Stubber instead, with the pages AWS would answer: moto's
CloudFront summaries omit fields the botocore model requires (PriceClass, Enabled, ...),
which would send every distribution down the GetDistributionConfig fallback that real AWS
never takes; and moto knows no RDS major-version lifecycles (extended-support).
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import StubAssertionError, Stubber, UnStubbedResponseError

from generator.rules import RULES
from generator.scan import scan
from tests import scan_populations, trusted
from tests.conftest import CallLog, RecordingSession, config_for
from tests.rule_harness import context, detect

N = 1000
BUDGET = 5  # the default forge.max_new_prs_per_run, under the default max_open_prs (10)
ACCOUNT_CALLS = {"GetCallerIdentity"}  # once per account, not per rule or region


def pages(count: int, size: int) -> int:
    return max(1, math.ceil(count / size))


@dataclass(frozen=True)
class Bound:
    calls: Callable[[int], dict[str, int]]
    """The most calls of each operation a scan of ``n`` resources may make."""
    per_resource: str = ""
    """Why some of those calls are per resource, when they are: the rule's documented bound."""


BOUNDS: dict[str, Bound] = {
    "rds-idle": Bound(
        lambda n: {"DescribeDBInstances": pages(n, 100), "GetMetricData": pages(n, 500)}
    ),
    "aurora-idle": Bound(
        lambda n: {
            "DescribeDBClusters": pages(n, 100),
            "DescribeDBInstances": pages(n, 100),
            "GetMetricData": pages(n, 500),
        }
    ),
    "redshift-idle": Bound(
        lambda n: {"DescribeClusters": pages(n, 100), "GetMetricData": pages(n, 500)}
    ),
    "nat-gateway-idle": Bound(
        lambda n: {
            "DescribeNatGateways": pages(n, 1000),
            # 5 metrics a gateway, 500 queries a call
            "GetMetricData": pages(5 * n, 500),
            # the idle gateways' route tables, 100 gateway IDs a filter
            "DescribeRouteTables": pages(n, 100),
        }
    ),
    "ec2-previous-generation": Bound(
        lambda n: {"DescribeInstances": pages(n, 1000), "DescribeInstanceTypes": 2}
    ),
    "ebs-snapshot-orphaned": Bound(
        lambda n: {
            "DescribeSnapshots": pages(n, 1000),
            "DescribeVolumes": pages(n, 500),
            "DescribeImages": 1,
            "ListRules": 1,  # Recycle Bin: does a retention rule keep deleted snapshots
        }
    ),
    "backup-expired": Bound(
        lambda n: {
            "DescribeSnapshots": pages(n, 1000),  # reclaim's own, by a tag-key filter
            # only when a journal of the default branch makes one expired: the region's
            # volumes (restored from it?), AMIs, the Recycle Bin rule; none here
            "DescribeVolumes": pages(n, 500),
            "DescribeImages": 1,
            "ListRules": 1,
        }
    ),
    "elb-idle": Bound(
        lambda n: {
            "DescribeLoadBalancers": pages(n, 50),  # moto's page; AWS's is up to 400
            "DescribeTags": pages(n, 20),
            "GetMetricData": pages(n, 500),
            "ListHostedZones": 1,
            # per load balancer without traffic (each one a finding): what the finding
            # records so that the rollback recreates it; a busy one costs none of these
            "DescribeLoadBalancerAttributes": n,
            "DescribeListeners": n,
            "DescribeRules": n,  # per listener
            "DescribeTargetGroups": n,
            "DescribeTargetHealth": n,  # per target group
        },
        per_resource="per idle load balancer (a finding): its attributes, listeners, rules "
        "and target health are the record the rollback recreates it from; ELBv2 answers "
        "them one load balancer (listener, target group) at a time",
    ),
    "secret-unused": Bound(
        lambda n: {"ListSecrets": pages(n, 100), "DescribeSecret": BUDGET},
    ),
    "dynamodb-provisioned-underused": Bound(
        lambda n: {
            "ListTables": pages(n, 100),
            "DescribeTable": n,
            "ListTagsOfResource": n,
            "DescribeScalableTargets": pages(n, 50),
            "DescribeScalingPolicies": pages(n, 50),
            "DescribeScheduledActions": pages(n, 50),
            "GetMetricData": pages(4 * n, 500),
        },
        per_resource="DescribeTable per table: ListTables answers names only and DynamoDB "
        "has no batch describe (2,500 tables a region is the default quota); tags only for "
        "would-be findings (here every table)",
    ),
    "sagemaker-endpoint-idle": Bound(
        lambda n: {
            "ListEndpoints": pages(n, 100),
            "DescribeEndpoint": n,
            "DescribeEndpointConfig": n,
            "DescribeModel": n,
            "ListTags": n,
            "DescribeScalableTargets": pages(n, 50),
            "GetMetricData": pages(n, 500),
        },
        per_resource="DescribeEndpoint per endpoint (ListEndpoints lacks the variants); "
        "for an endpoint without invocations (each one a finding here) its configuration, "
        "models and tags, the record the rollback recreates it from (endpoints bill by the "
        "instance-hour, so an account holds few)",
    ),
    "ecr-no-lifecycle": Bound(
        lambda n: {
            "DescribeRepositories": pages(n, 100),
            "GetLifecyclePolicy": n,
            "DescribeImages": n,
            "ListTagsForResource": n,
        },
        per_resource="GetLifecyclePolicy and DescribeImages per repository: the detection "
        "itself, which ECR answers one repository at a time; tags only for would-be findings",
    ),
    "s3-incomplete-multipart": Bound(
        lambda n: {
            "ListBuckets": pages(n, 10000),
            # only where ListBuckets omits BucketRegion: moto does, AWS does not
            "GetBucketLocation": n,
            "ListMultipartUploads": n,
            "GetBucketLifecycleConfiguration": n,
            "GetBucketTagging": n,
            "ListParts": n,
        },
        per_resource="ListMultipartUploads per bucket of the region (ListBuckets is filtered "
        "by BucketRegion): S3 answers uploads one bucket at a time, and nothing cheaper says "
        "which buckets hold any; lifecycle, tags and parts only for buckets with stale uploads",
    ),
}


def scan_population(rule: str, count: int, metric: float | None = None) -> tuple[Any, CallLog]:
    population = scan_populations.POPULATIONS[rule]
    if metric is not None:
        population = replace(population, metric_value=metric)
    population.make(count)
    log = CallLog()
    session = RecordingSession(log)
    rules: dict[str, Any] = {name: {"enabled": False} for name in RULES}
    rules[rule] = {"enabled": True, **population.settings}
    with tempfile.TemporaryDirectory() as work:
        config = config_for(Path(work), rules=rules)
        trusted.remember(config, population.as_of())  # what an apply after this scan trusts
        with scan_populations.quiet_metrics(population.metric_value, population.as_of()):
            report = scan(
                config, as_of=population.as_of(), session_for=lambda _: session, workers=4
            )
    assert report.errors == ()
    return report, log


@pytest.mark.parametrize("rule", sorted(BOUNDS))
def test_1000_resources_cost_their_pages_and_the_bounded_confirmations(
    aws: None, rule: str
) -> None:
    report, log = scan_population(rule, N)

    judged = {item.resource_id for item in (*report.findings, *report.skipped)}
    assert len(judged) == N  # every resource was looked at
    allowed = BOUNDS[rule].calls(N)
    made = {name: log.count(name) for name in set(log.operations()) - ACCOUNT_CALLS}
    over = {name: (count, allowed.get(name, 0)) for name, count in made.items()}
    over = {name: pair for name, pair in over.items() if pair[0] > pair[1]}
    assert not over, f"{rule}: (made, allowed) {over}"
    per_resource = {name for name, most in allowed.items() if most >= N}
    if not BOUNDS[rule].per_resource:
        assert not per_resource, f"{rule} has no documented per-resource call"
        assert sum(made.values()) <= 20, made


READ_ONLY_FOR_IDLE = {
    "elb-idle": ("DescribeLoadBalancerAttributes", "DescribeListeners", "DescribeTargetHealth"),
    "sagemaker-endpoint-idle": ("DescribeEndpointConfig", "DescribeModel", "ListTags"),
    "dynamodb-provisioned-underused": ("ListTagsOfResource",),
}


@pytest.mark.parametrize("rule", sorted(READ_ONLY_FOR_IDLE))
def test_busy_resources_cost_none_of_the_reads_a_finding_needs(aws: None, rule: str) -> None:
    """What only a finding's record needs is read after the metrics, for the idle ones."""
    report, log = scan_population(rule, 50, metric=1_000_000.0)
    assert report.findings == ()
    assert len(report.skipped) == 50
    assert {name: log.count(name) for name in READ_ONLY_FOR_IDLE[rule]} == dict.fromkeys(
        READ_ONLY_FOR_IDLE[rule], 0
    )


def test_every_rule_has_a_call_count_test() -> None:
    elsewhere = {  # tests/test_scan_calls.py, and the rule owned with its own tests
        "ec2-idle",
        "ebs-unattached",
        "ebs-gp2-to-gp3",
        "eip-unassociated",
        "ebs-snapshot-archive",
        "logs-retention",
    }
    stubbed = {"cloudfront-price-class", "extended-support"}  # below
    assert set(RULES) == set(BOUNDS) | elsewhere | stubbed


# ---- secret-unused: the confirmation the scan left out, the apply makes -------------------


def test_secrets_beyond_the_budget_are_confirmed_by_the_apply(aws: None, tmp_path: Path) -> None:
    """DescribeSecret (replication) is asked for the first BUDGET secrets only. After them,
    a plain secret's plan applies as reviewed, and a replicated one's is refused by the
    plan's pre-check: the secret is kept."""
    from generator.errors import PrecheckFailed
    from tests.rule_harness import executor, planned

    scan_populations.secrets(BUDGET)  # app/secret-0..4: the budget, in name order
    sm = boto3.client("secretsmanager", region_name=scan_populations.REGION)
    sm.create_secret(Name="zz/plain", SecretString="s3cr3t")
    sm.create_secret(Name="zz/replicated", SecretString="s3cr3t")
    sm.replicate_secret_to_regions(
        SecretId="zz/replicated", AddReplicaRegions=[{"Region": "eu-west-1"}]
    )
    report, log = scan_population("secret-unused", 0)
    assert log.count("DescribeSecret") == BUDGET
    beyond = {f.resource_id.rsplit(":", 1)[-1]: f for f in report.findings}
    plain = next(f for name, f in beyond.items() if "zz/plain" in name)
    replicated = next(f for name, f in beyond.items() if "zz/replicated" in name)

    executor().apply(planned(plain, tmp_path / "plain"))
    assert sm.describe_secret(SecretId="zz/plain").get("DeletedDate") is not None
    with pytest.raises(PrecheckFailed):
        executor().apply(planned(replicated, tmp_path / "replicated"))
    assert sm.describe_secret(SecretId="zz/replicated").get("DeletedDate") is None


# ---- on botocore's Stubber: the pages AWS answers ---------------------------------------


class InOrderPerOperation(Stubber):  # type: ignore[misc]
    """botocore's Stubber, its answers taken in order per operation rather than across
    operations: a shared listing asks for its next page on a thread of its own while the
    rule's lookups run on the same client, so which of them comes first is not fixed."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._taking = threading.Lock()

    def _first_for(self, model: Any) -> int:
        for index, planned in enumerate(self._queue):
            if planned["operation_name"] == model.name:
                return index
        raise UnStubbedResponseError(
            operation_name=model.name, reason="no answer planned for it, or no more of them"
        )

    def _assert_expected_call_order(self, model: Any, params: Any) -> None:
        with self._taking:
            self._first_for(model)

    def _assert_expected_params(self, model: Any, params: Any, context: Any, **_: Any) -> None:
        if self._should_not_stub(context):
            return
        with self._taking:
            expected = self._queue[self._first_for(model)]["expected_params"]
        if expected is not None and expected != params:
            raise StubAssertionError(
                operation_name=model.name, reason=f"expected {expected}, received {params}"
            )

    def _get_response_handler(self, model: Any, params: Any, context: Any, **_: Any) -> Any:
        with self._taking:
            index = self._first_for(model)
            response = self._queue[index]["response"]
            del self._queue[index]
        return response


class Stubbed:
    """Clients whose every answer is planned: an unplanned call fails the test, so the
    answers added are exactly the calls made (in order per operation)."""

    def __init__(self, *services: str) -> None:
        self.clients = {s: boto3.client(s, region_name=scan_populations.REGION) for s in services}
        self.stubbers = {s: InOrderPerOperation(c) for s, c in self.clients.items()}
        self.planned = 0

    def add(self, service: str, method: str, response: dict[str, Any]) -> None:
        self.stubbers[service].add_response(method, response)
        self.planned += 1

    def client(self, service: str) -> Any:
        return self.clients[service]

    def __enter__(self) -> Stubbed:
        for stubber in self.stubbers.values():
            stubber.activate()
        return self

    def __exit__(self, *_: object) -> None:
        for stubber in self.stubbers.values():
            stubber.deactivate()
            stubber.assert_no_pending_responses()


def _summary(i: int) -> dict[str, Any]:
    """A DistributionSummary with the members botocore's model requires."""
    did = f"E{i:013d}"
    return {
        "Id": did,
        "ARN": f"arn:aws:cloudfront::{scan_populations.ACCOUNT}:distribution/{did}",
        "Status": "Deployed",
        "LastModifiedTime": datetime(2026, 1, 1, tzinfo=UTC),
        "DomainName": f"d{i}.cloudfront.net",
        "Aliases": {"Quantity": 0},
        "Origins": {
            "Quantity": 1,
            "Items": [{"Id": "web", "DomainName": f"site-{i}.example.com"}],
        },
        "DefaultCacheBehavior": {"TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all"},
        "CacheBehaviors": {"Quantity": 0},
        "CustomErrorResponses": {"Quantity": 0},
        "Comment": f"site {i}",
        "PriceClass": "PriceClass_All",
        "Enabled": True,
        "ViewerCertificate": {},
        "Restrictions": {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
        "WebACLId": "",
        "HttpVersion": "http2",
        "IsIPV6Enabled": True,
        "Staging": False,
    }


def test_1000_distributions_cost_their_pages_and_the_tags_of_the_proposable_findings() -> None:
    stubs = Stubbed("cloudfront")
    per_page = 100  # ListDistributions' default MaxItems
    for start in range(0, N, per_page):
        items = [_summary(i) for i in range(start, start + per_page)]
        more = start + per_page < N
        page: dict[str, Any] = {
            "Marker": str(start),
            "MaxItems": per_page,
            "IsTruncated": more,
            "Quantity": len(items),
            "Items": items,
        }
        if more:
            page["NextMarker"] = str(start + per_page)
        stubs.add("cloudfront", "list_distributions", {"DistributionList": page})
    for _ in range(BUDGET):
        stubs.add("cloudfront", "list_tags_for_resource", {"Tags": {"Items": []}})

    ctx = replace(context(as_of=datetime.now(UTC), client=stubs.client), confirm_budget=BUDGET)
    with stubs:
        found = detect("cloudfront-price-class", ctx, use_cost_explorer=False)

    assert len(found.findings) == N  # unconfirmed ones stay findings; the plan re-checks
    assert stubs.planned == pages(N, per_page) + BUDGET  # 15: no GetDistributionConfig


EKS_CLUSTERS_PER_REGION = 100  # EKS's default quota of clusters per Region


def test_1000_databases_in_extended_support_cost_their_pages_and_one_lookup_per_version() -> None:
    """The engine's major version, its extended-support window and the class's vCPUs are
    asked once per (engine, version) and class, not per database. EKS answers a cluster's
    version one cluster at a time (ListClusters gives names only): that is the rule's
    documented bound, EKS_CLUSTERS_PER_REGION DescribeCluster calls at most."""
    as_of = datetime(2026, 11, 28, tzinfo=UTC)
    stubs = Stubbed("rds", "eks", "ec2")
    per_page = 100  # DescribeDBInstances' default MaxRecords
    for start in range(0, N, per_page):
        page: dict[str, Any] = {
            "DBInstances": [
                {
                    "DBInstanceIdentifier": f"db-{i}",
                    "DBInstanceArn": f"arn:aws:rds:us-east-1:{scan_populations.ACCOUNT}:db:db-{i}",
                    "Engine": "mysql",
                    "EngineVersion": "5.7.44",
                    "DBInstanceClass": "db.m5.large",
                    "MultiAZ": False,
                    "TagList": [],
                }
                for i in range(start, start + per_page)
            ]
        }
        if start + per_page < N:
            page["Marker"] = str(start + per_page)
        stubs.add("rds", "describe_db_instances", page)
        if start == 0:  # asked once, while the first page is judged (and the next is asked)
            stubs.add(
                "rds",
                "describe_db_engine_versions",
                {"DBEngineVersions": [{"Engine": "mysql", "MajorEngineVersion": "5.7"}]},
            )
            lifecycle = {
                "LifecycleSupportName": "open-source-rds-extended-support",
                "LifecycleSupportStartDate": datetime(2024, 3, 1, tzinfo=UTC),
                "LifecycleSupportEndDate": datetime(2027, 3, 1, tzinfo=UTC),
            }
            stubs.add(
                "rds",
                "describe_db_major_engine_versions",
                {
                    "DBMajorEngineVersions": [
                        {"Engine": "mysql", "SupportedEngineLifecycles": [lifecycle]}
                    ]
                },
            )
            stubs.add(
                "ec2",
                "describe_instance_types",
                {"InstanceTypes": [{"InstanceType": "m5.large", "VCpuInfo": {"DefaultVCpus": 2}}]},
            )
    names = [f"cluster-{i}" for i in range(EKS_CLUSTERS_PER_REGION)]
    stubs.add("eks", "list_clusters", {"clusters": names})
    stubs.add(
        "eks",
        "describe_cluster_versions",
        {
            "clusterVersions": [
                {
                    "clusterVersion": "1.27",
                    "endOfStandardSupportDate": datetime(2025, 7, 24, tzinfo=UTC),
                    "endOfExtendedSupportDate": datetime(2026, 7, 24, tzinfo=UTC),
                }
            ]
        },
    )
    for name in names:
        stubs.add(
            "eks",
            "describe_cluster",
            {
                "cluster": {
                    "name": name,
                    "arn": f"arn:aws:eks:us-east-1:{scan_populations.ACCOUNT}:cluster/{name}",
                    "version": "1.29",
                    "tags": {},
                }
            },
        )

    with stubs:
        found = detect("extended-support", context(as_of=as_of, client=stubs.client))

    assert len(found.findings) == N
    per_database = pages(N, per_page) + 3
    assert stubs.planned == per_database + 2 + EKS_CLUSTERS_PER_REGION


def test_a_skip_tagged_distribution_beyond_the_budget_is_refused_at_apply(
    aws: None, tmp_path: Path
) -> None:
    """Tags are asked for the first BUDGET would-be findings only; a distribution after
    them carrying the skip tag stays a finding, and the plan's skip-tag pre-check refuses
    it: its price class is unchanged."""
    from generator.errors import PrecheckFailed
    from tests.rule_harness import executor, planned

    scan_populations.distributions(BUDGET + 1)
    cloudfront = boto3.client("cloudfront", region_name=scan_populations.REGION)
    listed = cloudfront.list_distributions()["DistributionList"]["Items"]
    last = max(listed, key=lambda item: item["Id"])  # same savings: in ID order
    cloudfront.tag_resource(Resource=last["ARN"], Tags={"Items": [{"Key": "reclaim:skip"}]})

    ctx = replace(context(as_of=datetime.now(UTC)), confirm_budget=BUDGET)
    found = detect("cloudfront-price-class", ctx, use_cost_explorer=False)
    finding = next(f for f in found.findings if f.resource_id == last["Id"])

    with pytest.raises(PrecheckFailed, match="reclaim:skip"):
        executor().apply(planned(finding, tmp_path / "plans"))
    config = cloudfront.get_distribution_config(Id=last["Id"])["DistributionConfig"]
    assert config["PriceClass"] == "PriceClass_All"
