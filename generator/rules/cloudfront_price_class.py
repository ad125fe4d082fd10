"""cloudfront-price-class: distributions served from every edge location (PriceClass_All).
Move them to a cheaper price class.

The change writes CloudFront's whole distribution document, guarded by its ETag: the plan
reads the current document, changes only PriceClass in it and sends it with IfMatch; if
someone changed the distribution in between (412 PreconditionFailed), the executor reads it
again, re-checks it and merges into the fresh copy, never overwriting their change.
Undo: the document recorded just before the change, written back with a fresh ETag, once a
read shows the distribution is still exactly as the apply left it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from generator.aws.cost_explorer import CloudFrontTransfer, cloudfront_transfer, unavailable
from generator.aws.prices import DAYS_PER_MONTH, CloudFrontPrices
from generator.findings import (
    Cost,
    Evidence,
    Finding,
    Reversibility,
    Risk,
    SkippedResource,
)
from generator.iam.scopes import DISTRIBUTION, never_skipped, only
from generator.manifest import steps
from generator.manifest.models import (
    AwsCall,
    Expectation,
    Lookup,
    RetryOnConflict,
    Step,
    WaitFor,
)
from generator.manifest.paths import json_literal
from generator.manifest.refs import ref
from generator.rules.base import ManifestBody, Rule, RuleCalls, RuleDocs, RuleSettings
from generator.rules.context import ScanContext

ALL = "PriceClass_All"
_SUMMARY_KEYS = ("PriceClass", "Enabled", "Staging", "Aliases", "Origins", "Comment")
TargetClass = Literal["PriceClass_100", "PriceClass_200"]
DEPLOY_POLL_SECONDS = 60
_REGION_NAMES = {
    "US": "United States",
    "CA": "Canada",
    "EU": "Europe and Israel",
    "ZA": "South Africa",
    "ME": "Middle East",
    "IN": "India",
    "JP": "Japan",
    "AP": "Asia Pacific",
    "SA": "South America",
    "AU": "Australia and New Zealand",
}


class CloudFrontPriceClassSettings(RuleSettings):
    target_price_class: TargetClass = Field(
        default="PriceClass_200",
        description="PriceClass_200 drops South America and Oceania; PriceClass_100 keeps only "
        "North America and Europe.",
    )
    use_cost_explorer: bool = Field(
        default=True,
        description="Price the saving from Cost Explorer's CloudFront usage by region (one "
        "GetCostAndUsage request per account and scan, $0.01 each). Off: savings unknown.",
    )
    lookback_days: int = Field(default=30, ge=1, le=365, description="Usage window.")
    max_dropped_traffic_percent: float = Field(
        default=10.0,
        ge=0,
        le=100,
        description="Leave a distribution alone when more of its traffic than this goes to "
        "viewers in the regions the target class drops: they would all get slower.",
    )
    min_monthly_savings_usd: float = Field(
        default=1.0, ge=0, description="Leave a distribution alone when it saves less."
    )
    deploy_timeout_minutes: int = Field(
        default=45, ge=5, description="How long apply and rollback wait for the deployment."
    )


class DistributionRecord(BaseModel):
    """A distribution as ListDistributions / GetDistributionConfig describe it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    arn: str | None = None
    domain_name: str | None = None
    price_class: str | None
    enabled: bool
    staging: bool = False
    connection_mode: str | None = None
    aliases: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    comment: str = ""
    tags: dict[str, str] = {}

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> DistributionRecord:
        return cls._from(summary["Id"], summary, summary)

    @classmethod
    def from_config(
        cls, distribution_id: str, response: dict[str, Any], summary: dict[str, Any] | None = None
    ) -> DistributionRecord:
        return cls._from(distribution_id, response.get("DistributionConfig") or {}, summary or {})

    @classmethod
    def _from(
        cls, distribution_id: str, config: dict[str, Any], summary: dict[str, Any]
    ) -> DistributionRecord:
        return cls(
            id=distribution_id,
            arn=summary.get("ARN"),
            domain_name=summary.get("DomainName"),
            price_class=config.get("PriceClass"),
            enabled=bool(config.get("Enabled", False)),
            staging=bool(config.get("Staging", False)),
            connection_mode=config.get("ConnectionMode"),
            aliases=tuple((config.get("Aliases") or {}).get("Items") or ()),
            origins=tuple(
                o.get("DomainName", "") for o in (config.get("Origins") or {}).get("Items") or ()
            ),
            comment=config.get("Comment") or "",
        )

    def label(self) -> str:
        name = self.aliases[0] if self.aliases else self.domain_name
        return f"CloudFront distribution {self.id}" + (f" ({name})" if name else "")


class PriceClassChange(BaseModel):
    """What the finding records: enough to re-derive the plan and the rollback."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    distribution: DistributionRecord
    target_price_class: TargetClass
    dropped_regions: tuple[str, ...]
    skip_tag: str
    deploy_timeout_minutes: int


def _config_call(distribution_id: str) -> AwsCall:
    return AwsCall(
        service="cloudfront", operation="GetDistributionConfig", params={"Id": distribution_id}
    )


def _deployed(record: PriceClassChange) -> WaitFor:
    return WaitFor(
        waiter="distribution_deployed",
        params={"Id": record.distribution.id},
        delay_seconds=DEPLOY_POLL_SECONDS,
        max_attempts=record.deploy_timeout_minutes * 60 // DEPLOY_POLL_SECONDS,
    )


class CloudFrontPriceClass(Rule[CloudFrontPriceClassSettings, PriceClassChange]):
    name: ClassVar[str] = "cloudfront-price-class"
    summary: ClassVar[str] = "CloudFront distributions on PriceClass_All"
    resource_type: ClassVar[str] = "AWS::CloudFront::Distribution"
    reversibility: ClassVar[Reversibility] = "full"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "distributions on `PriceClass_All`; saving from Cost Explorer's CloudFront data "
            'transfer by viewer region (else "unknown"); left alone above '
            "`max_dropped_traffic_percent` (10) or under `min_monthly_savings_usd` (1)"
        ),
        change=(
            "PriceClass set to `target_price_class` (`PriceClass_200`) in the configuration read "
            "at apply time, sent with its ETag (IfMatch)"
        ),
        undo=(
            "the configuration recorded just before the change, written back with a fresh ETag, "
            "only while the distribution is exactly as the apply left it"
        ),
    )
    settings_model = CloudFrontPriceClassSettings
    record_model = PriceClassChange
    home_region: ClassVar[str | None] = "us-east-1"
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {
                ("cloudfront", "ListDistributions"),
                ("cloudfront", "GetDistributionConfig"),
                ("cloudfront", "ListTagsForResource"),
                ("ce", "GetCostAndUsage"),
            }
        ),
        apply=frozenset(
            {
                ("cloudfront", "GetDistributionConfig"),
                ("cloudfront", "ListTagsForResource"),
                ("cloudfront", "UpdateDistribution"),
                ("cloudfront", "GetDistribution"),
            }
        ),
        rollback=frozenset(
            {
                ("cloudfront", "GetDistributionConfig"),
                ("cloudfront", "UpdateDistribution"),
                ("cloudfront", "GetDistribution"),
            }
        ),
        scopes={
            "cloudfront:UpdateDistribution": never_skipped(
                DISTRIBUTION, "never a distribution carrying the skip tag"
            ),
            # reads IAM can narrow too
            "cloudfront:GetDistribution": only(DISTRIBUTION, why="distributions"),
            "cloudfront:GetDistributionConfig": only(DISTRIBUTION, why="distributions"),
            "cloudfront:ListTagsForResource": only(DISTRIBUTION, why="distributions"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: CloudFrontPriceClassSettings
    ) -> Iterator[Finding | SkippedResource]:
        cloudfront = ctx.client("cloudfront")
        distributions: list[DistributionRecord] = []
        for page in cloudfront.get_paginator("list_distributions").paginate():
            for summary in page.get("DistributionList", {}).get("Items") or []:
                distributions.append(self._read(cloudfront, summary))

        def transfer() -> CloudFrontTransfer:
            if not settings.use_cost_explorer:
                return unavailable(ctx.as_of, settings.lookback_days, "use_cost_explorer is off")
            usage = cloudfront_transfer(ctx.client("ce"), ctx.as_of, settings.lookback_days)
            if not usage.available:
                ctx.warn(
                    f"Cost Explorer unavailable ({usage.unavailable_reason}): savings of "
                    "CloudFront price-class changes are reported as unknown"
                )
            return usage

        def tags(distribution: DistributionRecord) -> dict[str, str]:
            response = cloudfront.list_tags_for_resource(Resource=distribution.arn)
            items = response.get("Tags", {}).get("Items") or []
            return {t["Key"]: t.get("Value", "") for t in items}

        yield from self.evaluate(ctx, settings, distributions, transfer, tags)

    def _read(self, cloudfront: Any, summary: dict[str, Any]) -> DistributionRecord:
        """From the summary: ListDistributions answers every field the record holds (the
        botocore model requires PriceClass, Enabled, Staging, Aliases, Origins and Comment
        in a summary), so a scan costs its pages, not one call per distribution. The full
        configuration only when a summary lacks them, as some stand-ins' summaries do; the
        plan's first step reads it anyway, and checks it, before any change."""
        if all(key in summary for key in _SUMMARY_KEYS):
            return DistributionRecord.from_summary(summary)
        response = cloudfront.get_distribution_config(Id=summary["Id"])
        return DistributionRecord.from_config(summary["Id"], response, summary)

    def evaluate(
        self,
        ctx: ScanContext,
        settings: CloudFrontPriceClassSettings,
        distributions: list[DistributionRecord],
        transfer: Callable[[], CloudFrontTransfer],
        tags: Callable[[DistributionRecord], dict[str, str]],
    ) -> Iterator[Finding | SkippedResource]:
        """Decide each distribution; Cost Explorer (``transfer``) is asked at most once and
        only when there is a candidate, tags only for the findings propose can open."""
        prices = ctx.prices.cloudfront
        target = settings.target_price_class
        dropped = prices.dropped_regions(ALL, target)
        # Every enabled distribution that serves viewers in the dropped regions adds to the
        # account-wide usage there; Cost Explorer cannot tell them apart.
        sharing = [
            d
            for d in distributions
            if d.enabled
            and d.price_class in prices.price_class_regions
            and set(prices.price_class_regions[d.price_class]) & set(dropped)
        ]
        usage: CloudFrontTransfer | None = None
        wanted: list[tuple[DistributionRecord, Cost, float | None]] = []
        for distribution in distributions:
            if distribution.price_class is not None and distribution.price_class != ALL:
                continue  # already on a cheaper class: not this rule's business
            reason = _skip_reason(distribution)
            if reason is None:
                usage = usage or transfer()
                cost, share = _saving(ctx, prices, target, dropped, usage, len(sharing))
                reason = _threshold_reason(settings, cost, share)
                if reason is None:
                    wanted.append((distribution, cost, share))
                    continue
            yield self.skipped(ctx, distribution.id, reason)
        if not wanted or usage is None:
            return
        # CloudFront answers tags one distribution at a time: they are asked for the findings
        # propose can open (ctx.confirmed), never for every distribution. The rest stay
        # findings; the plan's skip-tag pre-check reads the tags of the one it changes
        # before any change.
        untagged = [
            self._finding(ctx, settings, distribution, dropped, usage, cost, share)
            for distribution, cost, share in wanted
        ]
        listed = {
            distribution.id: (distribution, cost, share) for distribution, cost, share in wanted
        }

        def confirmed(finding: Finding) -> Finding | SkippedResource:
            distribution, cost, share = listed[finding.resource_id]
            distribution = distribution.model_copy(update={"tags": tags(distribution)})
            reason = ctx.exclusions.reason_to_skip(distribution.id, distribution.tags)
            if reason is not None:
                return self.skipped(ctx, distribution.id, reason)
            return self._finding(ctx, settings, distribution, dropped, usage, cost, share)

        yield from ctx.confirmed_each(untagged, confirmed)

    def _finding(
        self,
        ctx: ScanContext,
        settings: CloudFrontPriceClassSettings,
        distribution: DistributionRecord,
        dropped: tuple[str, ...],
        usage: CloudFrontTransfer,
        cost: Cost,
        share: float | None,
    ) -> Finding:
        target = settings.target_price_class
        regions = ", ".join(_REGION_NAMES.get(r, r) for r in dropped)
        risk, risk_reasons = _risk(regions, cost, share)
        record = PriceClassChange(
            distribution=distribution,
            target_price_class=target,
            dropped_regions=dropped,
            skip_tag=ctx.exclusions.skip_tag,
            deploy_timeout_minutes=settings.deploy_timeout_minutes,
        )
        evidence = [
            Evidence(label="Price class", value=ALL, source="ListDistributions"),
            Evidence(
                label="Aliases",
                value=", ".join(distribution.aliases) or "none",
                source="ListDistributions",
            ),
            Evidence(
                label="Origins",
                value=", ".join(distribution.origins) or "none",
                source="ListDistributions",
            ),
        ]
        if usage.available:
            dropped_gb = sum(usage.gb_by_region.get(r, 0.0) for r in dropped)
            evidence.append(
                Evidence(
                    label=f"Account traffic to viewers in {regions}",
                    value=f"{dropped_gb:,.1f} GB of {usage.total_gb:,.1f} GB"
                    + (f" ({share:.1%})" if share is not None else "")
                    + f" over {usage.days} days",
                    source="Cost Explorer GetCostAndUsage (CloudFront, by usage type)",
                )
            )
        return self.new_finding(
            ctx,
            title=f"Move {distribution.label()} from {ALL} to {target}",
            cost=cost,
            risk=risk,
            risk_reasons=risk_reasons,
            evidence=evidence,
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: PriceClassChange) -> str:
        return record.distribution.id

    def tags_of(self, record: PriceClassChange) -> Mapping[str, str]:
        return record.distribution.tags

    def plan(self, finding: Finding, record: PriceClassChange) -> ManifestBody:
        distribution = record.distribution
        did = distribution.id
        prechecks = (
            steps.precheck(
                "read-config",
                f"Read the current configuration of {did} and its ETag, and confirm it is "
                f"still enabled, not a staging distribution, and on {ALL}. Its copy in the "
                "journal is what the rollback restores.",
                _config_call(did),
                Expectation(path="DistributionConfig.PriceClass", equals=ALL, what="price class"),
                Expectation(path="DistributionConfig.Enabled", equals=True, what="enabled"),
                Expectation(
                    path="DistributionConfig.Staging || `false`",
                    equals=False,
                    what="not a staging distribution",
                ),
                outputs={"ETag": "ETag", "DistributionConfig": "DistributionConfig"},
            ),
            steps.skip_tag_precheck(
                did,
                record.skip_tag,
                AwsCall(
                    service="cloudfront",
                    operation="ListTagsForResource",
                    params={"Resource": distribution.arn or ""},
                ),
                keys_at="Tags.Items[].Key || `[]`",
            ),
        )
        regions = ", ".join(_REGION_NAMES.get(r, r) for r in record.dropped_regions)
        return ManifestBody(
            steps=_price_class(record).apply_steps(prechecks),
            notes=(
                f"Viewers in {regions} will be served from edge locations farther away: "
                "expect higher latency for them. CloudFront keeps serving them; nothing is "
                "blocked.",
                "Only PriceClass changes: the plan merges it into the configuration as read at "
                "apply time, so changes made after this PR was opened are kept.",
                "CloudFront takes a few minutes to deploy the change; apply waits for it.",
            ),
        )

    def rollback(self, finding: Finding, record: PriceClassChange) -> ManifestBody:
        did = record.distribution.id
        prechecks = (
            steps.precheck(
                "read-config",
                f"Read {did} with a fresh ETag and confirm its configuration is still "
                "exactly as the apply left it.",
                _config_call(did),
                Expectation(
                    path="DistributionConfig",
                    equals=ref("apply.verify.DistributionConfig"),
                    what="configuration as the apply left it",
                ),
                outputs={"ETag": "ETag"},
                failure_hint=(
                    f"Someone changed {did} after reclaim's change; writing back the recorded "
                    f"configuration would undo their work. Set PriceClass back to {ALL} by hand "
                    "(or in your infrastructure code)."
                ),
            ),
        )
        return ManifestBody(
            steps=_price_class(record).rollback_steps(prechecks),
            notes=(
                "The rollback refuses to run if the distribution was changed after the apply, "
                "rather than overwrite that change.",
            ),
        )


def _update(
    step_id: str, description: str, record: PriceClassChange, config: JsonValue, to: str
) -> Step:
    """UpdateDistribution guarded by the ETag read-config read, re-read and retried on a
    conflict, already done once the distribution is on ``to``, waited for until deployed."""
    did = record.distribution.id
    return steps.change(
        step_id,
        description,
        AwsCall(
            service="cloudfront",
            operation="UpdateDistribution",
            params={
                "Id": did,
                "IfMatch": ref("steps.read-config.ETag"),
                "DistributionConfig": config,
            },
        ),
        outputs={"ETag": "ETag"},
        already_done=Lookup(
            call=_config_call(did),
            found_when=f"DistributionConfig.PriceClass == {json_literal(to)}",
            outputs={"ETag": "ETag"},
        ),
        on_conflict=RetryOnConflict(error_code="PreconditionFailed", reread_step="read-config"),
        wait=_deployed(record),
    )


def _price_class(record: PriceClassChange) -> steps.SetAndSetBack:
    """PriceClass_All → the target, merged into the document read at apply time; and the
    recorded document written back. The record is read-config's output (a pre-check)."""
    did, target = record.distribution.id, record.target_price_class
    original = ref("apply.read-config.DistributionConfig")
    merged: JsonValue = {
        "$merge": {
            "base": ref("steps.read-config.DistributionConfig"),
            "set": {"PriceClass": target},
        }
    }
    return steps.SetAndSetBack(
        set=_update(
            "update",
            f"Send the configuration just read with PriceClass set to {target}, "
            "guarded by its ETag (IfMatch); if CloudFront answers PreconditionFailed "
            "(someone changed it meanwhile), read it again, re-check it and merge "
            "into the fresh copy. Then wait until the change is deployed.",
            record,
            merged,
            target,
        ),
        verify_set=steps.verify(
            "verify",
            f"Confirm {did} is on {target}; the configuration read here is what the "
            "rollback expects to find.",
            _config_call(did),
            Expectation(path="DistributionConfig.PriceClass", equals=target, what="price class"),
            outputs={"DistributionConfig": "DistributionConfig"},
        ),
        set_back=_update(
            "restore",
            f"Write back the configuration recorded just before the apply changed it "
            f"({ALL}), guarded by the fresh ETag; on PreconditionFailed read and "
            "re-check again. Then wait until it is deployed.",
            record,
            original,
            ALL,
        ),
        verify_set_back=(
            steps.verify(
                "verify",
                f"Confirm the configuration of {did} equals the recorded original.",
                _config_call(did),
                Expectation(
                    path="DistributionConfig",
                    equals=original,
                    what="configuration as before the apply",
                ),
            ),
        ),
    )


def _skip_reason(distribution: DistributionRecord) -> str | None:
    if distribution.price_class is None:
        return "the configuration does not report a PriceClass"
    if not distribution.enabled:
        return "disabled: serves no traffic"
    if distribution.staging:
        return "staging distribution: follows its primary"
    if distribution.connection_mode == "tenant-only":
        return "multi-tenant distribution: left to a human"
    if distribution.arn is None:
        return "no ARN reported, so its tags cannot be read"
    return None


def _saving(
    ctx: ScanContext,
    prices: CloudFrontPrices,
    target: str,
    dropped: tuple[str, ...],
    usage: CloudFrontTransfer,
    sharers: int,
) -> tuple[Cost, float | None]:
    """The monthly saving and the share of traffic in the dropped regions."""
    regions = ", ".join(dropped)
    if not usage.available:
        return ctx.prices.unknown_cost(
            ctx.region, f"Cost Explorer usage not available ({usage.unavailable_reason})"
        ), None
    dropped_gb = {r: usage.gb_by_region.get(r, 0.0) for r in dropped}
    share = sum(dropped_gb.values()) / usage.total_gb if usage.total_gb else 0.0
    parts, window_saving = [], 0.0
    for region, gb in dropped_gb.items():
        per_gb = prices.saving_per_gb(region, target)
        serving = prices.serving_region(region, target)
        if gb and per_gb:
            window_saving += gb * per_gb
            parts.append(f"{gb:,.1f} GB to {region} x ${per_gb:.3f}/GB (served from {serving})")
        elif gb and per_gb is not None:
            parts.append(f"{gb:,.1f} GB to {region}: no saving ({serving} edges cost as much)")
    monthly = window_saving * DAYS_PER_MONTH / usage.days
    basis = (
        f"over {usage.days} days: "
        + ("; ".join(parts) or f"no traffic to {regions}")
        + f"; scaled to a month; first-tier data transfer prices ({prices.source})"
    )
    if sharers > 1:
        return ctx.prices.unknown_cost(
            ctx.region,
            f"the account's viewers in {regions} would save ${monthly:,.2f}/month in all ("
            f"{basis}), but {sharers} distributions serve them and Cost Explorer cannot split "
            "it per distribution",
        ), share
    return ctx.prices.global_cost(monthly, basis), share


def _threshold_reason(
    settings: CloudFrontPriceClassSettings, cost: Cost, share: float | None
) -> str | None:
    if cost.unknown:
        return None
    if share is not None and share * 100 > settings.max_dropped_traffic_percent:
        return (
            f"{share:.1%} of its traffic goes to viewers in the regions "
            f"{settings.target_price_class} drops, over max_dropped_traffic_percent="
            f"{settings.max_dropped_traffic_percent}: they would all get slower"
        )
    if cost.monthly_usd < settings.min_monthly_savings_usd:
        return (
            f"saves ${cost.monthly_usd:,.2f}/month, under min_monthly_savings_usd="
            f"{settings.min_monthly_savings_usd}"
        )
    return None


def _risk(regions: str, cost: Cost, share: float | None) -> tuple[Risk, list[str]]:
    reasons = [f"viewers in {regions} get higher latency"]
    if cost.unknown:
        reasons.append("traffic to those regions unknown")
        return "medium", reasons
    if share is not None and share >= 0.01:
        reasons.append(f"{share:.1%} of the traffic goes there")
        return "medium", reasons
    return "low", reasons
