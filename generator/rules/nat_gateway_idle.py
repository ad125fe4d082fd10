"""nat-gateway-idle: NAT gateways that carried no connection, byte or packet for two weeks.

Change: DeleteNatGateway, after recording the gateway (subnet, connectivity type, Elastic
IP allocation, private IP, tags) and every route that targets it. AWS disassociates the
Elastic IP but does not release it, and keeps the routes as blackholes.

Undo: CreateNatGateway in the same subnet with the same allocation, private IP and tags,
wait available, then point every recorded route at the new gateway: ReplaceRoute where the
deleted gateway's blackhole route is still there, CreateRoute where it is gone. A route
someone pointed elsewhere meanwhile is never overwritten: the rollback's pre-check refuses
before it creates anything. Best-effort: the gateway ID changes, and the private IP or the
Elastic IP may have been taken meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from generator.aws.metrics import MetricQuery, MetricSeries, MetricWindow, fetch_metrics
from generator.aws.tags import HELD_FOR_ROLLBACK_TAG, restorable_tags, tag_list
from generator.findings import Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import (
    ELASTIC_IP,
    ActionScope,
    Condition,
    Grant,
    create_action,
    never_skipped,
    only,
)
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup, Step, WaitFor
from generator.manifest.paths import json_literal
from generator.manifest.refs import ref
from generator.rules.base import (
    BillFootprint,
    ManifestBody,
    Rule,
    RuleCalls,
    RuleDocs,
    RuleSettings,
)
from generator.rules.context import ScanContext
from generator.rules.nat_gateway import (
    NatGatewaySpec,
    NatRoute,
    destinations_in,
    destinations_to,
    parse_gateway,
    routes_to,
    table_ids,
    table_routes,
    unsupported,
)

DAY_SECONDS = 86400
NAMESPACE = "AWS/NATGateway"
METRICS = (
    ("ActiveConnectionCount", "Maximum"),
    ("BytesOutToDestination", "Sum"),
    ("PacketsInFromSource", "Sum"),
)
CLOUDFORMATION_STACK_TAG = "aws:cloudformation:stack-name"
_ROUTE_FILTER_BATCH = 100
"""Gateway IDs per DescribeRouteTables filter (EC2 takes up to 200 values per filter)."""
_POLL_SECONDS = 15

NAT_GATEWAY = "arn:{partition}:ec2:{region}:{account}:natgateway/*"
SUBNET = "arn:{partition}:ec2:{region}:{account}:subnet/*"
ROUTE_TABLE = "arn:{partition}:ec2:{region}:{account}:route-table/*"


class NatGatewayIdleSettings(RuleSettings):
    lookback_days: int = Field(default=14, ge=2, le=63, description="Days of metrics judged.")
    min_days_with_data: int = Field(
        default=14,
        ge=1,
        description="Days with data for all three metrics needed to judge (NAT gateways "
        "publish them every minute, zeros included); fewer is 'unknown'.",
    )
    skip_cloudformation_managed: bool = Field(
        default=True,
        description="Leave gateways created by a CloudFormation stack to the stack: deleting "
        "them behind its back makes the stack drift.",
    )
    delete_timeout_minutes: int = Field(
        default=20, ge=1, le=120, description="How long apply waits for the gateway to go."
    )
    create_timeout_minutes: int = Field(
        default=20, ge=1, le=120, description="How long rollback waits for the new gateway."
    )


class IdleNatGateway(BaseModel):
    """What the finding records: the gateway, every route to it, and the skip tag."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gateway: NatGatewaySpec
    routes: tuple[NatRoute, ...]
    skip_tag: str
    delete_timeout_minutes: int
    create_timeout_minutes: int


def _queries(gateway_id: str) -> list[MetricQuery]:
    dimensions = (("NatGatewayId", gateway_id),)
    return [
        MetricQuery(f"{gateway_id}/{metric}", NAMESPACE, metric, dimensions, stat)
        for metric, stat in METRICS
    ]


def judge(series: Mapping[str, MetricSeries], settings: NatGatewayIdleSettings) -> str | None:
    """Why the metrics leave a gateway alone (busy, or too little data), or None if idle."""
    needed = min(settings.min_days_with_data, settings.lookback_days)
    for metric, _ in METRICS:
        points = series[metric].points
        if len(points) < needed:
            return (
                f"unknown: only {len(points)} of {settings.lookback_days} days have {metric} "
                f"data (min_days_with_data={needed}); no metrics is no evidence of idleness"
            )
    for metric, _ in METRICS:
        peak = series[metric].maximum() or 0.0
        if peak > 0:
            return f"not idle: {metric} reached {peak:,.0f} on a day"
    return None


_HOLD_TAG_ONLY = ActionScope(
    grants=(
        Grant(
            (ELASTIC_IP,),
            (Condition("ForAllValues:StringEquals", "aws:TagKeys", (HELD_FOR_ROLLBACK_TAG,)),),
            f"only the {HELD_FOR_ROLLBACK_TAG} tag, on Elastic IPs",
        ),
    )
)


class NatGatewayIdle(Rule[NatGatewayIdleSettings, IdleNatGateway]):
    name: ClassVar[str] = "nat-gateway-idle"
    summary: ClassVar[str] = "NAT gateways with no connections, bytes or packets for two weeks"
    resource_type: ClassVar[str] = "AWS::EC2::NatGateway"
    reversibility: ClassVar[Reversibility] = "best-effort"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "available NAT gateways whose `ActiveConnectionCount`, `BytesOutToDestination` and "
            "`PacketsInFromSource` are all zero every day of `lookback_days` (14); partial "
            'metrics = "unknown", never idle; CloudFormation-managed and multi-address '
            "gateways are left alone"
        ),
        change=(
            "record subnet, connectivity type, Elastic IP allocation, private IP, tags and every "
            "route that targets it, then DeleteNatGateway (the Elastic IP stays allocated; the "
            "routes become blackholes)"
        ),
        undo=(
            "CreateNatGateway in the same subnet with the same allocation, private IP and tags, "
            "wait available, point every recorded route at the new gateway (ReplaceRoute on the "
            "blackhole, CreateRoute where it is gone); **the gateway ID changes**, and a route "
            "someone pointed elsewhere is never overwritten"
        ),
    )
    settings_model = NatGatewayIdleSettings
    record_model = IdleNatGateway
    bill_footprint: ClassVar[BillFootprint | None] = BillFootprint(
        own=r"NatGateway-(Hours|Bytes)", moved=r"DataTransfer|-AWS-(In|Out)-Bytes"
    )
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {
                ("ec2", "DescribeNatGateways"),
                ("ec2", "DescribeRouteTables"),
                ("cloudwatch", "GetMetricData"),
            }
        ),
        apply=frozenset(
            {
                ("ec2", "DescribeNatGateways"),
                ("ec2", "DescribeRouteTables"),
                ("ec2", "DescribeAddresses"),
                ("ec2", "DeleteNatGateway"),
                ("ec2", "CreateTags"),
            }
        ),
        rollback=frozenset(
            {
                ("ec2", "DescribeNatGateways"),
                ("ec2", "DescribeRouteTables"),
                ("ec2", "DescribeAddresses"),
                ("ec2", "CreateNatGateway"),
                ("ec2", "ReplaceRoute"),
                ("ec2", "CreateRoute"),
                ("ec2", "DeleteTags"),
            }
        ),
        scopes={
            "ec2:DeleteNatGateway": never_skipped(
                NAT_GATEWAY, "never a NAT gateway carrying the skip tag"
            ),
            "ec2:CreateNatGateway": ActionScope(
                grants=(
                    Grant(
                        (NAT_GATEWAY, SUBNET, ELASTIC_IP),
                        why="a NAT gateway again, in a subnet, with an Elastic IP",
                    ),
                ),
                implied=(
                    (
                        ("ec2:CreateTags",),
                        Grant(
                            (NAT_GATEWAY,),
                            (create_action("CreateNatGateway"),),
                            "tags only while creating a NAT gateway",
                        ),
                    ),
                ),
            ),
            "ec2:ReplaceRoute": only(ROUTE_TABLE, why="routes of route tables only"),
            "ec2:CreateRoute": only(ROUTE_TABLE, why="routes of route tables only"),
            "ec2:CreateTags": _HOLD_TAG_ONLY,
            "ec2:DeleteTags": _HOLD_TAG_ONLY,
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: NatGatewayIdleSettings
    ) -> Iterator[Finding | SkippedResource]:
        ec2 = ctx.client("ec2")
        pages = ec2.get_paginator("describe_nat_gateways").paginate(
            Filter=[{"Name": "state", "Values": ["available"]}]
        )
        items = [item for page in pages for item in page.get("NatGateways", [])]
        yield from self.evaluate(ctx, settings, items, ec2)

    def evaluate(
        self,
        ctx: ScanContext,
        settings: NatGatewayIdleSettings,
        items: list[dict[str, Any]],
        ec2: Any,
    ) -> Iterator[Finding | SkippedResource]:
        """DescribeNatGateways items (any state) → findings; ``ec2`` is asked for the route
        tables of the idle ones only."""
        candidates: list[NatGatewaySpec] = []
        for item in items:
            if item.get("State") != "available":
                continue
            reason = unsupported(item)
            if reason is None:
                gateway = parse_gateway(item)
                reason = self._skip_reason(ctx, settings, gateway)
            if reason is not None:
                yield self.skipped(ctx, str(item.get("NatGatewayId", "unknown")), reason)
            else:
                candidates.append(gateway)
        if not candidates:
            return
        window = MetricWindow.days_before(ctx.as_of, settings.lookback_days, DAY_SECONDS)
        series = fetch_metrics(
            ctx.client("cloudwatch"),
            window,
            [q for gateway in candidates for q in _queries(gateway.nat_gateway_id)],
        )
        idle: list[NatGatewaySpec] = []
        for gateway in candidates:
            gid = gateway.nat_gateway_id
            reason = judge({m: series[f"{gid}/{m}"] for m, _ in METRICS}, settings)
            if reason is not None:
                yield self.skipped(ctx, gid, reason)
            else:
                idle.append(gateway)
        tables = _route_tables(ec2, [g.nat_gateway_id for g in idle])
        for gateway in idle:
            record = IdleNatGateway(
                gateway=gateway,
                routes=routes_to(gateway.nat_gateway_id, tables),
                skip_tag=ctx.exclusions.skip_tag,
                delete_timeout_minutes=settings.delete_timeout_minutes,
                create_timeout_minutes=settings.create_timeout_minutes,
            )
            yield self._finding(ctx, settings, record)

    def _skip_reason(
        self, ctx: ScanContext, settings: NatGatewayIdleSettings, gateway: NatGatewaySpec
    ) -> str | None:
        stack = gateway.tags.get(CLOUDFORMATION_STACK_TAG)
        if stack and settings.skip_cloudformation_managed:
            return f"belongs to CloudFormation stack {stack!r}: remove it from the stack instead"
        return ctx.exclusions.reason_to_skip(gateway.nat_gateway_id, gateway.tags)

    def _finding(
        self, ctx: ScanContext, settings: NatGatewayIdleSettings, record: IdleNatGateway
    ) -> Finding:
        gateway = record.gateway
        days = settings.lookback_days
        routes = ", ".join(r.label() for r in record.routes) or "none"
        evidence = [
            Evidence(
                label=f"{metric} ({stat.lower()}, daily)",
                value=f"0 on each of the last {days} days",
                source="CloudWatch GetMetricData, AWS/NATGateway",
            )
            for metric, stat in METRICS
        ]
        evidence += [
            Evidence(label="Routes to it", value=routes, source="DescribeRouteTables"),
            Evidence(
                label="Address",
                value=f"{gateway.public_ip} ({gateway.allocation_id}), private {gateway.private_ip}"
                if gateway.allocation_id
                else f"private {gateway.private_ip} (private NAT gateway)",
                source="DescribeNatGateways",
            ),
        ]
        reasons = [f"no connections, bytes or packets for {days} days"]
        if record.routes:
            reasons.append(
                f"{len(record.routes)} route(s) send traffic to it; they become blackholes"
            )
        return self.new_finding(
            ctx,
            title=f"Delete idle {gateway.label()}",
            cost=ctx.prices.nat_gateway_cost(region=ctx.region),
            risk="medium" if record.routes else "low",
            risk_reasons=reasons,
            evidence=evidence,
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: IdleNatGateway) -> str:
        return record.gateway.nat_gateway_id

    def tags_of(self, record: IdleNatGateway) -> Mapping[str, str]:
        return record.gateway.tags

    def plan(self, finding: Finding, record: IdleNatGateway) -> ManifestBody:
        gateway = record.gateway
        gid = gateway.nat_gateway_id
        delete = AwsCall(service="ec2", operation="DeleteNatGateway", params={"NatGatewayId": gid})
        by_id = _describe(gid)
        plan_steps: list[Step] = [
            steps.precheck(
                "precheck",
                f"Read {gid} and confirm it is still available, in {gateway.subnet_id}, with "
                "the recorded address and tags, without the skip tag.",
                by_id,
                Expectation(path="NatGateways[0].State", equals="available", what="state"),
                steps.skip_tag_absent(record.skip_tag, tags_at="NatGateways[0].Tags"),
                *_identity(gateway, "NatGateways[0]"),
            ),
            steps.precheck(
                "precheck-routes",
                "Confirm the routes that target it are exactly the recorded ones: "
                + (", ".join(r.label() for r in record.routes) or "none")
                + ".",
                _routes_to(gid),
                *_route_expectations(gid, record.routes),
            ),
            steps.record(
                "record",
                "Record the gateway's subnet, connectivity type, allocation and private IP in "
                "the journal, next to the finding's record the rollback is built from.",
                by_id,
                outputs={
                    "SubnetId": "NatGateways[0].SubnetId",
                    "ConnectivityType": "NatGateways[0].ConnectivityType || 'public'",
                    "AllocationId": "NatGateways[0].NatGatewayAddresses[0].AllocationId",
                    "PrivateIp": "NatGateways[0].NatGatewayAddresses[0].PrivateIp",
                },
            ),
            steps.record(
                "record-routes",
                "Record every route that targets the gateway (route table and destination).",
                _routes_to(gid),
                outputs={"Routes": _route_record(gid)},
            ),
            steps.dry_run(
                f"Ask EC2 whether DeleteNatGateway {gid} would be permitted (DryRun).", delete
            ),
            *_hold_address(gateway, finding.id),
            steps.change(
                "delete",
                f"Delete {gid} and wait until it is deleted; the Elastic IP stays allocated.",
                delete,
                destroys_data=True,
                already_done=Lookup(
                    call=by_id,
                    found_when="contains(['deleting', 'deleted'], NatGateways[0].State)",
                    found_on_error="NatGatewayNotFound",
                ),
                wait=WaitFor(
                    waiter="nat_gateway_deleted",
                    params={"NatGatewayIds": [gid]},
                    delay_seconds=_POLL_SECONDS,
                    max_attempts=_attempts(record.delete_timeout_minutes),
                ),
            ),
            steps.verify(
                "verify",
                f"Confirm {gid} is deleted.",
                _by_filter(gid),
                Expectation(
                    path="NatGateways[0].State || 'deleted'", equals="deleted", what="state"
                ),
            ),
        ]
        if gateway.allocation_id:
            plan_steps.append(
                steps.verify(
                    "verify-address",
                    f"Confirm the Elastic IP {gateway.public_ip} ({gateway.allocation_id}) is "
                    "still allocated, for the rollback.",
                    _address(gateway.allocation_id),
                    Expectation(
                        path="Addresses[0].PublicIp", equals=gateway.public_ip, what="public IP"
                    ),
                )
            )
        return ManifestBody(steps=tuple(plan_steps), notes=_plan_notes(record))

    def rollback(self, finding: Finding, record: IdleNatGateway) -> ManifestBody:
        gateway = record.gateway
        gid = gateway.nat_gateway_id
        new_id = ref("steps.create.NatGatewayId")
        rollback_steps: list[Step] = [
            steps.precheck(
                "precheck",
                f"Confirm {gid} is deleted (a gateway being deleted still holds its address).",
                _by_filter(gid),
                Expectation(
                    path="NatGateways[0].State || 'deleted'", equals="deleted", what="state"
                ),
            )
        ]
        if gateway.allocation_id:
            rollback_steps.append(
                steps.precheck(
                    "precheck-address",
                    f"Confirm the Elastic IP {gateway.public_ip} is still the allocation the "
                    "apply recorded and is associated with nothing.",
                    _address(gateway.allocation_id),
                    Expectation(
                        path="Addresses[0].AllocationId",
                        equals=ref("apply.record.AllocationId"),
                        what="allocation recorded by the apply",
                    ),
                    Expectation(
                        path="Addresses[0].PublicIp", equals=gateway.public_ip, what="public IP"
                    ),
                    Expectation(
                        path="!(Addresses[0].AssociationId || Addresses[0].NetworkInterfaceId)",
                        equals=True,
                        what="associated with nothing",
                    ),
                    failure_hint=(
                        f"{gateway.public_ip} was associated with something else (or released) "
                        "after the gateway was deleted; free it, or recreate the gateway by "
                        "hand with another Elastic IP and update whatever names the old one."
                    ),
                )
            )
        if record.routes:
            rollback_steps.append(
                steps.precheck(
                    "precheck-routes",
                    "Confirm nobody routed the recorded destinations elsewhere: each is the "
                    f"deleted gateway's blackhole route or gone ({_labels(record.routes)}).",
                    _tables(record.routes),
                    *(
                        Expectation(
                            path=f"length({table_routes(r.route_table_id)}[?{r.matches()} && "
                            f"NatGatewayId != {json_literal(gid)}])",
                            equals=0,
                            what=f"route {r.label()} not taken over by another target",
                        )
                        for r in record.routes
                    ),
                    failure_hint=(
                        "someone pointed a recorded route at another target after the gateway "
                        "was deleted; reclaim does not overwrite it. Decide which target the "
                        "route should have, then re-run the rollback or restore by hand."
                    ),
                )
            )
        rollback_steps.append(_create(record))
        for index, route in enumerate(record.routes, start=1):
            rollback_steps += _restore_route(gid, route, index, new_id)
        rollback_steps += _release_address(gateway)
        rollback_steps.append(
            steps.verify(
                "verify",
                f"Confirm the new gateway is available in {gateway.subnet_id} with the recorded "
                "address and tags.",
                AwsCall(
                    service="ec2",
                    operation="DescribeNatGateways",
                    params={"NatGatewayIds": [new_id]},
                ),
                Expectation(path="NatGateways[0].State", equals="available", what="state"),
                *_identity(gateway, "NatGateways[0]"),
            )
        )
        if record.routes:
            rollback_steps.append(
                steps.verify(
                    "verify-routes",
                    "Confirm every recorded route targets the new gateway "
                    f"({_labels(record.routes)}).",
                    _tables(record.routes),
                    *(
                        Expectation(
                            path=f"{table_routes(r.route_table_id)}[?{r.matches()}]"
                            " | [0].NatGatewayId",
                            equals=new_id,
                            what=f"target of {r.label()}",
                        )
                        for r in record.routes
                    ),
                )
            )
        return ManifestBody(
            steps=tuple(rollback_steps),
            notes=(
                f"The gateway comes back with a new ID; {gid} is not reused. Whatever names "
                "the old ID (infrastructure-as-code state, scripts) must be updated.",
            ),
        )


def _has_hold_tag(allocation_id: str) -> Lookup:
    return Lookup(
        call=_address(allocation_id),
        found_when=f"contains(Addresses[0].Tags[].Key || `[]`, '{HELD_FOR_ROLLBACK_TAG}')",
    )


def _hold_address(gateway: NatGatewaySpec, plan_id: str) -> tuple[Step, ...]:
    """Tag the Elastic IP the rollback needs, so that no reclaim rule (eip-unassociated)
    proposes releasing it while the gateway is gone."""
    if not gateway.allocation_id:
        return ()
    return (
        steps.change(
            "hold-address",
            f"Tag the Elastic IP {gateway.public_ip} ({gateway.allocation_id}) "
            f"{HELD_FOR_ROLLBACK_TAG}={plan_id}: reclaim never proposes releasing an address "
            "the rollback needs.",
            AwsCall(
                service="ec2",
                operation="CreateTags",
                params={
                    "Resources": [gateway.allocation_id],
                    "Tags": [{"Key": HELD_FOR_ROLLBACK_TAG, "Value": plan_id}],
                },
            ),
            already_done=_has_hold_tag(gateway.allocation_id),
        ),
    )


def _release_address(gateway: NatGatewaySpec) -> list[Step]:
    """Take the hold tag off the Elastic IP once the new gateway has it."""
    if not gateway.allocation_id:
        return []
    has_tag = _has_hold_tag(gateway.allocation_id)
    return [
        steps.change(
            "release-hold",
            f"Remove the {HELD_FOR_ROLLBACK_TAG} tag from {gateway.public_ip}: the new gateway "
            "holds the address now.",
            AwsCall(
                service="ec2",
                operation="DeleteTags",
                params={
                    "Resources": [gateway.allocation_id],
                    "Tags": [{"Key": HELD_FOR_ROLLBACK_TAG}],
                },
            ),
            already_done=Lookup(call=has_tag.call, found_when=f"!({has_tag.found_when})"),
        )
    ]


def _json_list(values: list[str]) -> list[JsonValue]:
    return list(values)


def _attempts(minutes: int) -> int:
    return max(1, minutes * 60 // _POLL_SECONDS)


def _describe(gateway_id: str) -> AwsCall:
    return AwsCall(
        service="ec2", operation="DescribeNatGateways", params={"NatGatewayIds": [gateway_id]}
    )


def _by_filter(gateway_id: str) -> AwsCall:
    """The gateway by filter: an empty answer, not an error, once AWS has forgotten it."""
    return AwsCall(
        service="ec2",
        operation="DescribeNatGateways",
        params={"Filter": [{"Name": "nat-gateway-id", "Values": [gateway_id]}]},
    )


def _address(allocation_id: str) -> AwsCall:
    return AwsCall(
        service="ec2", operation="DescribeAddresses", params={"AllocationIds": [allocation_id]}
    )


def _routes_to(gateway_id: str) -> AwsCall:
    return AwsCall(
        service="ec2",
        operation="DescribeRouteTables",
        params={"Filters": [{"Name": "route.nat-gateway-id", "Values": [gateway_id]}]},
    )


def _tables(routes: tuple[NatRoute, ...]) -> AwsCall:
    return AwsCall(
        service="ec2",
        operation="DescribeRouteTables",
        params={"RouteTableIds": _json_list(table_ids(routes))},
    )


def _labels(routes: tuple[NatRoute, ...]) -> str:
    return ", ".join(r.label() for r in routes)


def _route_record(gateway_id: str) -> str:
    picked = "[DestinationCidrBlock, DestinationIpv6CidrBlock, DestinationPrefixListId][]"
    to_gateway = f"NatGatewayId == {json_literal(gateway_id)}"
    return (
        "RouteTables[].{RouteTableId: RouteTableId, "
        f"Destinations: Routes[?{to_gateway}].{picked}}}"
    )


def _route_expectations(gateway_id: str, routes: tuple[NatRoute, ...]) -> list[Expectation]:
    checks = [
        Expectation(
            path="sort(RouteTables[].RouteTableId)",
            equals=_json_list(table_ids(routes)),
            what="route tables with a route to the gateway",
        )
    ]
    for table in table_ids(routes):
        checks.append(
            Expectation(
                path=destinations_to(gateway_id, table),
                equals=_json_list(destinations_in(routes, table)),
                what=f"destinations routed to the gateway in {table}",
            )
        )
    return checks


def _identity(gateway: NatGatewaySpec, root: str) -> list[Expectation]:
    address = f"{root}.NatGatewayAddresses"
    checks = [
        Expectation(path=f"{root}.SubnetId", equals=gateway.subnet_id, what="subnet"),
        Expectation(
            path=f"{root}.ConnectivityType || 'public'",
            equals=gateway.connectivity_type,
            what="connectivity type",
        ),
        Expectation(path=f"length({address})", equals=1, what="one address"),
        Expectation(path=f"{address}[0].PrivateIp", equals=gateway.private_ip, what="private IP"),
        steps.tags_unchanged(f"{root}.Tags", gateway.tags),
    ]
    if gateway.allocation_id:
        checks.append(
            Expectation(
                path=f"{address}[0].AllocationId",
                equals=gateway.allocation_id,
                what="Elastic IP allocation",
            )
        )
    return checks


def _create(record: IdleNatGateway) -> Step:
    gateway = record.gateway
    params: dict[str, JsonValue] = {
        "SubnetId": gateway.subnet_id,
        "ConnectivityType": gateway.connectivity_type,
        "PrivateIpAddress": gateway.private_ip,
    }
    if gateway.allocation_id:
        params["AllocationId"] = gateway.allocation_id
    tags = restorable_tags(gateway.tags)
    if tags:
        params["TagSpecifications"] = [{"ResourceType": "natgateway", "Tags": tag_list(tags)}]
    # The gateway this rollback made: in the subnet, pending or available, holding the
    # recorded address (an allocation, or a private IP, belongs to one gateway at a time),
    # and created after the apply observed the old one.
    if gateway.allocation_id:
        holds = f"NatGatewayAddresses[0].AllocationId == {json_literal(gateway.allocation_id)}"
    else:
        holds = f"NatGatewayAddresses[0].PrivateIp == {json_literal(gateway.private_ip)}"
    mine = f"NatGateways[?{holds}]"
    return steps.change(
        "create",
        f"Create a NAT gateway again in {gateway.subnet_id} with "
        + (
            f"the Elastic IP {gateway.public_ip}, "
            if gateway.allocation_id
            else "private connectivity, "
        )
        + f"private IP {gateway.private_ip} and the recorded tags; wait until it is available.",
        AwsCall(service="ec2", operation="CreateNatGateway", params=params),
        outputs={"NatGatewayId": "NatGateway.NatGatewayId"},
        already_done=Lookup(
            call=AwsCall(
                service="ec2",
                operation="DescribeNatGateways",
                params={
                    "Filter": [
                        {"Name": "subnet-id", "Values": [gateway.subnet_id]},
                        {"Name": "state", "Values": ["pending", "available"]},
                    ]
                },
            ),
            found_when=f"length({mine}) > `0`",
            outputs={"NatGatewayId": f"{mine} | [0].NatGatewayId"},
            created_at=f"{mine} | [0].CreateTime",
        ),
        wait=WaitFor(
            waiter="nat_gateway_available",
            params={"NatGatewayIds": [ref("steps.create.NatGatewayId")]},
            delay_seconds=_POLL_SECONDS,
            max_attempts=_attempts(record.create_timeout_minutes),
        ),
        failure_hint=(
            f"AWS would not make the gateway again: the private IP {gateway.private_ip} may "
            f"have been given to another interface in {gateway.subnet_id}, or the subnet or "
            "the Elastic IP is gone."
        ),
    )


def _restore_route(
    gateway_id: str, route: NatRoute, index: int, new_id: dict[str, JsonValue]
) -> list[Step]:
    """ReplaceRoute where the deleted gateway's blackhole route is still there; CreateRoute
    where it is gone. Each step's lookup says when it has nothing (more) to do."""
    in_table = AwsCall(
        service="ec2",
        operation="DescribeRouteTables",
        params={"RouteTableIds": [route.route_table_id]},
    )
    to_old = (
        f"{table_routes(route.route_table_id)}[?{route.matches()} && "
        f"NatGatewayId == {json_literal(gateway_id)}]"
    )
    to_other = (
        f"{table_routes(route.route_table_id)}[?{route.matches()} && NatGatewayId != null "
        f"&& NatGatewayId != {json_literal(gateway_id)}]"
    )
    target = {**route.params, "NatGatewayId": new_id}
    return [
        steps.change(
            f"replace-route-{index}",
            f"Point the blackhole route {route.label()} at the new gateway (ReplaceRoute); "
            "nothing to do if the route is gone.",
            AwsCall(service="ec2", operation="ReplaceRoute", params=target),
            already_done=Lookup(call=in_table, found_when=f"length({to_old}) == `0`"),
        ),
        steps.change(
            f"create-route-{index}",
            f"Create the route {route.label()} to the new gateway where it is gone "
            "(CreateRoute); nothing to do if it was replaced.",
            AwsCall(service="ec2", operation="CreateRoute", params=target),
            already_done=Lookup(
                call=AwsCall(
                    service="ec2",
                    operation="DescribeRouteTables",
                    params={
                        "RouteTableIds": [route.route_table_id],
                        "Filters": [{"Name": "route.nat-gateway-id", "Values": [new_id]}],
                    },
                ),
                found_when=f"length({to_other}) > `0`",
            ),
            failure_hint=(
                f"someone created another route for {route.destination} in "
                f"{route.route_table_id} meanwhile; reclaim does not overwrite it."
            ),
        ),
    ]


def _route_tables(ec2: Any, gateway_ids: list[str]) -> list[dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    paginator = ec2.get_paginator("describe_route_tables")
    for start in range(0, len(gateway_ids), _ROUTE_FILTER_BATCH):
        batch = gateway_ids[start : start + _ROUTE_FILTER_BATCH]
        for page in paginator.paginate(Filters=[{"Name": "route.nat-gateway-id", "Values": batch}]):
            for table in page.get("RouteTables", []):
                tables[table["RouteTableId"]] = table
    return list(tables.values())


def _plan_notes(record: IdleNatGateway) -> tuple[str, ...]:
    gateway = record.gateway
    notes = []
    if record.routes:
        notes.append(
            f"Traffic the route(s) {_labels(record.routes)} send to the gateway is dropped "
            "from the deletion on (AWS keeps them as blackholes): instances in those subnets "
            "lose outbound access. It carried nothing for the whole window."
        )
    if gateway.allocation_id:
        notes.append(
            f"The Elastic IP {gateway.public_ip} ({gateway.allocation_id}) stays allocated, "
            "and billed as a public IPv4 address, so that the rollback can use it: do not "
            "release it while you may want the gateway back (eip-unassociated reports it as "
            "unassociated; give it the skip tag to keep it)."
        )
    notes.append(
        "Recovery is best-effort: the rollback makes a gateway with a new ID, asking for "
        f"the same private IP {gateway.private_ip}, which fails if another interface in "
        f"{gateway.subnet_id} was given it meanwhile."
    )
    return tuple(notes)
