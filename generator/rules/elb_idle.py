"""elb-idle: Application and Network Load Balancers that serve nobody. Opt-in: reported
only until ``remediate: true`` is set for the rule (its undo gives a new DNS name).

Idle: no healthy registered target and no listener action that answers by itself (a
fixed response, a redirect), or no request (ALB ``RequestCount``) / no flow (NLB
``ActiveFlowCount``) on any day of the window. Elastic Load Balancing publishes these
metrics only while traffic flows, so a load balancer older than the window with no
datapoint served nothing. Left alone: deletion protection on, a Route 53 alias naming it,
or Route 53 unreadable (then whether an alias names it is unknown).

Change: record the load balancer, its attributes, tags, listeners (protocol, port, SSL
policy, certificates, default actions) and rules; DeleteLoadBalancer (its target groups are
kept). Undo: CreateLoadBalancer with the same name, type, scheme, subnets, security groups,
IP address type and tags, its attributes, listeners, certificates and rules. Best-effort:
the DNS name changes, so whatever named the old one must be updated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from generator.aws.metrics import MetricQuery, MetricWindow, fetch_metrics
from generator.aws.tags import restorable_tags, tag_list
from generator.findings import Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import (
    HOSTED_ZONE,
    ActionScope,
    Condition,
    Grant,
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
    OptInRemediation,
    Rule,
    RuleCalls,
    RuleDocs,
)
from generator.rules.context import ScanContext
from generator.rules.load_balancer import (
    ListenerSpec,
    LoadBalancerSpec,
    alias_name,
    answers_without_targets,
    parse_listener,
    parse_load_balancer,
    tags_by_arn,
    target_groups,
    unsupported,
    unsupported_listener,
)

DAY_SECONDS = 86400
_TAGS_PER_CALL = 20
_POLL_SECONDS = 15
DELETION_PROTECTION = "deletion_protection.enabled"
CLOUDFORMATION_STACK_TAG = "aws:cloudformation:stack-name"
LOAD_BALANCER = "arn:{partition}:elasticloadbalancing:{region}:{account}:loadbalancer/*"
LISTENER = "arn:{partition}:elasticloadbalancing:{region}:{account}:listener/*"
LISTENER_RULE = "arn:{partition}:elasticloadbalancing:{region}:{account}:listener-rule/*"
TRAFFIC = {
    "application": ("AWS/ApplicationELB", "RequestCount", "Sum"),
    "network": ("AWS/NetworkELB", "ActiveFlowCount", "Maximum"),
}


class ElbIdleSettings(OptInRemediation):
    lookback_days: int = Field(default=14, ge=2, le=63, description="Days of metrics judged.")
    skip_cloudformation_managed: bool = Field(
        default=True,
        description="Leave load balancers created by a CloudFormation stack to the stack.",
    )
    timeout_minutes: int = Field(
        default=15,
        ge=1,
        le=60,
        description="How long apply waits for the deletion, and rollback for the new one.",
    )


class IdleLoadBalancer(BaseModel):
    """What the finding records: the load balancer, its listeners and rules, the target
    groups they forward to (kept), and the skip tag."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    load_balancer: LoadBalancerSpec
    listeners: tuple[ListenerSpec, ...]
    target_groups: tuple[str, ...]
    skip_tag: str
    timeout_minutes: int


class _Candidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    load_balancer: LoadBalancerSpec
    listeners: tuple[ListenerSpec, ...]
    healthy_targets: int
    why_idle: str = ""


class ElbIdle(Rule[ElbIdleSettings, IdleLoadBalancer]):
    name: ClassVar[str] = "elb-idle"
    summary: ClassVar[str] = "Application and Network Load Balancers serving nobody"
    resource_type: ClassVar[str] = "AWS::ElasticLoadBalancingV2::LoadBalancer"
    reversibility: ClassVar[Reversibility] = "best-effort"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "ALBs/NLBs with no healthy registered target (and no fixed-response or redirect "
            "action), or no `RequestCount` (ALB) / `ActiveFlowCount` (NLB) on any day of "
            "`lookback_days` (14); left alone with deletion protection on, a Route 53 alias "
            "naming them, or Route 53 unreadable. **Opt-in: report-only until `remediate: "
            "true`**"
        ),
        change=(
            "record the load balancer, attributes, tags, listeners (SSL policy, certificates, "
            "default actions) and rules, then DeleteLoadBalancer (target groups are kept)"
        ),
        undo=(
            "CreateLoadBalancer with the same name, type, scheme, subnets, security groups and "
            "tags, then its attributes, listeners, certificates and rules; **the DNS name "
            "changes**"
        ),
    )
    settings_model = ElbIdleSettings
    record_model = IdleLoadBalancer
    bill_footprint: ClassVar[BillFootprint | None] = BillFootprint(
        own=r"LoadBalancerUsage|LCUUsage"
    )
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {
                ("elbv2", "DescribeLoadBalancers"),
                ("elbv2", "DescribeLoadBalancerAttributes"),
                ("elbv2", "DescribeTags"),
                ("elbv2", "DescribeTargetGroups"),
                ("elbv2", "DescribeTargetHealth"),
                ("elbv2", "DescribeListeners"),
                ("elbv2", "DescribeRules"),
                ("elbv2", "DescribeListenerCertificates"),
                ("cloudwatch", "GetMetricData"),
                ("route53", "ListHostedZones"),
                ("route53", "ListResourceRecordSets"),
            }
        ),
        apply=frozenset(
            {
                ("elbv2", "DescribeLoadBalancers"),
                ("elbv2", "DescribeLoadBalancerAttributes"),
                ("elbv2", "DescribeTags"),
                ("elbv2", "DescribeListeners"),
                ("elbv2", "DescribeTargetGroups"),
                ("elbv2", "DeleteLoadBalancer"),
            }
        ),
        rollback=frozenset(
            {
                ("elbv2", "DescribeLoadBalancers"),
                ("elbv2", "DescribeLoadBalancerAttributes"),
                ("elbv2", "DescribeTags"),
                ("elbv2", "DescribeListeners"),
                ("elbv2", "DescribeListenerCertificates"),
                ("elbv2", "DescribeRules"),
                ("elbv2", "DescribeTargetGroups"),
                ("elbv2", "CreateLoadBalancer"),
                ("elbv2", "ModifyLoadBalancerAttributes"),
                ("elbv2", "CreateListener"),
                ("elbv2", "AddListenerCertificates"),
                ("elbv2", "CreateRule"),
            }
        ),
        scopes={
            "route53:ListResourceRecordSets": only(
                HOSTED_ZONE, why="hosted zones' records only, to find aliases naming it"
            ),
            "elasticloadbalancing:DeleteLoadBalancer": never_skipped(
                LOAD_BALANCER, "never a load balancer carrying the skip tag"
            ),
            "elasticloadbalancing:CreateLoadBalancer": ActionScope(
                grants=(Grant((LOAD_BALANCER,), why="the load balancer again"),),
                implied=(
                    (
                        ("elasticloadbalancing:AddTags",),
                        Grant(
                            (LOAD_BALANCER,),
                            (
                                Condition(
                                    "StringEquals",
                                    "elasticloadbalancing:CreateAction",
                                    ("CreateLoadBalancer",),
                                ),
                            ),
                            "tags only while creating a load balancer",
                        ),
                    ),
                ),
            ),
            "elasticloadbalancing:ModifyLoadBalancerAttributes": only(
                LOAD_BALANCER, why="the recreated load balancer's attributes"
            ),
            "elasticloadbalancing:CreateListener": only(
                LOAD_BALANCER, LISTENER, why="listeners of load balancers only"
            ),
            "elasticloadbalancing:AddListenerCertificates": only(
                LISTENER, why="certificates of listeners only"
            ),
            "elasticloadbalancing:CreateRule": only(
                LISTENER, LISTENER_RULE, why="rules of listeners only"
            ),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: ElbIdleSettings
    ) -> Iterator[Finding | SkippedResource]:
        elbv2 = ctx.client("elbv2")
        pages = elbv2.get_paginator("describe_load_balancers").paginate()
        items = [item for page in pages for item in page.get("LoadBalancers", [])]
        yield from self.evaluate(ctx, settings, items, elbv2)

    def evaluate(
        self, ctx: ScanContext, settings: ElbIdleSettings, items: list[dict[str, Any]], elbv2: Any
    ) -> Iterator[Finding | SkippedResource]:
        """DescribeLoadBalancers items → findings, asking ``elbv2`` (and CloudWatch, Route
        53) only about the load balancers still in question."""
        kept: list[dict[str, Any]] = []
        for item in items:
            if (item.get("State") or {}).get("Code") != "active":
                continue
            reason = unsupported(item)
            if reason is not None:
                yield self.skipped(ctx, item["LoadBalancerArn"], reason)
            else:
                kept.append(item)
        if not kept:
            return
        tags = _tags(elbv2, [item["LoadBalancerArn"] for item in kept])
        listed: list[tuple[dict[str, Any], LoadBalancerSpec]] = []
        for item in kept:
            spec = parse_load_balancer(item, tags.get(item["LoadBalancerArn"], {}), [])
            reason = self._skip_reason(ctx, settings, spec)
            if reason is not None:
                yield self.skipped(ctx, spec.arn, reason)
            else:
                listed.append((item, spec))
        # Traffic first, in batches; the one-load-balancer-at-a-time reads (attributes,
        # listeners and their rules, target health) only for those without traffic, which
        # the finding records: a busy load balancer costs no call of its own.
        traffic = self._traffic(ctx, settings, [spec for _, spec in listed])
        idle: list[_Candidate] = []
        for item, listed_spec in listed:
            arn = listed_spec.arn
            peak = traffic.get(arn)
            if peak:
                _, metric, _ = TRAFFIC[listed_spec.type]
                yield self.skipped(ctx, arn, f"not idle: {metric} reached {peak:,.0f} on a day")
                continue
            attributes = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)
            spec = parse_load_balancer(item, listed_spec.tags, attributes.get("Attributes", []))
            if spec.attributes.get(DELETION_PROTECTION) == "true":
                yield self.skipped(ctx, arn, "deletion protection is on")
                continue
            try:
                listeners = _listeners(elbv2, spec.arn)
            except _Unsupported as error:
                yield self.skipped(ctx, spec.arn, str(error))
                continue
            healthy = _healthy_targets(elbv2, spec.arn)
            candidate = _Candidate(load_balancer=spec, listeners=listeners, healthy_targets=healthy)
            reason, why = self._judge(ctx, settings, candidate, peak)
            if reason is not None:
                yield self.skipped(ctx, spec.arn, reason)
            else:
                idle.append(candidate.model_copy(update={"why_idle": why}))
        if not idle:
            return
        aliased, refused = _route53_aliases(ctx)
        for candidate in idle:
            spec = candidate.load_balancer
            if refused is not None:
                yield self.skipped(
                    ctx,
                    spec.arn,
                    f"unknown whether a Route 53 alias names it: {refused}; left alone",
                )
            elif alias_name(spec.dns_name) in aliased:
                yield self.skipped(
                    ctx,
                    spec.arn,
                    f"a Route 53 alias names it ({aliased[alias_name(spec.dns_name)]}): "
                    "delete or repoint the record first",
                )
            else:
                yield self._finding(ctx, settings, candidate)

    def _skip_reason(
        self, ctx: ScanContext, settings: ElbIdleSettings, spec: LoadBalancerSpec
    ) -> str | None:
        stack = spec.tags.get(CLOUDFORMATION_STACK_TAG)
        if stack and settings.skip_cloudformation_managed:
            return f"belongs to CloudFormation stack {stack!r}: remove it from the stack instead"
        created = datetime.fromisoformat(spec.created) if spec.created else None
        if created is None or ctx.as_of - created < timedelta(days=settings.lookback_days):
            return (
                f"created less than lookback_days={settings.lookback_days} days ago: too new "
                "to judge"
            )
        return ctx.exclusions.reason_to_skip(spec.arn, spec.tags)

    def _traffic(
        self, ctx: ScanContext, settings: ElbIdleSettings, specs: list[LoadBalancerSpec]
    ) -> dict[str, float]:
        """The busiest day's requests (ALB) or flows (NLB) per load balancer; absent means
        no datapoint in the window (ELB publishes only while traffic flows)."""
        if not specs:
            return {}
        window = MetricWindow.days_before(ctx.as_of, settings.lookback_days, DAY_SECONDS)
        queries = []
        for spec in specs:
            namespace, metric, stat = TRAFFIC[spec.type]
            dimensions = (("LoadBalancer", spec.metric_dimension),)
            queries.append(MetricQuery(spec.arn, namespace, metric, dimensions, stat))
        series = fetch_metrics(ctx.client("cloudwatch"), window, queries)
        return {arn: peak for arn, s in series.items() if (peak := s.maximum()) is not None}

    def _judge(
        self,
        ctx: ScanContext,
        settings: ElbIdleSettings,
        candidate: _Candidate,
        peak: float | None,
    ) -> tuple[str | None, str]:
        spec = candidate.load_balancer
        _, metric, _ = TRAFFIC[spec.type]
        if peak:
            return f"not idle: {metric} reached {peak:,.0f} on a day", ""
        days = settings.lookback_days
        if candidate.healthy_targets == 0 and not answers_without_targets(candidate.listeners):
            return None, f"no healthy registered target, and no {metric} for {days} days"
        return None, f"no {metric} on any of the last {days} days"

    def _finding(
        self, ctx: ScanContext, settings: ElbIdleSettings, candidate: _Candidate
    ) -> Finding:
        spec = candidate.load_balancer
        listeners = candidate.listeners
        groups = target_groups(listeners)
        record = IdleLoadBalancer(
            load_balancer=spec,
            listeners=listeners,
            target_groups=groups,
            skip_tag=ctx.exclusions.skip_tag,
            timeout_minutes=settings.timeout_minutes,
        )
        _, metric, stat = TRAFFIC[spec.type]
        evidence = [
            Evidence(
                label=f"{metric} ({stat.lower()}, daily)",
                value=f"no datapoint or 0 on each of the last {settings.lookback_days} days",
                source=f"CloudWatch GetMetricData, {TRAFFIC[spec.type][0]}",
            ),
            Evidence(
                label="Healthy targets",
                value=str(candidate.healthy_targets),
                source="DescribeTargetHealth",
            ),
            Evidence(
                label="Listeners",
                value=", ".join(f"{lst.protocol}:{lst.port}" for lst in listeners) or "none",
                source="DescribeListeners",
            ),
            Evidence(label="Route 53 aliases", value="none", source="ListResourceRecordSets"),
        ]
        reasons = [candidate.why_idle, f"its DNS name {spec.dns_name} changes if it is restored"]
        return self.new_finding(
            ctx,
            title=f"Delete idle {spec.label()}",
            cost=ctx.prices.load_balancer_cost(region=ctx.region, kind=spec.type),
            risk="medium",
            risk_reasons=reasons,
            evidence=evidence,
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: IdleLoadBalancer) -> str:
        return record.load_balancer.arn

    def id_part(self, resource_id: str) -> str:
        # loadbalancer/app/<name>/<id>: the name and ID, without the ARN's '/' and ':'.
        _, _, rest = resource_id.partition(":loadbalancer/")
        return rest.replace("/", "-") or resource_id

    def tags_of(self, record: IdleLoadBalancer) -> Mapping[str, str]:
        return record.load_balancer.tags

    def plan(self, finding: Finding, record: IdleLoadBalancer) -> ManifestBody:
        spec = record.load_balancer
        by_arn = _describe({"LoadBalancerArns": [spec.arn]})
        delete = AwsCall(
            service="elbv2", operation="DeleteLoadBalancer", params={"LoadBalancerArn": spec.arn}
        )
        plan_steps: list[Step] = [
            steps.precheck(
                "precheck",
                f"Read {spec.name} and confirm it is still active, of the recorded type, "
                "scheme, subnets and security groups.",
                by_arn,
                Expectation(path="LoadBalancers[0].State.Code", equals="active", what="state"),
                *_identity(spec, "LoadBalancers[0]"),
            ),
            steps.precheck(
                "precheck-attributes",
                "Confirm deletion protection is off and the attributes are the recorded ones.",
                _attributes(spec.arn),
                Expectation(
                    path=f"Attributes[?Key == '{DELETION_PROTECTION}'] | [0].Value",
                    equals="false",
                    what="deletion protection off",
                ),
                _attributes_are(spec),
                failure_hint="someone turned deletion protection on or changed an attribute: "
                "close this PR",
            ),
            steps.precheck(
                "precheck-tags",
                f"Confirm {spec.name} does not carry the skip tag {record.skip_tag!r} and "
                "has the recorded tags.",
                _tags_call(spec.arn),
                steps.skip_tag_absent(record.skip_tag, tags_at="TagDescriptions[0].Tags"),
                steps.tags_unchanged("TagDescriptions[0].Tags", spec.tags),
            ),
            steps.precheck(
                "precheck-listeners",
                "Confirm its listeners are the recorded ones: "
                + (", ".join(f"{lst.protocol}:{lst.port}" for lst in record.listeners) or "none")
                + ".",
                _listeners_call(spec.arn),
                Expectation(
                    path="sort_by(Listeners, &Port)[].[Protocol, Port]",
                    equals=[[lst.protocol, lst.port] for lst in record.listeners],
                    what="listeners",
                ),
            ),
            steps.record(
                "record",
                "Record the listeners (ARN, protocol, port) and the attributes in the journal, "
                "next to the finding's record the rollback is built from.",
                _listeners_call(spec.arn),
                outputs={"Listeners": "Listeners[].{ListenerArn: ListenerArn, Port: Port}"},
            ),
            steps.change(
                "delete",
                f"Delete {spec.name} and wait until it is gone; its target groups are kept.",
                delete,
                destroys_data=True,
                already_done=Lookup(call=by_arn, found_on_error="LoadBalancerNotFound"),
                wait=WaitFor(
                    waiter="load_balancers_deleted",
                    params={"LoadBalancerArns": [spec.arn]},
                    delay_seconds=_POLL_SECONDS,
                    max_attempts=_attempts(record.timeout_minutes),
                ),
            ),
            steps.verify(
                "verify",
                f"Confirm {spec.name} no longer exists.",
                by_arn,
                expect_error="LoadBalancerNotFound",
            ),
        ]
        if record.target_groups:
            plan_steps.append(_groups_kept("verify-target-groups", record, steps.verify))
        return ManifestBody(steps=tuple(plan_steps), notes=_plan_notes(record))

    def rollback(self, finding: Finding, record: IdleLoadBalancer) -> ManifestBody:
        spec = record.load_balancer
        new_arn = ref("steps.create.LoadBalancerArn")
        rollback_steps: list[Step] = [
            steps.precheck(
                "precheck",
                f"Confirm no load balancer is named {spec.name} (the deleted one is gone, and "
                "nobody took the name).",
                _describe({"Names": [spec.name]}),
                expect_error="LoadBalancerNotFound",
                failure_hint=f"a load balancer named {spec.name} exists: someone made one "
                "meanwhile; reclaim does not take it over",
            )
        ]
        if record.target_groups:
            rollback_steps.append(_groups_kept("precheck-target-groups", record, steps.precheck))
        rollback_steps.append(_create(record))
        rollback_steps.append(_set_attributes(spec, new_arn))
        for index, listener in enumerate(record.listeners, start=1):
            rollback_steps += _restore_listener(listener, index, new_arn)
        rollback_steps += _verify_restored(record, new_arn)
        return ManifestBody(
            steps=tuple(rollback_steps),
            notes=(
                f"The load balancer comes back with a new ARN and a new DNS name; "
                f"{spec.dns_name} is not reused. Update every CNAME, client and configuration "
                "that named it.",
            ),
        )


# ---- detection helpers --------------------------------------------------------------------


def _tags(elbv2: Any, arns: list[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), _TAGS_PER_CALL):
        answer = elbv2.describe_tags(ResourceArns=arns[start : start + _TAGS_PER_CALL])
        found.update(tags_by_arn(answer.get("TagDescriptions", [])))
    return found


class _Unsupported(Exception):
    """A listener reclaim cannot record so that CreateListener makes it again."""


def _listeners(elbv2: Any, arn: str) -> tuple[ListenerSpec, ...]:
    listeners = []
    pages = elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=arn)
    for item in (listener for page in pages for listener in page.get("Listeners", [])):
        reason = unsupported_listener(item)
        if reason is not None:
            raise _Unsupported(reason)
        listener_arn = item["ListenerArn"]
        rules = elbv2.get_paginator("describe_rules").paginate(ListenerArn=listener_arn)
        certificates: list[dict[str, Any]] = []
        if item.get("Protocol") in ("HTTPS", "TLS"):
            pages_of = elbv2.get_paginator("describe_listener_certificates")
            for page in pages_of.paginate(ListenerArn=listener_arn):
                certificates += page.get("Certificates", [])
        listeners.append(
            parse_listener(item, [r for page in rules for r in page.get("Rules", [])], certificates)
        )
    return tuple(sorted(listeners, key=lambda lst: lst.port))


def _healthy_targets(elbv2: Any, arn: str) -> int:
    healthy = 0
    pages = elbv2.get_paginator("describe_target_groups").paginate(LoadBalancerArn=arn)
    for group in (g for page in pages for g in page.get("TargetGroups", [])):
        answer = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
        healthy += sum(
            1
            for target in answer.get("TargetHealthDescriptions", [])
            if (target.get("TargetHealth") or {}).get("State") == "healthy"
        )
    return healthy


def _route53_aliases(ctx: ScanContext) -> tuple[dict[str, str], str | None]:
    """Alias target name → the record naming it, over every hosted zone; or, when Route 53
    cannot be read, the reason (then nothing is known, and nothing may be deleted)."""
    aliased: dict[str, str] = {}
    try:
        route53 = ctx.client("route53")
        zones = route53.get_paginator("list_hosted_zones").paginate()
        for zone in (z for page in zones for z in page.get("HostedZones", [])):
            records = route53.get_paginator("list_resource_record_sets").paginate(
                HostedZoneId=zone["Id"]
            )
            for item in (r for page in records for r in page.get("ResourceRecordSets", [])):
                target = (item.get("AliasTarget") or {}).get("DNSName")
                if target:
                    aliased.setdefault(alias_name(target), f"{item['Name']} {item['Type']}")
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        why = f"Route 53 refused listing its records ({code})"
        ctx.warn(f"elb-idle: {why}; every idle load balancer is left alone")
        return {}, why
    except BotoCoreError as error:
        why = f"Route 53 could not be read ({error})"
        ctx.warn(f"elb-idle: {why}; every idle load balancer is left alone")
        return {}, why
    return aliased, None


# ---- manifest helpers ---------------------------------------------------------------------


def _attempts(minutes: int) -> int:
    return max(1, minutes * 60 // _POLL_SECONDS)


def _describe(params: dict[str, JsonValue]) -> AwsCall:
    return AwsCall(service="elbv2", operation="DescribeLoadBalancers", params=params)


def _attributes(arn: JsonValue) -> AwsCall:
    return AwsCall(
        service="elbv2", operation="DescribeLoadBalancerAttributes", params={"LoadBalancerArn": arn}
    )


def _tags_call(arn: JsonValue) -> AwsCall:
    return AwsCall(service="elbv2", operation="DescribeTags", params={"ResourceArns": [arn]})


def _listeners_call(arn: JsonValue) -> AwsCall:
    return AwsCall(service="elbv2", operation="DescribeListeners", params={"LoadBalancerArn": arn})


def _attribute_list(spec: LoadBalancerSpec) -> list[JsonValue]:
    return [{"Key": k, "Value": v} for k, v in sorted(spec.attributes.items())]


def _attributes_are(spec: LoadBalancerSpec) -> Expectation:
    return Expectation(
        path="sort_by(Attributes, &Key)", equals=_attribute_list(spec), what="attributes"
    )


def _identity(spec: LoadBalancerSpec, root: str) -> list[Expectation]:
    return [
        Expectation(path=f"{root}.LoadBalancerName", equals=spec.name, what="name"),
        Expectation(path=f"{root}.Type", equals=spec.type, what="type"),
        Expectation(path=f"{root}.Scheme", equals=spec.scheme, what="scheme"),
        Expectation(
            path=f"{root}.IpAddressType || 'ipv4'", equals=spec.ip_address_type, what="IP type"
        ),
        Expectation(
            path=f"sort({root}.AvailabilityZones[].SubnetId)",
            equals=list[JsonValue](spec.subnets),
            what="subnets",
        ),
        Expectation(
            path=f"sort({root}.SecurityGroups || `[]`)",
            equals=list[JsonValue](spec.security_groups),
            what="security groups",
        ),
    ]


def _groups_kept(step_id: str, record: IdleLoadBalancer, make: Any) -> Step:
    groups: list[JsonValue] = list(record.target_groups)
    return make(  # type: ignore[no-any-return]
        step_id,
        "Confirm the target groups its listeners forward to still exist.",
        AwsCall(
            service="elbv2",
            operation="DescribeTargetGroups",
            params={"TargetGroupArns": groups},
        ),
        Expectation(
            path="sort(TargetGroups[].TargetGroupArn)", equals=groups, what="target groups"
        ),
    )


def _create(record: IdleLoadBalancer) -> Step:
    spec = record.load_balancer
    params: dict[str, JsonValue] = {
        "Name": spec.name,
        "Type": spec.type,
        "Scheme": spec.scheme,
        "IpAddressType": spec.ip_address_type,
        "Subnets": list[JsonValue](spec.subnets),
    }
    if spec.security_groups:
        params["SecurityGroups"] = list[JsonValue](spec.security_groups)
    tags = restorable_tags(spec.tags)
    if tags:
        params["Tags"] = tag_list(tags)
    mine = f"LoadBalancers[?LoadBalancerName == {json_literal(spec.name)}]"
    return steps.change(
        "create",
        f"Create the {spec.type} load balancer {spec.name} again ({spec.scheme}, in "
        f"{', '.join(spec.subnets)}) with its tags; wait until it is active.",
        AwsCall(service="elbv2", operation="CreateLoadBalancer", params=params),
        outputs={"LoadBalancerArn": "LoadBalancers[0].LoadBalancerArn"},
        already_done=Lookup(
            # CreateLoadBalancer is idempotent for the same settings, so a load balancer
            # beyond this first page is found by the call itself.
            call=_describe({"PageSize": 400}),
            found_when=f"length({mine}) > `0`",
            outputs={"LoadBalancerArn": f"{mine} | [0].LoadBalancerArn"},
            created_at=f"{mine} | [0].CreatedTime",
        ),
        wait=WaitFor(
            waiter="load_balancer_available",
            params={"LoadBalancerArns": [ref("steps.create.LoadBalancerArn")]},
            delay_seconds=_POLL_SECONDS,
            max_attempts=_attempts(record.timeout_minutes),
        ),
        failure_hint="AWS would not make the load balancer again: a subnet or security "
        "group may be gone, or the account is at its load balancer quota.",
    )


def _set_attributes(spec: LoadBalancerSpec, new_arn: dict[str, JsonValue]) -> Step:
    return steps.change(
        "attributes",
        "Set the recorded attributes (deletion protection, idle timeout, access logs, ...).",
        AwsCall(
            service="elbv2",
            operation="ModifyLoadBalancerAttributes",
            params={"LoadBalancerArn": new_arn, "Attributes": _attribute_list(spec)},
        ),
        already_done=Lookup(
            call=_attributes(new_arn),
            found_when=f"sort_by(Attributes, &Key) == {json_literal(_attribute_list(spec))}",
        ),
    )


def _restore_listener(
    listener: ListenerSpec, index: int, new_arn: dict[str, JsonValue]
) -> list[Step]:
    step_id = f"listener-{index}"
    listener_arn = ref(f"steps.{step_id}.ListenerArn")
    on_port = f"Listeners[?Port == `{listener.port}`]"
    made = [
        steps.change(
            step_id,
            f"Create the {listener.protocol}:{listener.port} listener with its default actions"
            + (f", SSL policy {listener.ssl_policy}" if listener.ssl_policy else "")
            + (" and default certificate" if listener.default_certificate else "")
            + ".",
            AwsCall(
                service="elbv2",
                operation="CreateListener",
                params={"LoadBalancerArn": new_arn, **listener.create_params()},
            ),
            outputs={"ListenerArn": "Listeners[0].ListenerArn"},
            already_done=Lookup(
                call=_listeners_call(new_arn),
                found_when=f"length({on_port}) > `0`",
                outputs={"ListenerArn": f"{on_port} | [0].ListenerArn"},
            ),
            failure_hint="a certificate or target group the listener names may be gone",
        )
    ]
    if listener.extra_certificates:
        certificates: list[JsonValue] = list(listener.extra_certificates)
        made.append(
            steps.change(
                f"certificates-{index}",
                f"Add the {len(certificates)} further certificate(s) of listener {listener.port}.",
                AwsCall(
                    service="elbv2",
                    operation="AddListenerCertificates",
                    params={
                        "ListenerArn": listener_arn,
                        "Certificates": [{"CertificateArn": c} for c in certificates],
                    },
                ),
                already_done=Lookup(
                    call=AwsCall(
                        service="elbv2",
                        operation="DescribeListenerCertificates",
                        params={"ListenerArn": listener_arn},
                    ),
                    found_when=f"length(Certificates[?contains({json_literal(certificates)}, "
                    f"CertificateArn)]) == `{len(certificates)}`",
                ),
            )
        )
    for rule in listener.rules:
        made.append(
            steps.change(
                f"rule-{index}-{rule.priority}",
                f"Create rule {rule.priority} of listener {listener.port}.",
                AwsCall(
                    service="elbv2",
                    operation="CreateRule",
                    params={
                        "ListenerArn": listener_arn,
                        "Priority": rule.priority,
                        "Conditions": list(rule.conditions),
                        "Actions": list(rule.actions),
                    },
                ),
                already_done=Lookup(
                    call=_rules_call(listener_arn),
                    found_when=f"length(Rules[?Priority == '{rule.priority}']) > `0`",
                ),
            )
        )
    return made


def _rules_call(listener_arn: JsonValue) -> AwsCall:
    return AwsCall(service="elbv2", operation="DescribeRules", params={"ListenerArn": listener_arn})


def _verify_restored(record: IdleLoadBalancer, new_arn: dict[str, JsonValue]) -> list[Step]:
    spec = record.load_balancer
    checks = [
        steps.verify(
            "verify",
            f"Confirm {spec.name} is active with the recorded type, scheme, subnets and "
            "security groups.",
            _describe({"LoadBalancerArns": [new_arn]}),
            Expectation(path="LoadBalancers[0].State.Code", equals="active", what="state"),
            *_identity(spec, "LoadBalancers[0]"),
        ),
        steps.verify(
            "verify-attributes",
            "Confirm the attributes are the recorded ones.",
            _attributes(new_arn),
            _attributes_are(spec),
        ),
        steps.verify(
            "verify-tags",
            "Confirm the tags are the recorded ones.",
            _tags_call(new_arn),
            steps.tags_unchanged("TagDescriptions[0].Tags", spec.tags),
        ),
        steps.verify(
            "verify-listeners",
            "Confirm the listeners' protocols, ports, SSL policies and default certificates.",
            _listeners_call(new_arn),
            Expectation(
                path="sort_by(Listeners, &Port)[].[Protocol, Port]",
                equals=[[lst.protocol, lst.port] for lst in record.listeners],
                what="listeners",
            ),
            *(
                Expectation(
                    path=f"Listeners[?Port == `{lst.port}`] | [0].Certificates[0].CertificateArn",
                    equals=lst.default_certificate,
                    what=f"default certificate of listener {lst.port}",
                )
                for lst in record.listeners
                if lst.default_certificate
            ),
            *(
                Expectation(
                    path=f"Listeners[?Port == `{lst.port}`] | [0].SslPolicy",
                    equals=lst.ssl_policy,
                    what=f"SSL policy of listener {lst.port}",
                )
                for lst in record.listeners
                if lst.ssl_policy
            ),
        ),
    ]
    for index, listener in enumerate(record.listeners, start=1):
        if not listener.rules:
            continue
        checks.append(
            steps.verify(
                f"verify-rules-{index}",
                f"Confirm the rules of listener {listener.port}.",
                _rules_call(ref(f"steps.listener-{index}.ListenerArn")),
                Expectation(
                    path="sort(Rules[?Priority != 'default'].Priority)",
                    equals=sorted(str(rule.priority) for rule in listener.rules),
                    what="rule priorities",
                ),
            )
        )
    return checks


def _plan_notes(record: IdleLoadBalancer) -> tuple[str, ...]:
    spec = record.load_balancer
    notes = [
        f"Its DNS name {spec.dns_name} stops resolving. The rollback makes a load balancer "
        "with the same name and settings but a new DNS name: every CNAME, client and "
        "configuration that names the old one has to be updated then.",
        "Its target groups are kept (and their targets stay registered); they cost nothing "
        "without a load balancer.",
        "Recovery is best-effort: a certificate, subnet, security group or target group "
        "deleted meanwhile stops the rollback.",
    ]
    return tuple(notes)
