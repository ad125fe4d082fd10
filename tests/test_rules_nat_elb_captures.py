"""Real AWS responses (Cloud Custodian's recorded captures, vendored under tests/data)
through nat-gateway-idle's and elb-idle's parsing: DescribeNatGateways, DescribeRouteTables
and ELBv2 DescribeLoadBalancers as AWS really answers them (sanitised addresses, gateways
recorded before AWS added ConnectivityType and IsPrimary)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from generator.findings import Finding, SkippedResource
from generator.manifest.validation import validate_pair
from generator.rules import RULES
from generator.rules.nat_gateway import parse_gateway, routes_to, unsupported
from generator.rules.nat_gateway_idle import NatGatewayIdle, NatGatewayIdleSettings
from tests.captures import case_pages, placebo_responses
from tests.rule_harness import context

AS_OF = datetime(2026, 11, 28, tzinfo=UTC)


class _ZeroMetrics:
    """GetMetricData answering 0 for every query on each of the last 14 days."""

    def get_paginator(self, name: str) -> Any:
        assert name == "get_metric_data"
        return self

    def paginate(self, MetricDataQueries: list[dict[str, Any]], **_: Any) -> list[Any]:
        days = [AS_OF - timedelta(days=d) for d in range(14, 0, -1)]
        return [
            {
                "MetricDataResults": [
                    {"Id": q["Id"], "Timestamps": days, "Values": [0.0] * 14}
                    for q in MetricDataQueries
                ]
            }
        ]


class _RouteTables:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_route_tables"
        return self

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return self.pages


@pytest.mark.parametrize(
    ("case", "response"), list(placebo_responses("ec2.DescribeNatGateways")), ids=lambda v: str(v)
)
def test_every_recorded_nat_gateway_parses_or_is_named_unsupported(
    case: str, response: dict[str, Any]
) -> None:
    items = response.get("NatGateways", [])
    assert items, case
    for item in items:
        reason = unsupported(item)
        if reason is not None:
            continue
        gateway = parse_gateway(item)
        address = item["NatGatewayAddresses"][0]
        assert gateway.nat_gateway_id == item["NatGatewayId"]
        assert gateway.subnet_id == item["SubnetId"]
        # Recorded before AWS had private NAT gateways: no ConnectivityType means public.
        assert gateway.connectivity_type == item.get("ConnectivityType", "public")
        assert gateway.allocation_id == address["AllocationId"]
        assert gateway.private_ip == address["PrivateIp"]
        assert gateway.tags == {t["Key"]: t["Value"] for t in item.get("Tags", [])}


@pytest.mark.parametrize(
    ("case", "response"), list(placebo_responses("ec2.DescribeRouteTables")), ids=lambda v: str(v)
)
def test_every_recorded_route_table_gives_exactly_the_routes_to_each_nat_gateway(
    case: str, response: dict[str, Any]
) -> None:
    tables = response.get("RouteTables", [])
    targeted = {
        route["NatGatewayId"]
        for table in tables
        for route in table["Routes"]
        if route.get("NatGatewayId")
    }
    for gateway_id in targeted:
        routes = routes_to(gateway_id, tables)
        expected = sum(
            1 for t in tables for r in t["Routes"] if r.get("NatGatewayId") == gateway_id
        )
        assert len(routes) == expected, case
        for route in routes:
            table = next(t for t in tables if t["RouteTableId"] == route.route_table_id)
            assert any(
                r.get(route.destination_key) == route.destination
                and r.get("NatGatewayId") == gateway_id
                for r in table["Routes"]
            )
    assert routes_to("nat-not-there", tables) == ()


def test_the_recorded_cross_az_account_plans_both_idle_gateways_with_their_routes() -> None:
    case = "test_cross_az_nat_gateway_route_filter"
    gateways = case_pages(case, "ec2.DescribeNatGateways")[0]["NatGateways"]
    tables = case_pages(case, "ec2.DescribeRouteTables")
    rule = RULES["nat-gateway-idle"]
    assert isinstance(rule, NatGatewayIdle)
    ctx = context(as_of=AS_OF, region="us-east-1", client=lambda service: _ZeroMetrics())
    stacked = {
        g["NatGatewayId"]
        for g in gateways
        if any(t["Key"] == "aws:cloudformation:stack-name" for t in g.get("Tags", []))
    }
    assert stacked, "one of the recorded gateways belongs to a stack"
    by_default = list(rule.evaluate(ctx, NatGatewayIdleSettings(), gateways, _RouteTables(tables)))
    assert {s.resource_id for s in by_default if isinstance(s, SkippedResource)} == stacked
    found = list(
        rule.evaluate(
            ctx,
            NatGatewayIdleSettings(skip_cloudformation_managed=False),
            gateways,
            _RouteTables(tables),
        )
    )
    findings = [f for f in found if isinstance(f, Finding)]
    assert {f.resource_id for f in findings} == {g["NatGatewayId"] for g in gateways}
    all_tables = tables[0]["RouteTables"]
    routed = {f.resource_id: len(rule.record(f).routes) for f in findings}
    assert sorted(routed.values()) == [0, 3]  # one gateway takes three tables' default routes
    for finding in findings:
        record = rule.record(finding)
        assert record.routes == routes_to(finding.resource_id, all_tables)
        validate_pair(rule.build_plan(finding), rule.build_rollback(finding), RULES)


# ---- elb-idle: DescribeLoadBalancers (the ELBv2 answers among the recorded ones) ----------


def _elbv2_answers() -> list[tuple[str, dict[str, Any]]]:
    return [
        (case, response)
        for case, response in placebo_responses("elasticloadbalancing.DescribeLoadBalancers")
        if any("LoadBalancerArn" in item for item in response.get("LoadBalancers", []))
    ]


def test_the_recorded_elbv2_answers_are_there() -> None:
    answers = _elbv2_answers()
    assert len(answers) >= 40
    kinds = {i.get("Type") for _, r in answers for i in r["LoadBalancers"]}
    assert {"application", "network"} <= kinds


@pytest.mark.parametrize(("case", "response"), _elbv2_answers(), ids=lambda v: str(v))
def test_every_recorded_load_balancer_parses_or_is_named_unsupported(
    case: str, response: dict[str, Any]
) -> None:
    from generator.rules.elb_idle import TRAFFIC
    from generator.rules.load_balancer import alias_name, parse_load_balancer, unsupported

    for item in response["LoadBalancers"]:
        if unsupported(item) is not None:
            continue
        spec = parse_load_balancer(
            item, {}, [{"Key": "deletion_protection.enabled", "Value": "false"}]
        )
        assert spec.arn == item["LoadBalancerArn"] and spec.name == item["LoadBalancerName"]
        assert spec.subnets == tuple(sorted(z["SubnetId"] for z in item["AvailabilityZones"]))
        assert spec.security_groups == tuple(sorted(item.get("SecurityGroups", [])))
        # CloudWatch's LoadBalancer dimension: app/<name>/<id> or net/<name>/<id>.
        kind, name, _ = spec.metric_dimension.split("/")
        assert (kind, name) == ({"application": "app", "network": "net"}[spec.type], spec.name)
        assert spec.type in TRAFFIC
        assert alias_name(f"dualstack.{spec.dns_name.upper()}.") == spec.dns_name.lower()
        assert spec.created.startswith(("20",))


def test_a_mutual_tls_listener_is_left_to_a_human() -> None:
    from generator.rules.load_balancer import unsupported_listener

    listener = {"Port": 443, "Protocol": "HTTPS", "MutualAuthentication": {"Mode": "verify"}}
    assert "mutual TLS (verify)" in str(unsupported_listener(listener))
    assert unsupported_listener({**listener, "MutualAuthentication": {"Mode": "off"}}) is None
    assert unsupported_listener({"Port": 80, "Protocol": "HTTP"}) is None
