"""ecr-no-lifecycle: report-only, priced at ECR storage, counting only stale untagged images."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from generator.planner import executable
from generator.rules import RULES
from tests.rule_harness import client, scan

RULE = "ecr-no-lifecycle"
GIB = 1024**3
LATER = datetime.now(UTC) + timedelta(days=30)  # every image moto pushes now is 30 days old


def push(ecr: Any, repository: str, size_bytes: int, tag: str | None = None) -> None:
    """One image; moto reports the config blob's size as the image size, and digests it
    from the layer digests, so each call gets a layer of its own."""
    layer = hashlib.sha256(f"{repository}{size_bytes}{tag}{push.count}".encode()).hexdigest()
    push.count += 1
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"size": size_bytes, "digest": "sha256:" + "c" * 64},
        "layers": [{"size": size_bytes, "digest": f"sha256:{layer}"}],
    }
    extra = {"imageTag": tag} if tag else {}
    ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), **extra)


push.count = 0  # type: ignore[attr-defined]


@mock_aws
def test_untagged_images_without_a_lifecycle_policy_are_priced_at_ecr_storage() -> None:
    ecr = client("ecr")
    ecr.create_repository(repositoryName="team/api")
    for _ in range(3):
        push(ecr, "team/api", 5 * GIB)  # 15 GiB untagged
    push(ecr, "team/api", 40 * GIB, tag="v1")  # tagged: not waste

    found = scan(RULE, as_of=LATER)

    finding = found.only()
    assert finding.reversibility == "report-only"
    assert finding.resource_id == "team/api"
    assert finding.id.startswith("ecr-no-lifecycle-123456789012-us-east-1-team-api-")
    assert finding.cost.monthly_usd == pytest.approx(1.5)  # 15 GiB x $0.10
    assert "3 untagged image(s), 15.00 GiB x $0.1/GB-month" in finding.cost.basis
    assert "stored once" in finding.cost.basis  # an upper bound, and it says so
    assert executable([finding]) == []


@mock_aws
def test_a_policy_expiring_untagged_images_small_repositories_and_recent_images() -> None:
    ecr = client("ecr")
    for name in ("covered", "tagged-only-policy", "small", "fresh"):
        ecr.create_repository(repositoryName=name)
    ecr.put_lifecycle_policy(
        repositoryName="covered",
        lifecyclePolicyText=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "selection": {
                            "tagStatus": "untagged",
                            "countType": "sinceImagePushed",
                            "countUnit": "days",
                            "countNumber": 7,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
    )
    ecr.put_lifecycle_policy(
        repositoryName="tagged-only-policy",
        lifecyclePolicyText=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "selection": {
                            "tagStatus": "tagged",
                            "tagPrefixList": ["dev"],
                            "countType": "imageCountMoreThan",
                            "countNumber": 5,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
    )
    push(ecr, "covered", 50 * GIB)
    push(ecr, "tagged-only-policy", 50 * GIB)
    push(ecr, "small", 5 * GIB)  # $0.50/month
    push(ecr, "fresh", 50 * GIB)

    found = scan(RULE, as_of=LATER)
    recent = scan(RULE, as_of=datetime.now(UTC) + timedelta(days=1))

    assert "expires untagged images already" in found.skip_reason("covered")
    gap = found.finding("tagged-only-policy")
    assert any(e.value == "1 rule(s), none expiring untagged images" for e in gap.evidence)
    assert "$0.50/month, not more than min_monthly_usd=1.0" in found.skip_reason("small")
    # pushed a day ago: may be what a deployment pins by digest, so not counted
    assert "0 stale untagged image(s)" in recent.skip_reason("fresh")


@mock_aws
def test_the_skip_tag_on_a_repository_leaves_it_alone() -> None:
    ecr = client("ecr")
    ecr.create_repository(repositoryName="kept", tags=[{"Key": "reclaim:skip", "Value": "ours"}])
    push(ecr, "kept", 50 * GIB)
    found = scan(RULE, as_of=LATER)
    assert found.findings == [] and "skip tag" in found.skip_reason("kept")


def test_settings_have_bounds() -> None:
    model = RULES[RULE].settings_model
    with pytest.raises(ValueError):
        model(min_monthly_usd=-1)
