"""ec2-previous-generation: report-only, priced as the On-Demand difference, never planned."""

from __future__ import annotations

from typing import Any

import pytest
from moto import mock_aws

from generator.errors import ManifestError
from generator.planner import executable
from generator.rules import RULES
from generator.rules.ec2_previous_generation import SUCCESSOR_FAMILY, equivalent_type
from tests.rule_harness import client, scan

RULE = "ec2-previous-generation"


def launch(ec2: Any, instance_type: str, **extra: Any) -> str:
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=instance_type, **extra
    )["Instances"][0]
    return str(instance["InstanceId"])


@mock_aws
def test_previous_generation_instances_are_priced_against_their_current_equivalent() -> None:
    ec2 = client("ec2")
    m4 = launch(
        ec2,
        "m4.large",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "api"}]}],
    )
    t2 = launch(ec2, "t2.micro")
    c4 = launch(ec2, "c4.large")
    current = launch(ec2, "m5.large")

    found = scan(RULE)

    m4_finding = found.finding(m4)
    assert m4_finding.reversibility == "report-only"
    assert m4_finding.title == f"Move m4.large instance {m4} (api) to m5.large"
    # (m4.large $0.10/h - m5.large $0.096/h) x 730 h
    assert m4_finding.cost.monthly_usd == pytest.approx(2.92)
    assert "m4.large $0.1/h - m5.large $0.096/h" in m4_finding.cost.basis
    assert any("Nitro" in reason and "ENA" in reason for reason in m4_finding.risk_reasons)
    # t2 → t3: the credit default differs, and the bill can grow if nobody says so
    t2_finding = found.finding(t2)
    assert t2_finding.cost.monthly_usd == pytest.approx((0.0116 - 0.0104) * 730, abs=0.01)
    assert any("unlimited CPU credits" in reason for reason in t2_finding.risk_reasons)
    assert found.finding(c4).cost.monthly_usd == pytest.approx((0.10 - 0.085) * 730, abs=0.01)
    # a current-generation instance is not looked at at all
    assert current not in {f.resource_id for f in found.findings}
    assert current not in {s.resource_id for s in found.skipped}


@mock_aws
def test_no_same_size_equivalent_or_an_unpriced_one_is_said() -> None:
    ec2 = client("ec2")
    medium = launch(ec2, "m3.medium")  # m5 has no medium size
    unpriced = launch(ec2, "r4.large")  # r4 has no bundled price

    found = scan(RULE)

    assert "no same-size current-generation equivalent of m3.medium" in found.skip_reason(medium)
    assert "m5.medium is not" in found.skip_reason(medium)
    # still reported: the price is unknown, never $0 presented as a saving
    r4 = found.finding(unpriced)
    assert r4.cost.unknown and "no bundled On-Demand price for r4.large" in r4.cost.basis


@mock_aws
def test_spot_the_skip_tag_and_a_saving_under_the_threshold_are_left_alone() -> None:
    ec2 = client("ec2")
    spot = launch(ec2, "m4.large", InstanceMarketOptions={"MarketType": "spot"})
    tagged = launch(
        ec2,
        "m4.large",
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "reclaim:skip", "Value": "yes"}]}
        ],
    )
    small = launch(ec2, "t2.nano")

    settings = RULES[RULE].settings_model(min_monthly_savings_usd=1.0)
    found = scan(RULE, settings=settings)

    assert found.findings == []
    assert "spot instance" in found.skip_reason(spot)
    assert "skip tag" in found.skip_reason(tagged)
    assert "min_monthly_savings_usd=1.0" in found.skip_reason(small)


@mock_aws
def test_a_finding_is_never_planned() -> None:
    ec2 = client("ec2")
    launch(ec2, "m4.large")
    finding = scan(RULE).only()
    assert executable([finding]) == []
    with pytest.raises(ManifestError, match="report-only"):
        RULES[RULE].build_plan(finding)


def test_every_successor_is_a_family_of_its_own() -> None:
    assert equivalent_type("m4.2xlarge") == "m5.2xlarge"
    assert equivalent_type("m6i.large") is None
    assert not set(SUCCESSOR_FAMILY.values()) & set(SUCCESSOR_FAMILY)
