"""sagemaker-endpoint-idle: real-time endpoints nobody invoked for two weeks. Delete them.

Idle means: the endpoint is InService, was last modified before the window began, and
CloudWatch counts zero ``Invocations`` (daily Sum, dimensions EndpointName + VariantName) on
every production variant over ``lookback_days``. SageMaker bills a real-time endpoint by the
instance-hour whether or not anything calls it; the saving is its variants' instance type x
count x 730 hours.

The change is DeleteEndpoint: the endpoint configuration and the models are kept, so the undo
is CreateEndpoint with the same name and configuration (same name, same ARN, same invocation
URL), waiting until it is InService. SageMaker endpoint configurations cannot be modified,
only deleted and recreated, so the plan and the rollback both check that the configuration
still exists with the recorded variants and that every model it names still exists: without
them the undo would be impossible, and reclaim refuses to delete. Endpoints an undo could not
recreate as they were are left alone: serverless or asynchronous ones, inference-component
endpoints (variants without a model), shadow variants, variants scaled away from the
configuration's count, and variants registered with Application Auto Scaling.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from generator.aws.metrics import MetricQuery, MetricWindow, fetch_metrics
from generator.aws.tags import restorable_tags, tag_list, tags_from_api
from generator.findings import Cost, Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import NOT_SKIPPED, ActionScope, Grant, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup, Step, WaitFor
from generator.manifest.paths import json_literal
from generator.rules.base import (
    BillFootprint,
    ManifestBody,
    Rule,
    RuleCalls,
    RuleDocs,
    RuleSettings,
)
from generator.rules.context import ScanContext

DAY_SECONDS = 86400
CREATE_POLL_SECONDS = 30
DELETE_POLL_SECONDS = 15

ENDPOINT = "arn:{partition}:sagemaker:{region}:{account}:endpoint/*"
ENDPOINT_CONFIG = "arn:{partition}:sagemaker:{region}:{account}:endpoint-config/*"
MODEL = "arn:{partition}:sagemaker:{region}:{account}:model/*"


class SageMakerEndpointIdleSettings(RuleSettings):
    lookback_days: int = Field(
        default=14,
        ge=1,
        le=63,
        description="Days with zero Invocations on every variant needed to call an endpoint idle.",
    )
    delete_timeout_minutes: int = Field(
        default=15, ge=1, description="How long apply waits for the endpoint to be deleted."
    )
    create_timeout_minutes: int = Field(
        default=60,
        ge=5,
        description="How long rollback waits for the recreated endpoint to be InService.",
    )


class Variant(BaseModel):
    """One production variant, as the endpoint configuration defines it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variant_name: str
    model_name: str
    instance_type: str
    instance_count: int = Field(ge=1)

    def as_api(self) -> dict[str, Any]:
        """The fields the plan compares against DescribeEndpointConfig's ProductionVariants."""
        return {
            "VariantName": self.variant_name,
            "ModelName": self.model_name,
            "InstanceType": self.instance_type,
            "InitialInstanceCount": self.instance_count,
        }


class IdleEndpoint(BaseModel):
    """What the finding records: the endpoint, its configuration and models, its tags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_name: str
    endpoint_arn: str
    endpoint_config_name: str
    variants: tuple[Variant, ...] = Field(min_length=1)
    tags: dict[str, str]
    lookback_days: int
    skip_tag: str
    delete_timeout_minutes: int
    create_timeout_minutes: int

    @property
    def model_names(self) -> list[str]:
        return sorted({variant.model_name for variant in self.variants})


class NotRecreatable(Exception):
    """The endpoint is one an undo could not bring back as it was."""


def _not_judged(
    settings: SageMakerEndpointIdleSettings, endpoint: Mapping[str, Any], window_start: datetime
) -> str | None:
    """Why DescribeEndpoint's answer alone leaves the endpoint alone, or None."""
    status = endpoint.get("EndpointStatus")
    if status != "InService":
        return f"status is {status!r}, not InService"
    modified = endpoint.get("LastModifiedTime") or endpoint.get("CreationTime")
    if not isinstance(modified, datetime) or modified > window_start:
        return (
            f"unknown: created or updated within the last {settings.lookback_days} days "
            f"({modified:%Y-%m-%d})"
            if isinstance(modified, datetime)
            else "unknown: DescribeEndpoint gives no creation or modification time"
        )
    if not _variant_names(endpoint):
        return "unknown: DescribeEndpoint lists no production variant"
    return None


def _variant_names(endpoint: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        sorted(
            str(item["VariantName"])
            for item in endpoint.get("ProductionVariants") or []
            if item.get("VariantName")
        )
    )


def variants_of(endpoint: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[Variant, ...]:
    """The endpoint's production variants from its configuration, or NotRecreatable saying
    why CreateEndpoint with that configuration would not bring this endpoint back."""
    if config.get("AsyncInferenceConfig"):
        raise NotRecreatable("asynchronous inference endpoint: not a real-time endpoint")
    if config.get("ShadowProductionVariants") or endpoint.get("ShadowProductionVariants"):
        raise NotRecreatable("has shadow variants: not judged")
    current = {item.get("VariantName"): item for item in endpoint.get("ProductionVariants") or []}
    variants = []
    for item in config.get("ProductionVariants") or []:
        name = str(item.get("VariantName", ""))
        if item.get("ServerlessConfig"):
            raise NotRecreatable(f"variant {name} is serverless: billed per use, never idle")
        if not item.get("ModelName"):
            raise NotRecreatable(
                f"variant {name} serves inference components, not a model: not judged"
            )
        if not item.get("InstanceType") or not item.get("InitialInstanceCount"):
            raise NotRecreatable(f"variant {name} names no instance type and count")
        count = int(item["InitialInstanceCount"])
        running = (current.get(name) or {}).get("CurrentInstanceCount")
        if running is not None and int(running) != count:
            raise NotRecreatable(
                f"variant {name} runs {running} instance(s), its configuration {count}: "
                "recreating it would not restore the count"
            )
        variants.append(
            Variant(
                variant_name=name,
                model_name=str(item["ModelName"]),
                instance_type=str(item["InstanceType"]),
                instance_count=count,
            )
        )
    if not variants:
        raise NotRecreatable("its configuration has no production variants")
    return tuple(sorted(variants, key=lambda v: v.variant_name))


def endpoint_monthly_cost(ctx: ScanContext, variants: tuple[Variant, ...]) -> Cost:
    hours = ctx.prices.ec2.hours_per_month
    total, parts = 0.0, []
    for variant in variants:
        hourly = ctx.prices.sagemaker.hosting_hourly.get(variant.instance_type)
        if hourly is None:
            return ctx.prices.unknown(
                f"no bundled SageMaker hosting price for {variant.instance_type}; savings unknown"
            )
        total += hourly * variant.instance_count * hours
        parts.append(f"{variant.instance_count} x {variant.instance_type} ${hourly}/h")
    basis = f"{' + '.join(parts)} x {hours} h (real-time inference, On-Demand)"
    return ctx.prices.cost(total, ctx.region, basis)


def _invocations(endpoint: str, variant: str) -> MetricQuery:
    return MetricQuery(
        f"{endpoint}/{variant}",
        "AWS/SageMaker",
        "Invocations",
        (("EndpointName", endpoint), ("VariantName", variant)),
        "Sum",
    )


def _scaling_resource(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


class SageMakerEndpointIdle(Rule[SageMakerEndpointIdleSettings, IdleEndpoint]):
    name: ClassVar[str] = "sagemaker-endpoint-idle"
    summary: ClassVar[str] = "Real-time SageMaker endpoints with zero invocations for two weeks"
    resource_type: ClassVar[str] = "AWS::SageMaker::Endpoint"
    reversibility: ClassVar[Reversibility] = "full"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "InService real-time endpoints with zero `Invocations` on every variant over "
            "`lookback_days` (14), unmodified in that window; serverless, asynchronous, "
            "inference-component, shadow and auto-scaled endpoints are left alone"
        ),
        change=(
            "DeleteEndpoint after checking its configuration and models still exist (both are kept)"
        ),
        undo=(
            "CreateEndpoint with the same name, configuration and tags, wait InService (same "
            "ARN and URL); refused if the configuration or a model is gone"
        ),
    )
    settings_model = SageMakerEndpointIdleSettings
    record_model = IdleEndpoint
    bill_footprint: ClassVar[BillFootprint | None] = BillFootprint(own=r"Host:ml\.")
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {
                ("sagemaker", "ListEndpoints"),
                ("sagemaker", "DescribeEndpoint"),
                ("sagemaker", "DescribeEndpointConfig"),
                ("sagemaker", "DescribeModel"),
                ("sagemaker", "ListTags"),
                ("application-autoscaling", "DescribeScalableTargets"),
                ("cloudwatch", "GetMetricData"),
            }
        ),
        apply=frozenset(
            {
                ("sagemaker", "ListTags"),
                ("sagemaker", "DescribeEndpoint"),
                ("sagemaker", "DescribeEndpointConfig"),
                ("sagemaker", "DescribeModel"),
                ("sagemaker", "ListEndpoints"),
                ("application-autoscaling", "DescribeScalableTargets"),
                ("sagemaker", "DeleteEndpoint"),
            }
        ),
        rollback=frozenset(
            {
                ("sagemaker", "DescribeEndpointConfig"),
                ("sagemaker", "DescribeModel"),
                ("sagemaker", "ListEndpoints"),
                ("sagemaker", "DescribeEndpoint"),
                ("sagemaker", "ListTags"),
                ("sagemaker", "CreateEndpoint"),
            }
        ),
        scopes={
            "sagemaker:ListTags": only(ENDPOINT, why="endpoints' tags only"),
            "sagemaker:DeleteEndpoint": ActionScope(
                grants=(
                    Grant((ENDPOINT,), (NOT_SKIPPED,), "never an endpoint carrying the skip tag"),
                )
            ),
            "sagemaker:CreateEndpoint": ActionScope(
                grants=(
                    Grant(
                        (ENDPOINT, ENDPOINT_CONFIG),
                        (),
                        "to undo a deletion: an endpoint from an existing configuration",
                    ),
                ),
                implied=(
                    (
                        ("sagemaker:AddTags",),
                        Grant((ENDPOINT,), (), "the recreated endpoint's recorded tags"),
                    ),
                ),
            ),
            # reads IAM can narrow too
            "sagemaker:DescribeEndpoint": only(ENDPOINT, why="endpoints"),
            "sagemaker:DescribeEndpointConfig": only(ENDPOINT_CONFIG, why="endpoint configs"),
            "sagemaker:DescribeModel": only(MODEL, why="models"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: SageMakerEndpointIdleSettings
    ) -> Iterator[Finding | SkippedResource]:
        sagemaker = ctx.client("sagemaker")
        window = MetricWindow.days_before(ctx.as_of, settings.lookback_days, DAY_SECONDS)
        names = [
            item["EndpointName"]
            for page in sagemaker.get_paginator("list_endpoints").paginate()
            for item in page.get("Endpoints", [])
        ]
        # The endpoint's own answer first (status, age, variants); metrics in batches; the
        # reads one endpoint at a time that the record needs (its configuration, models and
        # tags) only for the endpoints without invocations.
        listed: list[tuple[Mapping[str, Any], tuple[str, ...]]] = []
        for name in names:
            endpoint = sagemaker.describe_endpoint(EndpointName=name)
            reason = _not_judged(settings, endpoint, window.start)
            if reason is None:
                listed.append((endpoint, _variant_names(endpoint)))
            else:
                yield self.skipped(ctx, name, reason)
        if not listed:
            return
        scaled = self._auto_scaled(ctx)
        judged: list[tuple[Mapping[str, Any], tuple[str, ...]]] = []
        for endpoint, variants in listed:
            name = str(endpoint["EndpointName"])
            registered = [v for v in variants if _scaling_resource(name, v) in scaled]
            if registered:
                yield self.skipped(
                    ctx,
                    name,
                    f"variant {', '.join(registered)} is registered with Application Auto "
                    "Scaling: deleting the endpoint would leave its scaling target behind",
                )
            else:
                judged.append((endpoint, variants))
        if not judged:
            return
        series = fetch_metrics(
            ctx.client("cloudwatch"),
            window,
            [_invocations(str(e["EndpointName"]), v) for e, variants in judged for v in variants],
        )
        for endpoint, variants in judged:
            name = str(endpoint["EndpointName"])
            counted = [series[f"{name}/{v}"] for v in variants]
            total = sum(sum(one.values) for one in counted)
            if total > 0:
                yield self.skipped(
                    ctx,
                    name,
                    f"not idle: {total:,.0f} invocations in {settings.lookback_days} days",
                )
                continue
            record, reason = self._record(ctx, settings, sagemaker, endpoint)
            if record is None:
                yield self.skipped(ctx, name, reason or "")
                continue
            recorded = tuple(sorted(v.variant_name for v in record.variants))
            if recorded != tuple(sorted(variants)):
                yield self.skipped(
                    ctx,
                    name,
                    f"unknown: its configuration's variants ({', '.join(recorded)}) are not the "
                    f"ones the endpoint runs ({', '.join(variants)})",
                )
                continue
            days = max((len(one.points) for one in counted), default=0)
            yield self._finding(ctx, settings, record, days)

    def _record(
        self,
        ctx: ScanContext,
        settings: SageMakerEndpointIdleSettings,
        sagemaker: Any,
        endpoint: Mapping[str, Any],
    ) -> tuple[IdleEndpoint | None, str | None]:
        """The endpoint's record, or why it is left alone."""
        name = str(endpoint["EndpointName"])
        config_name = str(endpoint.get("EndpointConfigName", ""))
        config = _describe_or_none(
            sagemaker.describe_endpoint_config, EndpointConfigName=config_name
        )
        if config is None:
            return None, (
                f"its endpoint configuration {config_name} no longer exists: an undo "
                "could not recreate the endpoint"
            )
        try:
            variants = variants_of(endpoint, config)
        except NotRecreatable as error:
            return None, str(error)
        for model in sorted({v.model_name for v in variants}):
            if _describe_or_none(sagemaker.describe_model, ModelName=model) is None:
                return None, (
                    f"its model {model} no longer exists: an undo could not recreate the endpoint"
                )
        arn = str(endpoint["EndpointArn"])
        tags = tags_from_api(sagemaker.list_tags(ResourceArn=arn).get("Tags"))
        excluded = ctx.exclusions.reason_to_skip(name, tags)
        if excluded:
            return None, excluded
        return (
            IdleEndpoint(
                endpoint_name=name,
                endpoint_arn=arn,
                endpoint_config_name=config_name,
                variants=variants,
                tags=tags,
                lookback_days=settings.lookback_days,
                skip_tag=ctx.exclusions.skip_tag,
                delete_timeout_minutes=settings.delete_timeout_minutes,
                create_timeout_minutes=settings.create_timeout_minutes,
            ),
            None,
        )

    def _auto_scaled(self, ctx: ScanContext) -> set[str]:
        pages = (
            ctx.client("application-autoscaling")
            .get_paginator("describe_scalable_targets")
            .paginate(ServiceNamespace="sagemaker")
        )
        return {item["ResourceId"] for page in pages for item in page.get("ScalableTargets", [])}

    def _finding(
        self,
        ctx: ScanContext,
        settings: SageMakerEndpointIdleSettings,
        record: IdleEndpoint,
        days_with_data: int,
    ) -> Finding:
        window = f"{settings.lookback_days} days to {ctx.as_of:%Y-%m-%d}"
        instances = ", ".join(
            f"{v.variant_name}: {v.instance_count} x {v.instance_type}" for v in record.variants
        )
        evidence = (
            Evidence(label="Status", value="InService", source="DescribeEndpoint"),
            Evidence(
                label="Invocations",
                value=f"0 on every variant ({window}; {days_with_data} day(s) with datapoints)",
                source="CloudWatch AWS/SageMaker Invocations, daily Sum by EndpointName and "
                "VariantName (GetMetricData)",
            ),
            Evidence(
                label="Instances",
                value=instances,
                source="DescribeEndpointConfig, DescribeEndpoint",
            ),
            Evidence(
                label="Kept for the undo",
                value=f"configuration {record.endpoint_config_name}; model(s) "
                + ", ".join(record.model_names),
                source="DescribeEndpointConfig, DescribeModel",
            ),
        )
        return self.new_finding(
            ctx,
            title=f"Delete idle SageMaker endpoint {record.endpoint_name}",
            cost=endpoint_monthly_cost(ctx, record.variants),
            risk="medium",
            risk_reasons=(
                "callers of the endpoint get errors until it is recreated",
                "recreating takes minutes (new instances, model loaded again)",
                "the configuration and the models are kept: the undo recreates the same endpoint",
            ),
            evidence=evidence,
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: IdleEndpoint) -> str:
        return record.endpoint_name

    def tags_of(self, record: IdleEndpoint) -> Mapping[str, str]:
        return record.tags

    def plan(self, finding: Finding, record: IdleEndpoint) -> ManifestBody:
        name = record.endpoint_name
        prechecks = (
            steps.precheck(
                "precheck-tags",
                f"Confirm {name} does not carry the skip tag {record.skip_tag!r} and its tags "
                "are the recorded ones (the undo sets them again).",
                _list_tags(record),
                steps.skip_tag_absent(record.skip_tag, tags_at="Tags"),
                steps.tags_unchanged("Tags", record.tags),
            ),
            steps.precheck(
                "precheck",
                f"Read {name} and confirm it is InService on configuration "
                f"{record.endpoint_config_name} with the recorded instance counts.",
                _describe(name),
                *_endpoint_expectations(record, status="InService"),
            ),
            *_undo_possible(record),
            steps.precheck(
                "precheck-auto-scaling",
                f"Confirm no variant of {name} is registered with Application Auto Scaling.",
                AwsCall(
                    service="application-autoscaling",
                    operation="DescribeScalableTargets",
                    params={
                        "ServiceNamespace": "sagemaker",
                        "ResourceIds": [
                            _scaling_resource(name, v.variant_name) for v in record.variants
                        ],
                    },
                ),
                Expectation(
                    path="length(ScalableTargets)", equals=0, what="Application Auto Scaling"
                ),
            ),
        )
        delete = steps.change(
            "delete",
            f"Delete endpoint {name} (its configuration and models are kept) and wait until "
            "it is gone.",
            AwsCall(service="sagemaker", operation="DeleteEndpoint", params={"EndpointName": name}),
            already_done=Lookup(
                call=_list_named(name),
                found_when=(
                    f"length(Endpoints[?EndpointName == {json_literal(name)} "
                    "&& EndpointStatus != 'Deleting']) == `0`"
                ),
            ),
            wait=WaitFor(
                waiter="endpoint_deleted",
                params={"EndpointName": name},
                delay_seconds=DELETE_POLL_SECONDS,
                max_attempts=max(1, record.delete_timeout_minutes * 60 // DELETE_POLL_SECONDS),
            ),
        )
        return ManifestBody(
            steps=(
                *prechecks,
                steps.record(
                    "record-endpoint",
                    f"Record {name}'s configuration name and ARN in the journal (nothing else "
                    "is deleted: the configuration and the models stay).",
                    _describe(name),
                    outputs={
                        "EndpointConfigName": "EndpointConfigName",
                        "EndpointArn": "EndpointArn",
                    },
                ),
                delete,
                steps.verify(
                    "verify",
                    f"Confirm {name} no longer exists.",
                    _list_named(name),
                    Expectation(
                        path=f"length(Endpoints[?EndpointName == {json_literal(name)}])",
                        equals=0,
                        what="endpoint deleted",
                    ),
                ),
                steps.verify(
                    "verify-config-kept",
                    f"Confirm configuration {record.endpoint_config_name} is still there for "
                    "the undo.",
                    _describe_config(record),
                    *_config_expectations(record),
                ),
            ),
            notes=(
                f"Deleting {name} stops the instance-hours ({_instances(record)}); anything "
                "still calling it gets errors until a rollback recreates it.",
                f"Kept: endpoint configuration {record.endpoint_config_name} and model(s) "
                f"{', '.join(record.model_names)}. The rollback recreates the endpoint with the "
                "same name (same ARN and invocation URL) and tags; it takes minutes, and is "
                "refused if the configuration or a model has been deleted meanwhile: keep them.",
                f"Idle evidence: zero Invocations on every variant over {record.lookback_days} "
                "days.",
            ),
        )

    def rollback(self, finding: Finding, record: IdleEndpoint) -> ManifestBody:
        name = record.endpoint_name
        create = steps.change(
            "create",
            f"Create endpoint {name} again from configuration {record.endpoint_config_name} "
            "with its recorded tags, and wait until it is InService.",
            AwsCall(
                service="sagemaker",
                operation="CreateEndpoint",
                params={
                    "EndpointName": name,
                    "EndpointConfigName": record.endpoint_config_name,
                    **({"Tags": tag_list(restorable_tags(record.tags))} if record.tags else {}),
                },
            ),
            already_done=Lookup(
                call=_list_named(name),
                found_when=f"length(Endpoints[?EndpointName == {json_literal(name)}]) > `0`",
            ),
            wait=WaitFor(
                waiter="endpoint_in_service",
                params={"EndpointName": name},
                delay_seconds=CREATE_POLL_SECONDS,
                max_attempts=max(1, record.create_timeout_minutes * 60 // CREATE_POLL_SECONDS),
            ),
            failure_hint="SageMaker could not start the endpoint (instance capacity or quota "
            "for the instance type, or the model's container); DescribeEndpoint's "
            "FailureReason says which.",
        )
        return ManifestBody(
            steps=(
                *_undo_possible(record),
                create,
                steps.verify(
                    "verify",
                    f"Confirm {name} is InService on configuration {record.endpoint_config_name} "
                    "with the recorded instance counts.",
                    _describe(name),
                    *_endpoint_expectations(record, status="InService"),
                ),
                steps.verify(
                    "verify-tags",
                    f"Confirm {name} carries its recorded tags.",
                    _list_tags(record),
                    steps.tags_unchanged("Tags", record.tags),
                ),
            ),
            notes=(
                f"Recreates {name} from configuration {record.endpoint_config_name}: same name, "
                "ARN and invocation URL; new instances, so it takes minutes to be InService.",
                "Refused before any change if the configuration or one of its models no longer "
                "exists, or the configuration no longer has the recorded variants.",
            ),
        )


def _describe_or_none(call: Any, **params: str) -> dict[str, Any] | None:
    """A Describe answer, or None when SageMaker says the resource does not exist (it answers
    a missing endpoint, configuration or model with ValidationException, "Could not find")."""
    try:
        answer: dict[str, Any] = call(**params)
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        if error.response.get("Error", {}).get("Code") == "ValidationException" and (
            "Could not find" in message or "does not exist" in message
        ):
            return None
        raise
    return answer


def _instances(record: IdleEndpoint) -> str:
    return ", ".join(f"{v.instance_count} x {v.instance_type}" for v in record.variants)


def _describe(name: str) -> AwsCall:
    return AwsCall(service="sagemaker", operation="DescribeEndpoint", params={"EndpointName": name})


def _describe_config(record: IdleEndpoint) -> AwsCall:
    return AwsCall(
        service="sagemaker",
        operation="DescribeEndpointConfig",
        params={"EndpointConfigName": record.endpoint_config_name},
    )


def _list_named(name: str) -> AwsCall:
    # NameContains matches substrings; the expectations pick the exact name out of the answer.
    return AwsCall(
        service="sagemaker",
        operation="ListEndpoints",
        params={"NameContains": name, "MaxResults": 100},
    )


def _list_tags(record: IdleEndpoint) -> AwsCall:
    return AwsCall(
        service="sagemaker", operation="ListTags", params={"ResourceArn": record.endpoint_arn}
    )


_VARIANTS = (
    "sort_by(ProductionVariants, &VariantName)"
    "[].{VariantName: VariantName, ModelName: ModelName, InstanceType: InstanceType, "
    "InitialInstanceCount: InitialInstanceCount}"
)


def _config_expectations(record: IdleEndpoint) -> tuple[Expectation, ...]:
    return (
        Expectation(
            path="EndpointConfigName", equals=record.endpoint_config_name, what="configuration"
        ),
        Expectation(
            path=_VARIANTS,
            equals=[v.as_api() for v in record.variants],
            what="production variants (model, instance type, count)",
        ),
        Expectation(
            path="AsyncInferenceConfig || `null`", equals=None, what="real-time, not asynchronous"
        ),
    )


def _endpoint_expectations(record: IdleEndpoint, *, status: str) -> tuple[Expectation, ...]:
    return (
        Expectation(path="EndpointStatus", equals=status, what="status"),
        Expectation(
            path="EndpointConfigName", equals=record.endpoint_config_name, what="configuration"
        ),
        Expectation(
            path="sort_by(ProductionVariants, &VariantName)[].{VariantName: VariantName, "
            "CurrentInstanceCount: CurrentInstanceCount}",
            equals=[
                {"VariantName": v.variant_name, "CurrentInstanceCount": v.instance_count}
                for v in record.variants
            ],
            what="variants and their instance counts",
        ),
    )


def _undo_possible(record: IdleEndpoint) -> tuple[Step, ...]:
    """The configuration and every model exist as recorded: without them CreateEndpoint
    could not bring the endpoint back, so neither the delete nor the undo may start."""
    hint = (
        "the endpoint configuration or a model it names was deleted or replaced: the endpoint "
        "cannot be recreated as it was. Recreate them as they were, or close the PR."
    )
    config = steps.precheck(
        "precheck-config",
        f"Confirm endpoint configuration {record.endpoint_config_name} still exists with the "
        "recorded variants (model, instance type, count).",
        _describe_config(record),
        *_config_expectations(record),
        failure_hint=hint,
    )
    models = tuple(
        steps.precheck(
            f"precheck-model-{index}",
            f"Confirm model {model} still exists.",
            AwsCall(service="sagemaker", operation="DescribeModel", params={"ModelName": model}),
            Expectation(path="ModelName", equals=model, what="model"),
            failure_hint=hint,
        )
        for index, model in enumerate(record.model_names, start=1)
    )
    return (config, *models)
