"""ecr-no-lifecycle: ECR repositories where untagged images pile up because no lifecycle
policy expires them. Report-only: which images a team still pulls by digest, and how long
it keeps them, is its policy to write.

An image counts when it is untagged, active (not archived), not a referrer (a signature or
an attestation, which belongs to its subject image), older than ``min_untagged_age_days``
and not pulled in that time (ECR records a pull time at least once a day). Its size is
DescribeImages' ``imageSizeInBytes``; layers shared with other images are stored once, so
the sum is an upper bound of what expiring them saves, and the finding says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from generator.aws.prices import GIB
from generator.findings import Cost, Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import ECR_REPOSITORY, only
from generator.rules.base import Rule, RuleCalls, RuleDocs, RuleSettings
from generator.rules.context import ScanContext


class EcrNoLifecycleSettings(RuleSettings):
    min_monthly_usd: float = Field(
        default=1.0,
        ge=0,
        description="Report a repository only when its stale untagged images cost more than "
        "this per month at ECR's storage price.",
    )
    min_untagged_age_days: int = Field(
        default=14,
        ge=0,
        le=3650,
        description="Count an untagged image only when it was pushed, and last pulled, more "
        "than this many days ago (an image deployed by digest is pulled).",
    )


class RepositoryRecord(BaseModel):
    """What the finding records: the repository and what its untagged images weigh."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    arn: str
    uri: str | None = None
    lifecycle_policy: str = Field(
        description="'none', or why the policy expires no untagged image."
    )
    untagged_images: int
    untagged_bytes: int
    oldest_untagged_pushed_at: datetime | None = None
    recently_used_untagged_images: int = Field(
        description="Untagged images pushed or pulled within min_untagged_age_days: not counted."
    )
    min_untagged_age_days: int
    tags: dict[str, str] = {}
    skip_tag: str


class EcrNoLifecycle(Rule[EcrNoLifecycleSettings, RepositoryRecord]):
    name: ClassVar[str] = "ecr-no-lifecycle"
    summary: ClassVar[str] = "ECR repositories whose untagged images no lifecycle policy expires"
    resource_type: ClassVar[str] = "AWS::ECR::Repository"
    reversibility: ClassVar[Reversibility] = "report-only"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "repositories with no lifecycle policy (or none expiring untagged images) whose "
            "untagged images, neither pushed nor pulled for `min_untagged_age_days` (14), cost "
            "more than `min_monthly_usd` (1) at ECR's storage price. Report-only: add a "
            "lifecycle rule for untagged images"
        ),
    )
    settings_model = EcrNoLifecycleSettings
    record_model = RepositoryRecord
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {
                ("ecr", "DescribeRepositories"),
                ("ecr", "GetLifecyclePolicy"),
                ("ecr", "DescribeImages"),
                ("ecr", "ListTagsForResource"),
            }
        ),
        apply=frozenset(),
        rollback=frozenset(),
        scopes={
            action: only(ECR_REPOSITORY, why="repositories only")
            for action in (
                "ecr:DescribeRepositories",
                "ecr:GetLifecyclePolicy",
                "ecr:DescribeImages",
                "ecr:ListTagsForResource",
            )
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: EcrNoLifecycleSettings
    ) -> Iterator[Finding | SkippedResource]:
        ecr = ctx.client("ecr")
        cutoff = ctx.as_of - timedelta(days=settings.min_untagged_age_days)
        price = ctx.prices.ecr.storage_gb_month
        for page in ecr.get_paginator("describe_repositories").paginate():
            for repository in page.get("repositories", []):
                name = repository["repositoryName"]
                policy = _lifecycle_gap(ecr, name)
                if policy is None:
                    yield self.skipped(
                        ctx, name, "its lifecycle policy expires untagged images already"
                    )
                    continue
                stale, recent, total, oldest = _untagged(ecr, name, cutoff)
                monthly = total / GIB * price
                if monthly <= settings.min_monthly_usd:
                    yield self.skipped(
                        ctx,
                        name,
                        f"{stale} stale untagged image(s), {total / GIB:,.2f} GiB: "
                        f"${monthly:,.2f}/month, not more than min_monthly_usd="
                        f"{settings.min_monthly_usd}",
                    )
                    continue
                tags = _tags(ecr, repository["repositoryArn"])
                reason = ctx.exclusions.reason_to_skip(name, tags)
                if reason:
                    yield self.skipped(ctx, name, reason)
                    continue
                record = RepositoryRecord(
                    name=name,
                    arn=repository["repositoryArn"],
                    uri=repository.get("repositoryUri"),
                    lifecycle_policy=policy,
                    untagged_images=stale,
                    untagged_bytes=total,
                    oldest_untagged_pushed_at=oldest,
                    recently_used_untagged_images=recent,
                    min_untagged_age_days=settings.min_untagged_age_days,
                    tags=tags,
                    skip_tag=ctx.exclusions.skip_tag,
                )
                yield self._finding(ctx, record)

    def _finding(self, ctx: ScanContext, record: RepositoryRecord) -> Finding:
        gib = record.untagged_bytes / GIB
        price = ctx.prices.ecr.storage_gb_month
        cost: Cost = ctx.prices.cost(
            gib * price,
            ctx.region,
            f"{record.untagged_images} untagged image(s), {gib:,.2f} GiB x ${price}/GB-month "
            "ECR storage (the sum of image sizes: layers shared between images are stored once, "
            f"so expiring them saves up to this; {ctx.prices.ecr.source})",
        )
        days = record.min_untagged_age_days
        evidence = [
            Evidence(
                label="Lifecycle policy",
                value=record.lifecycle_policy,
                source="GetLifecyclePolicy",
            ),
            Evidence(
                label=f"Untagged images neither pushed nor pulled for {days} days",
                value=f"{record.untagged_images} ({gib:,.2f} GiB)",
                source="DescribeImages (UNTAGGED: imageSizeInBytes, lastRecordedPullTime)",
            ),
        ]
        if record.oldest_untagged_pushed_at:
            evidence.append(
                Evidence(
                    label="Oldest untagged image pushed",
                    value=f"{record.oldest_untagged_pushed_at:%Y-%m-%d}",
                    source="DescribeImages (imagePushedAt)",
                )
            )
        risk_reasons = [
            "an untagged image may still be deployed by digest: expire by age, and check "
            "task definitions and manifests that pin a digest"
        ]
        if record.recently_used_untagged_images:
            risk_reasons.append(
                f"{record.recently_used_untagged_images} other untagged image(s) were pushed or "
                f"pulled in the last {days} days (not counted)"
            )
        return self.new_finding(
            ctx,
            title=f"Add a lifecycle rule expiring untagged images to ECR repository {record.name}",
            cost=cost,
            risk="low",
            risk_reasons=risk_reasons,
            evidence=evidence,
            record=record,
        )

    # ---- names -----------------------------------------------------------------------

    def resource_of(self, record: RepositoryRecord) -> str:
        return record.name

    def id_part(self, resource_id: str) -> str:
        """A namespaced name (team/app) cannot stand in a folder name: its '/' becomes '-',
        and a short digest of the exact name keeps team/app and team-app apart."""
        if "/" not in resource_id:
            return resource_id
        digest = hashlib.sha256(resource_id.encode()).hexdigest()[:8]
        return f"{resource_id.replace('/', '-')}-{digest}"

    def tags_of(self, record: RepositoryRecord) -> Mapping[str, str]:
        return record.tags


def _lifecycle_gap(ecr: Any, repository: str) -> str | None:
    """Why no lifecycle rule expires this repository's untagged images ('none' when it has
    no policy at all), or None when one does."""
    try:
        text = ecr.get_lifecycle_policy(repositoryName=repository).get("lifecyclePolicyText")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "LifecyclePolicyNotFoundException":
            return "none"
        raise
    try:
        rules = json.loads(text or "{}").get("rules") or []
    except (ValueError, AttributeError):
        return "unreadable policy text"
    for rule in rules:
        selection = rule.get("selection") or {}
        action = (rule.get("action") or {}).get("type", "expire")
        if action == "expire" and selection.get("tagStatus") in ("untagged", "any"):
            return None
    return f"{len(rules)} rule(s), none expiring untagged images"


def _untagged(ecr: Any, repository: str, cutoff: datetime) -> tuple[int, int, int, datetime | None]:
    """(stale images, recently used images, stale bytes, oldest push) of the untagged,
    active, non-referrer images."""
    stale = recent = total = 0
    oldest: datetime | None = None
    pages = ecr.get_paginator("describe_images").paginate(
        repositoryName=repository, filter={"tagStatus": "UNTAGGED"}
    )
    for page in pages:
        for image in page.get("imageDetails", []):
            if image.get("imageTags") or image.get("subjectManifestDigest"):
                continue
            if image.get("imageStatus", "ACTIVE") != "ACTIVE":
                continue
            pushed = image.get("imagePushedAt")
            pulled = image.get("lastRecordedPullTime")
            if (pushed and pushed > cutoff) or (pulled and pulled > cutoff):
                recent += 1
                continue
            stale += 1
            total += int(image.get("imageSizeInBytes") or 0)
            if pushed and (oldest is None or pushed < oldest):
                oldest = pushed
    return stale, recent, total, oldest


def _tags(ecr: Any, arn: str) -> dict[str, str]:
    answer = ecr.list_tags_for_resource(resourceArn=arn)
    return {t["Key"]: t.get("Value", "") for t in answer.get("tags") or []}
