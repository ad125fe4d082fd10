"""elb-idle: detect → plan → apply → rollback on moto, opt-in included. Where moto differs
from AWS, the test says so: moto deletes a load balancer with deletion protection on (AWS
refuses), so reclaim's detection and pre-check are what keep it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from generator.errors import ConfigError, ManifestError, PrecheckFailed
from generator.planner import executable, plan_finding
from generator.rules.elb_idle import ElbIdleSettings
from tests import trusted
from tests.rule_harness import REGION, client, executor, planned, scan

RULE = "elb-idle"
# moto stamps a load balancer with the real time: the scan looks 15 days later.
AS_OF = datetime.now(UTC).replace(microsecond=0) + timedelta(days=15)
ON = ElbIdleSettings(remediate=True)


def world(ec2: Any, elb: Any, acm: Any, name: str = "web") -> dict[str, Any]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName=name, Description="lb", VpcId=vpc)["GroupId"]
    lb = elb.create_load_balancer(
        Name=name,
        Subnets=subnets,
        SecurityGroups=[group],
        Scheme="internal",
        Tags=[{"Key": "Name", "Value": name}, {"Key": "team", "Value": "web"}],
    )["LoadBalancers"][0]
    arn = lb["LoadBalancerArn"]
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=arn,
        Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}],
    )
    target = elb.create_target_group(Name=f"{name}-tg", Protocol="HTTP", Port=80, VpcId=vpc)
    group_arn = target["TargetGroups"][0]["TargetGroupArn"]
    default = acm.request_certificate(DomainName="example.com")["CertificateArn"]
    extra = acm.request_certificate(DomainName="api.example.com")["CertificateArn"]
    https = elb.create_listener(
        LoadBalancerArn=arn,
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        Certificates=[{"CertificateArn": default}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
    )["Listeners"][0]["ListenerArn"]
    elb.add_listener_certificates(ListenerArn=https, Certificates=[{"CertificateArn": extra}])
    elb.create_rule(
        ListenerArn=https,
        Priority=5,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": group_arn}],
    )
    elb.create_listener(
        LoadBalancerArn=arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
    )
    return {"arn": arn, "group": group_arn, "dns": lb["DNSName"], "name": name}


def state(elb: Any, arn: str) -> dict[str, Any]:
    """Every recorded attribute of a load balancer, without what a recreation changes (ARNs,
    DNS name, creation time)."""
    lb = elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    listeners = []
    for item in sorted(
        elb.describe_listeners(LoadBalancerArn=arn)["Listeners"], key=lambda x: x["Port"]
    ):
        rules = elb.describe_rules(ListenerArn=item["ListenerArn"])["Rules"]
        certificates = elb.describe_listener_certificates(ListenerArn=item["ListenerArn"])
        listeners.append(
            {
                "Port": item["Port"],
                "Protocol": item["Protocol"],
                "SslPolicy": item.get("SslPolicy") if item["Protocol"] == "HTTPS" else None,
                "Certificates": sorted(c["CertificateArn"] for c in certificates["Certificates"]),
                "DefaultActions": item["DefaultActions"],
                "Rules": sorted(
                    (r["Priority"], repr(r["Conditions"]), repr(r["Actions"]))
                    for r in rules
                    if r["Priority"] != "default"
                ),
            }
        )
    return {
        "Name": lb["LoadBalancerName"],
        "Type": lb["Type"],
        "Scheme": lb["Scheme"],
        "IpAddressType": lb.get("IpAddressType"),
        "Subnets": sorted(z["SubnetId"] for z in lb["AvailabilityZones"]),
        "SecurityGroups": sorted(lb.get("SecurityGroups", [])),
        "Attributes": sorted(
            (a["Key"], a["Value"])
            for a in elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        ),
        "Tags": sorted(
            (t["Key"], t["Value"])
            for t in elb.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
        ),
        "Listeners": listeners,
    }


def clients() -> tuple[Any, Any, Any]:
    return client("ec2"), client("elbv2"), client("acm")


@mock_aws
def test_by_default_an_idle_load_balancer_is_reported_never_planned() -> None:
    made = world(*clients())
    finding = scan(RULE, as_of=AS_OF).only()
    assert finding.resource_id == made["arn"]
    assert finding.reversibility == "report-only"
    assert executable([finding]) == []
    with pytest.raises(ManifestError, match="remediate: true"):
        plan_finding(finding)


@mock_aws
def test_detect_records_listeners_rules_certificates_and_leaves_the_protected_alone() -> None:
    ec2, elb, acm = clients()
    made = world(ec2, elb, acm)
    protected = world(ec2, elb, acm, name="keep")
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=protected["arn"],
        Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}],
    )
    aliased = world(ec2, elb, acm, name="named")
    route53 = client("route53")
    zone = route53.create_hosted_zone(Name="example.com", CallerReference="z")["HostedZone"]["Id"]
    route53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": "www.example.com",
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": "Z35SXDOTRQ7X7K",
                            "DNSName": f"dualstack.{aliased['dns'].upper()}.",
                            "EvaluateTargetHealth": False,
                        },
                    },
                }
            ]
        },
    )
    busy = world(ec2, elb, acm, name="busy")
    client("cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": "RequestCount",
                "Dimensions": [
                    {"Name": "LoadBalancer", "Value": busy["arn"].split(":loadbalancer/")[1]}
                ],
                "Timestamp": AS_OF - timedelta(days=1),
                "Value": 12.0,
            }
        ],
    )

    detected = scan(RULE, as_of=AS_OF, settings=ON)

    finding = detected.only()
    assert finding.resource_id == made["arn"]
    assert finding.reversibility == "best-effort"
    assert finding.cost.monthly_usd == pytest.approx(0.0225 * 730, abs=0.01)
    record = finding.resource
    https, http = sorted(record["listeners"], key=lambda x: -x["port"])
    assert (https["protocol"], https["ssl_policy"]) == (
        "HTTPS",
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
    )
    assert https["default_certificate"] and len(https["extra_certificates"]) == 1
    assert [r["priority"] for r in https["rules"]] == [5]
    assert http["ssl_policy"] is None and http["rules"] == []
    assert record["target_groups"] == [made["group"]]
    assert record["load_balancer"]["attributes"]["load_balancing.cross_zone.enabled"] == "true"
    assert "deletion protection" in detected.skip_reason(protected["arn"])
    assert "www.example.com" in detected.skip_reason(aliased["arn"])
    assert "RequestCount reached 12" in detected.skip_reason(busy["arn"])


@mock_aws
def test_route53_refused_is_unknown_and_nothing_is_proposed() -> None:
    made = world(*clients())

    def factory(service: str) -> Any:
        made_client = boto3.client(service, region_name=REGION)
        if service == "route53":

            def deny(**_: Any) -> None:
                raise ClientError(
                    {"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListHostedZones"
                )

            made_client.meta.events.register("before-call.route53.ListHostedZones", deny)
        return made_client

    detected = scan(RULE, as_of=AS_OF, settings=ON, client_factory=factory)
    assert detected.findings == []
    assert "Route 53 refused" in detected.skip_reason(made["arn"])


@mock_aws
def test_apply_deletes_keeping_target_groups_and_rollback_restores_every_recorded_attribute(
    tmp_path: Path,
) -> None:
    ec2, elb, acm = clients()
    made = world(ec2, elb, acm)
    before = state(elb, made["arn"])
    folder = planned(scan(RULE, as_of=AS_OF, settings=ON).only(), tmp_path)
    run = executor()

    run.apply(folder)

    with pytest.raises(ClientError, match="LoadBalancerNotFound"):
        elb.describe_load_balancers(LoadBalancerArns=[made["arn"]])
    assert elb.describe_target_groups(TargetGroupArns=[made["group"]])["TargetGroups"]

    result = run.rollback(folder)
    new = result.output("create", "LoadBalancerArn")
    assert isinstance(new, str) and new != made["arn"]
    assert state(elb, new) == before


@mock_aws
def test_apply_refuses_when_the_default_branch_does_not_opt_in(tmp_path: Path) -> None:
    _, elb, _ = clients()
    made = world(*clients()[:1], elb, client("acm"), name="forged")
    folder = planned(scan(RULE, as_of=AS_OF, settings=ON).only(), tmp_path)
    # The PR was planned with remediate: true; the default branch's reclaim.yml says no.
    trusted.remember(trusted.config_for_rule(RULE, ElbIdleSettings()), AS_OF)
    with pytest.raises(ConfigError, match="remediate"):
        executor().apply(folder)
    assert elb.describe_load_balancers(LoadBalancerArns=[made["arn"]])["LoadBalancers"]


@mock_aws
def test_apply_refuses_once_deletion_protection_is_on(tmp_path: Path) -> None:
    """moto deletes a protected load balancer; AWS refuses. reclaim refuses first."""
    _, elb, _ = clients()
    made = world(client("ec2"), elb, client("acm"))
    folder = planned(scan(RULE, as_of=AS_OF, settings=ON).only(), tmp_path)
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=made["arn"],
        Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}],
    )
    with pytest.raises(PrecheckFailed):
        executor().apply(folder)
    assert elb.describe_load_balancers(LoadBalancerArns=[made["arn"]])["LoadBalancers"]


@mock_aws
def test_network_load_balancer_round_trip(tmp_path: Path) -> None:
    ec2, elb = client("ec2"), client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    arn = elb.create_load_balancer(Name="net", Subnets=[subnet], Type="network", Scheme="internal")[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    group = elb.create_target_group(Name="ssh", Protocol="TCP", Port=22, VpcId=vpc)
    elb.create_listener(
        LoadBalancerArn=arn,
        Protocol="TCP",
        Port=22,
        DefaultActions=[
            {"Type": "forward", "TargetGroupArn": group["TargetGroups"][0]["TargetGroupArn"]}
        ],
    )
    before = state(elb, arn)
    finding = scan(RULE, as_of=AS_OF, settings=ON).only()
    assert finding.cost.basis.startswith("1 Network Load Balancer")
    assert finding.resource["listeners"][0]["ssl_policy"] is None  # TCP: no SSL policy
    folder = planned(finding, tmp_path)
    run = executor()
    run.apply(folder)
    new = run.rollback(folder).output("create", "LoadBalancerArn")
    assert state(elb, str(new)) == before
