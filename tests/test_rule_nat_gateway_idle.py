"""nat-gateway-idle: detect → plan → apply → rollback on moto, with AWS's behaviour where
moto differs (each difference is named where the test supplies it):

- moto ignores DryRun on DeleteNatGateway (it would delete): AWS answers DryRunOperation;
- moto keeps the Elastic IP associated after DeleteNatGateway: AWS disassociates it (and
  refuses CreateNatGateway with an associated allocation, as moto does too);
- moto ignores CreateNatGateway's PrivateIpAddress: AWS gives exactly that address;
- moto keeps the deleted gateway's routes "active": AWS marks them blackhole. Both keep
  the gateway ID on the route, which is what the rollback's ReplaceRoute step looks for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.ec2.models import nat_gateways as moto_nat

from generator.aws.tags import HELD_FOR_ROLLBACK_TAG
from generator.errors import AwsCallFailed, PrecheckFailed
from generator.exclusions import Exclusions
from generator.rules.eip_unassociated import EipUnassociatedSettings
from generator.rules.nat_gateway_idle import NatGatewayIdleSettings
from tests.rule_harness import REGION, client, executor, journal, planned, scan

RULE = "nat-gateway-idle"
AS_OF = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
METRICS = ("ActiveConnectionCount", "BytesOutToDestination", "PacketsInFromSource")


# ---- AWS's behaviour where moto's differs --------------------------------------------


@pytest.fixture
def aws_like(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A client factory whose EC2 clients behave as AWS does on the four points above."""
    requested: list[str] = []
    original_ip = moto_nat.random_private_ip

    def private_ip(*args: Any, **kwargs: Any) -> str:
        return requested.pop() if requested else original_ip(*args, **kwargs)

    monkeypatch.setattr(moto_nat, "random_private_ip", private_ip)

    def dry_run(params: dict[str, Any], model: Any, **_: Any) -> None:
        if params.get("DryRun"):
            raise ClientError(
                {"Error": {"Code": "DryRunOperation", "Message": "would have succeeded"}},
                model.name,
            )

    def remember_ip(params: dict[str, Any], **_: Any) -> None:
        if params.get("PrivateIpAddress"):
            requested.append(params["PrivateIpAddress"])

    def disassociate(parsed: dict[str, Any], **_: Any) -> None:
        ec2 = boto3.client("ec2", region_name=REGION)
        gateway = ec2.describe_nat_gateways(NatGatewayIds=[parsed["NatGatewayId"]])
        for address in gateway["NatGateways"][0]["NatGatewayAddresses"]:
            if address.get("AssociationId"):
                ec2.disassociate_address(AssociationId=address["AssociationId"])

    def factory(service: str, region: str = REGION) -> Any:
        made = boto3.client(service, region_name=region)
        if service == "ec2":
            events = made.meta.events
            for operation in ("DeleteNatGateway", "CreateNatGateway"):
                events.register(f"provide-client-params.ec2.{operation}", dry_run)
            events.register("provide-client-params.ec2.CreateNatGateway", remember_ip)
            events.register("after-call.ec2.DeleteNatGateway", disassociate)
        return made

    yield factory


# ---- the world -----------------------------------------------------------------------


def network(ec2: Any) -> tuple[str, str]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    return vpc, subnet


def gateway(ec2: Any, subnet: str, *, private: bool = False, **tags: str) -> str:
    extra: dict[str, Any] = {}
    if private:
        extra["ConnectivityType"] = "private"
    else:
        extra["AllocationId"] = ec2.allocate_address(Domain="vpc")["AllocationId"]
    if tags:
        extra["TagSpecifications"] = [
            {
                "ResourceType": "natgateway",
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ]
    return str(ec2.create_nat_gateway(SubnetId=subnet, **extra)["NatGateway"]["NatGatewayId"])


def seed(cw: Any, gateway_id: str, *, days: int = 14, busy: str | None = None) -> None:
    for day in range(days):
        cw.put_metric_data(
            Namespace="AWS/NATGateway",
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "NatGatewayId", "Value": gateway_id}],
                    "Timestamp": AS_OF - timedelta(days=day, hours=1),
                    "Value": 7.0 if metric == busy and day == 3 else 0.0,
                }
                for metric in METRICS
            ],
        )


def routed_world(ec2: Any, cw: Any) -> dict[str, Any]:
    """An idle public gateway with an IPv4, an IPv6 and a prefix-list route in two tables."""
    vpc, subnet = network(ec2)
    nat = gateway(ec2, subnet, Name="egress", team="platform")
    seed(cw, nat)
    first = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    second = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    prefix_list = ec2.create_managed_prefix_list(
        PrefixListName="partners", MaxEntries=5, AddressFamily="IPv4"
    )["PrefixList"]["PrefixListId"]
    ec2.create_route(RouteTableId=first, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    ec2.create_route(RouteTableId=first, DestinationIpv6CidrBlock="64:ff9b::/96", NatGatewayId=nat)
    ec2.create_route(RouteTableId=second, DestinationPrefixListId=prefix_list, NatGatewayId=nat)
    return {
        "vpc": vpc,
        "subnet": subnet,
        "nat": nat,
        "tables": (first, second),
        "prefix_list": prefix_list,
    }


def observed(ec2: Any, nat: str) -> dict[str, Any]:
    """Every attribute the rule records, as AWS reports it now."""
    item = ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]
    address = item["NatGatewayAddresses"][0]
    return {
        "State": item["State"],
        "SubnetId": item["SubnetId"],
        "VpcId": item["VpcId"],
        "ConnectivityType": item.get("ConnectivityType", "public"),
        "AllocationId": address.get("AllocationId"),
        "PublicIp": address.get("PublicIp"),
        "PrivateIp": address["PrivateIp"],
        "Tags": sorted((t["Key"], t["Value"]) for t in item.get("Tags", [])),
    }


def routes_of(ec2: Any, tables: tuple[str, ...]) -> dict[tuple[str, str], str | None]:
    found: dict[tuple[str, str], str | None] = {}
    for table in ec2.describe_route_tables(RouteTableIds=list(tables))["RouteTables"]:
        for route in table["Routes"]:
            destination = (
                route.get("DestinationCidrBlock")
                or route.get("DestinationIpv6CidrBlock")
                or route.get("DestinationPrefixListId")
            )
            if route.get("GatewayId") != "local":
                found[(table["RouteTableId"], destination)] = route.get("NatGatewayId")
    return found


def run_scan(aws_like: Any, **settings: Any) -> Any:
    return scan(
        RULE,
        as_of=AS_OF,
        settings=NatGatewayIdleSettings(**settings),
        client_factory=aws_like,
    )


# ---- detection -------------------------------------------------------------------------


@mock_aws
def test_detect_finds_idle_gateways_and_says_why_others_are_left_alone(aws_like: Any) -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    world = routed_world(ec2, cw)
    _, subnet = network(ec2)
    busy = gateway(ec2, subnet)
    seed(cw, busy, busy="BytesOutToDestination")
    connected = gateway(ec2, subnet)
    seed(cw, connected, busy="ActiveConnectionCount")
    partial = gateway(ec2, subnet)
    seed(cw, partial, days=5)
    silent = gateway(ec2, subnet)  # no metrics at all
    stack = gateway(ec2, subnet, **{"aws:cloudformation:stack-name": "network"})
    seed(cw, stack)
    gone = gateway(ec2, subnet)
    seed(cw, gone)
    ec2.delete_nat_gateway(NatGatewayId=gone)

    detected = run_scan(aws_like)

    finding = detected.only()
    assert finding.resource_id == world["nat"]
    assert finding.cost.monthly_usd == pytest.approx(0.045 * 730, abs=0.01)
    assert "NAT gateway" in finding.cost.basis
    record = finding.resource
    first, second = world["tables"]
    assert {
        (r["route_table_id"], r["destination_key"], r["destination"]) for r in record["routes"]
    } == {
        (first, "DestinationCidrBlock", "0.0.0.0/0"),
        (first, "DestinationIpv6CidrBlock", "64:ff9b::/96"),
        (second, "DestinationPrefixListId", world["prefix_list"]),
    }
    assert record["gateway"]["tags"] == {"Name": "egress", "team": "platform"}
    assert "BytesOutToDestination reached 7" in detected.skip_reason(busy)
    assert "ActiveConnectionCount reached 7" in detected.skip_reason(connected)
    assert "only 5 of 14 days" in detected.skip_reason(partial)
    assert "only 0 of 14 days" in detected.skip_reason(silent)
    assert "CloudFormation stack 'network'" in detected.skip_reason(stack)
    assert gone not in {s.resource_id for s in detected.skipped}


@mock_aws
def test_thresholds_are_settings_and_the_skip_tag_is_honoured(aws_like: Any) -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    _, subnet = network(ec2)
    partial = gateway(ec2, subnet)
    seed(cw, partial, days=5)
    kept = gateway(ec2, subnet, **{"reclaim:skip": "true"})
    seed(cw, kept)
    assert run_scan(aws_like, lookback_days=5, min_days_with_data=5).finding(partial)
    detected = scan(
        RULE,
        as_of=AS_OF,
        exclusions=Exclusions(skip_tag="reclaim:skip"),
        client_factory=aws_like,
    )
    assert "reclaim:skip" in detected.skip_reason(kept)


@mock_aws
def test_secondary_addresses_are_left_to_a_human() -> None:
    from generator.rules import RULES
    from generator.rules.nat_gateway import unsupported

    item = {
        "NatGatewayId": "nat-1",
        "State": "available",
        "NatGatewayAddresses": [
            {"AllocationId": "eipalloc-1", "PrivateIp": "10.0.1.5", "IsPrimary": True},
            {"AllocationId": "eipalloc-2", "PrivateIp": "10.0.1.6", "IsPrimary": False},
        ],
    }
    assert "2 addresses" in str(unsupported(item))
    assert "regional" in str(unsupported({**item, "AvailabilityMode": "regional"}))
    assert RULES[RULE].reversibility == "best-effort"


# ---- apply and rollback ----------------------------------------------------------------


@mock_aws
def test_apply_deletes_keeping_the_address_and_rollback_restores_gateway_and_routes(
    aws_like: Any, tmp_path: Path
) -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    world = routed_world(ec2, cw)
    nat, tables = world["nat"], world["tables"]
    before, routes_before = observed(ec2, nat), routes_of(ec2, tables)
    finding = run_scan(aws_like).only()
    folder = planned(finding, tmp_path)
    run = executor(client_for=aws_like)
    index = {r["destination"]: i for i, r in enumerate(finding.resource["routes"], start=1)}

    run.apply(folder)

    assert observed(ec2, nat)["State"] == "deleted"
    address = ec2.describe_addresses(AllocationIds=[before["AllocationId"]])["Addresses"][0]
    assert address["PublicIp"] == before["PublicIp"]  # kept, not released
    assert not address.get("AssociationId")
    recorded = journal(folder)["apply"]["steps"]
    assert {s["step_id"]: s["status"] for s in recorded}["record-routes"] == "completed"
    # The address the rollback needs is held: eip-unassociated does not propose releasing it.
    held = {t["Key"]: t["Value"] for t in address.get("Tags", [])}
    assert held[HELD_FOR_ROLLBACK_TAG] == journal(folder)["plan_id"]
    eips = scan("eip-unassociated", settings=EipUnassociatedSettings(min_unassociated_days=0))
    assert not eips.findings
    assert [s.resource_id for s in eips.skipped] == [before["AllocationId"]]
    assert "held for the rollback" in eips.skipped[0].reason

    # While the gateway was gone someone deleted one of its (blackhole) routes: the
    # rollback creates it again; the others it replaces.
    ec2.delete_route(RouteTableId=tables[0], DestinationIpv6CidrBlock="64:ff9b::/96")
    result = run.rollback(folder)

    new = result.output("create", "NatGatewayId")
    assert isinstance(new, str) and new != nat
    after = observed(ec2, new)
    assert after == before  # subnet, VPC, connectivity, allocation, public and private IP, tags
    assert routes_of(ec2, tables) == {key: new for key in routes_before}
    outcomes = {o.step_id: o.status for o in result.steps}
    gone, kept = index["64:ff9b::/96"], index["0.0.0.0/0"]
    assert outcomes[f"create-route-{gone}"] == "done"  # the deleted IPv6 route
    assert outcomes[f"replace-route-{gone}"] == "already done"
    assert outcomes[f"replace-route-{kept}"] == "done"
    assert outcomes[f"create-route-{kept}"] == "already done"


@mock_aws
def test_private_gateway_round_trip(aws_like: Any, tmp_path: Path) -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    vpc, subnet = network(ec2)
    nat = gateway(ec2, subnet, private=True, Name="to-onprem")
    seed(cw, nat)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="172.16.0.0/12", NatGatewayId=nat)
    before = observed(ec2, nat)
    folder = planned(run_scan(aws_like).only(), tmp_path)
    run = executor(client_for=aws_like)
    run.apply(folder)
    new = run.rollback(folder).output("create", "NatGatewayId")
    assert observed(ec2, str(new)) == before
    assert routes_of(ec2, (table,)) == {(table, "172.16.0.0/12"): new}


@mock_aws
def test_rollback_refuses_before_creating_anything_when_a_route_was_taken_over(
    aws_like: Any, tmp_path: Path
) -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    world = routed_world(ec2, cw)
    folder = planned(run_scan(aws_like).only(), tmp_path)
    run = executor(client_for=aws_like)
    run.apply(folder)
    first = world["tables"][0]
    other = gateway(ec2, world["subnet"])
    ec2.replace_route(RouteTableId=first, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=other)

    with pytest.raises(PrecheckFailed, match="not taken over by another target"):
        run.rollback(folder)

    # Nothing was created and the other team's route still points where they put it.
    live = ec2.describe_nat_gateways(Filter=[{"Name": "state", "Values": ["available"]}])
    assert [g["NatGatewayId"] for g in live["NatGateways"]] == [other]
    assert routes_of(ec2, (first,))[(first, "0.0.0.0/0")] == other


@mock_aws
def test_rollback_refuses_when_the_elastic_ip_was_given_to_something_else(
    aws_like: Any, tmp_path: Path
) -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    world = routed_world(ec2, cw)
    allocation = observed(ec2, world["nat"])["AllocationId"]
    folder = planned(run_scan(aws_like).only(), tmp_path)
    run = executor(client_for=aws_like)
    run.apply(folder)
    eni = ec2.create_network_interface(SubnetId=world["subnet"])["NetworkInterface"]
    ec2.associate_address(AllocationId=allocation, NetworkInterfaceId=eni["NetworkInterfaceId"])

    with pytest.raises(PrecheckFailed, match="associated with nothing"):
        run.rollback(folder)
    live = ec2.describe_nat_gateways(Filter=[{"Name": "state", "Values": ["available"]}])
    assert live["NatGateways"] == []


@mock_aws
def test_apply_refuses_a_gateway_that_carried_traffic_since_the_scan(
    aws_like: Any, tmp_path: Path
) -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    world = routed_world(ec2, cw)
    folder = planned(run_scan(aws_like).only(), tmp_path)
    cw.put_metric_data(
        Namespace="AWS/NATGateway",
        MetricData=[
            {
                "MetricName": "BytesOutToDestination",
                "Dimensions": [{"Name": "NatGatewayId", "Value": world["nat"]}],
                "Timestamp": AS_OF - timedelta(minutes=30),
                "Value": 4096.0,
            }
        ],
    )
    with pytest.raises(PrecheckFailed, match=r"leaves nat-\w+ alone"):
        executor(client_for=aws_like).apply(folder)
    assert observed(ec2, world["nat"])["State"] == "available"


@mock_aws
def test_apply_refuses_when_a_route_was_added_since_the_scan(aws_like: Any, tmp_path: Path) -> None:
    """The routes in the PR's record are what the rollback restores: the apply re-reads
    them, and a route the record does not name stops it before the deletion."""
    ec2, cw = client("ec2"), client("cloudwatch")
    world = routed_world(ec2, cw)
    folder = planned(run_scan(aws_like).only(), tmp_path)
    extra = ec2.create_route_table(VpcId=world["vpc"])["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=extra, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=world["nat"]
    )
    with pytest.raises(PrecheckFailed, match="route tables with a route to the gateway"):
        executor(client_for=aws_like).apply(folder)
    assert observed(ec2, world["nat"])["State"] == "available"


@mock_aws
def test_a_failed_create_is_resumed_without_a_second_gateway(
    aws_like: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2, cw = client("ec2"), client("cloudwatch")
    world = routed_world(ec2, cw)
    folder = planned(run_scan(aws_like).only(), tmp_path)
    run = executor(client_for=aws_like)
    run.apply(folder)

    def lose_the_answer(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "lost"}}, "x")

    def flaky(service: str, region: str = REGION) -> Any:
        made = aws_like(service, region)
        if service == "ec2":
            made.meta.events.register("after-call.ec2.CreateNatGateway", lose_the_answer)
        return made

    with pytest.raises(AwsCallFailed):
        executor(client_for=flaky).rollback(folder)
    result = run.rollback(folder)
    assert {o.step_id: o.status for o in result.steps}["create"] == "already done"
    live = ec2.describe_nat_gateways(Filter=[{"Name": "subnet-id", "Values": [world["subnet"]]}])
    available = [g for g in live["NatGateways"] if g["State"] == "available"]
    assert [g["NatGatewayId"] for g in available] == [result.output("create", "NatGatewayId")]
