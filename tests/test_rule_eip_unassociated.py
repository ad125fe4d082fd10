"""eip-unassociated: detect on moto, apply, roll back, and compare with the original.

moto has no reverse DNS (DescribeAddressesAttribute returns no PtrRecord and
ModifyAddressAttribute is not implemented), so `ReverseDns` answers those two calls in
front of moto, keyed by public IP the way AWS keeps it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from generator.errors import AwsCallFailed, PrecheckFailed
from generator.findings import Cost, Finding
from generator.manifest.folder import RemediationFolder
from generator.manifest.validation import validate_pair
from generator.rules import RULES
from generator.rules.eip_unassociated import EipUnassociated, ElasticIp, UnassociatedAddress
from generator.state import SeenState
from tests.factories import finding_of
from tests.rule_harness import (
    MOTO_ACCOUNT,
    context,
    detect,
    executor,
    journal,
    moto_client,
    planned,
)

RULE = "eip-unassociated"
NOW = datetime(2026, 11, 28, tzinfo=UTC)


class _Http:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}


class ReverseDns:
    """Reverse DNS for moto's addresses: answers the two PTR calls before they reach moto."""

    def __init__(self) -> None:
        self.ptr: dict[str, str] = {}
        self.allocation_fails_with: str | None = None

    def client(self, service: str, region: str = "us-east-1") -> Any:
        client = moto_client(service, region)
        if service == "ec2":
            events = client.meta.events
            # before-call sees the serialized request; keep the API parameters for it.
            events.register("before-parameter-build.ec2", _keep_api_params)
            events.register("before-call.ec2.DescribeAddressesAttribute", self._describe)
            events.register("before-call.ec2.ModifyAddressAttribute", self._modify)
            events.register("before-call.ec2.AllocateAddress", self._allocate)
        return client

    def _ip_of(self, allocation_id: str) -> str | None:
        for address in moto_client("ec2").describe_addresses()["Addresses"]:
            if address.get("AllocationId") == allocation_id:
                return str(address["PublicIp"])
        return None

    def _describe(self, context: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]]:
        params = context["api_params"]
        found = []
        for allocation_id in params.get("AllocationIds", []):
            ip = self._ip_of(allocation_id)
            if ip is not None:
                entry = {"AllocationId": allocation_id, "PublicIp": ip}
                if ip in self.ptr:
                    entry["PtrRecord"] = self.ptr[ip]
                found.append(entry)
        return _Http(200), {"Addresses": found}

    def _modify(self, context: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]]:
        params = context["api_params"]
        ip = self._ip_of(params["AllocationId"])
        assert ip is not None
        self.ptr[ip] = params["DomainName"] + "."
        return _Http(200), {"Address": {"AllocationId": params["AllocationId"], "PublicIp": ip}}

    def _allocate(self, **_: Any) -> tuple[_Http, dict[str, Any]] | None:
        if self.allocation_fails_with is None:
            return None
        error = {"Code": self.allocation_fails_with, "Message": "Address is not available"}
        return _Http(400), {"Error": error}


def _keep_api_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["api_params"] = dict(params)


@pytest.fixture
def dns() -> Any:
    with mock_aws():
        yield ReverseDns()


def _allocate(tags: dict[str, str] | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if tags:
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        extra["TagSpecifications"] = [{"ResourceType": "elastic-ip", "Tags": tag_list}]
    return moto_client("ec2").allocate_address(Domain="vpc", **extra)  # type: ignore[no-any-return]


def _state(public_ip: str, dns: ReverseDns) -> dict[str, Any]:
    """Every attribute AWS reports for the address, its reverse DNS, minus the allocation
    and association IDs that AWS issues anew."""
    found = moto_client("ec2").describe_addresses(
        Filters=[{"Name": "public-ip", "Values": [public_ip]}]
    )["Addresses"]
    assert len(found) == 1, found
    entry = dict(found[0])
    entry.pop("AllocationId")
    entry["Tags"] = sorted(entry.get("Tags", []), key=lambda t: t["Key"])
    return {**entry, "PtrRecord": dns.ptr.get(public_ip)}


def _eni() -> str:
    ec2 = moto_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    return str(
        ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    )


def _detect(dns: ReverseDns, **settings: Any) -> Any:
    ctx = context(as_of=NOW, client=dns.client)
    return detect(RULE, ctx, **{"min_unassociated_days": 0, **settings})


def test_detects_unassociated_addresses_and_leaves_the_rest(dns: ReverseDns) -> None:
    idle = _allocate({"Name": "old-nat"})
    used = _allocate()
    moto_client("ec2").associate_address(
        AllocationId=used["AllocationId"], NetworkInterfaceId=_eni()
    )
    kept = _allocate({"reclaim:skip": "true"})
    stacked = _allocate({"aws:cloudformation:stack-name": "edge"})

    result = _detect(dns)

    finding = result.only()
    assert finding.resource_id == idle["AllocationId"]
    assert finding.id == f"eip-unassociated-{MOTO_ACCOUNT}-us-east-1-{idle['AllocationId']}"
    assert finding.reversibility == "best-effort"
    assert finding.cost.monthly_usd == 3.65  # $0.005/h x 730 h
    assert "skip tag" in result.skip_reason(kept["AllocationId"])
    assert "CloudFormation stack 'edge'" in result.skip_reason(stacked["AllocationId"])
    assert used["AllocationId"] not in {s.resource_id for s in result.skipped}


def test_new_addresses_wait_for_the_first_seen_clock(dns: ReverseDns, tmp_path: Path) -> None:
    address = _allocate()
    state = SeenState(tmp_path / "state.json")

    def scan(as_of: datetime) -> Any:
        ctx = context(as_of=as_of, client=dns.client)
        ctx = type(ctx)(**{**ctx.__dict__, "state": state})
        return detect(RULE, ctx)

    first = scan(NOW)
    assert first.findings == []
    assert "under min_unassociated_days=7" in first.skip_reason(address["AllocationId"])
    assert scan(NOW + timedelta(days=8)).only().resource_id == address["AllocationId"]


def test_release_then_rollback_restores_ip_tags_and_reverse_dns(
    dns: ReverseDns, tmp_path: Path
) -> None:
    address = _allocate({"Name": "smtp-out", "team": "mail"})
    dns.ptr[address["PublicIp"]] = "mail.example.com."
    original = _state(address["PublicIp"], dns)
    finding = _detect(dns).only()
    assert finding.risk == "high"
    folder = planned(finding, tmp_path)

    executor(dns.client).apply(folder)
    assert moto_client("ec2").describe_addresses()["Addresses"] == []
    assert journal(folder)["apply"]["steps"][2]["outputs"] == {"PtrRecord": "mail.example.com."}
    dns.ptr.clear()  # AWS drops the PTR with the address

    result = executor(dns.client).rollback(folder)

    assert [s.step_id for s in result.steps] == ["allocate", "restore-ptr", "verify", "verify-ptr"]
    assert _state(address["PublicIp"], dns) == original
    assert result.output("allocate", "AllocationId") != address["AllocationId"]


def test_rollback_without_reverse_dns_only_allocates_and_tags(
    dns: ReverseDns, tmp_path: Path
) -> None:
    address = _allocate({"Name": "spare"})
    original = _state(address["PublicIp"], dns)
    folder = planned(_detect(dns).only(), tmp_path)
    executor(dns.client).apply(folder)

    result = executor(dns.client).rollback(folder)

    assert [s.step_id for s in result.steps] == ["allocate", "verify"]
    assert _state(address["PublicIp"], dns) == original


def test_apply_stops_when_the_address_was_associated_since_the_scan(
    dns: ReverseDns, tmp_path: Path
) -> None:
    address = _allocate()
    folder = planned(_detect(dns).only(), tmp_path)
    moto_client("ec2").associate_address(
        AllocationId=address["AllocationId"], NetworkInterfaceId=_eni()
    )

    with pytest.raises(PrecheckFailed, match="associated with nothing"):
        executor(dns.client).apply(folder)
    assert len(moto_client("ec2").describe_addresses()["Addresses"]) == 1


def test_apply_stops_when_the_reverse_dns_changed_since_the_scan(
    dns: ReverseDns, tmp_path: Path
) -> None:
    address = _allocate()
    folder = planned(_detect(dns).only(), tmp_path)
    dns.ptr[address["PublicIp"]] = "new.example.com."

    with pytest.raises(PrecheckFailed, match="reverse DNS"):
        executor(dns.client).apply(folder)
    assert len(moto_client("ec2").describe_addresses()["Addresses"]) == 1


def test_rollback_says_plainly_when_the_address_was_taken(dns: ReverseDns, tmp_path: Path) -> None:
    _allocate()
    folder = planned(_detect(dns).only(), tmp_path)
    executor(dns.client).apply(folder)
    dns.allocation_fails_with = "InvalidAddress.NotFound"

    with pytest.raises(AwsCallFailed) as error:
        executor(dns.client).rollback(folder)

    assert "another AWS customer" in str(error.value.hint)
    assert journal(folder)["rollback"]["status"] == "failed"
    assert moto_client("ec2").describe_addresses()["Addresses"] == []


def test_manifests_validate_and_the_pr_says_recovery_may_fail(
    dns: ReverseDns, tmp_path: Path
) -> None:
    _allocate()
    folder = planned(_detect(dns).only(), tmp_path)
    remediation = RemediationFolder(folder)
    validate_pair(remediation.load_plan(), remediation.load_rollback(), RULES)
    readme = " ".join((folder / "README.md").read_text().split())
    assert "best-effort" in readme
    assert "the address is gone for good" in readme


def _finding_for(address: ElasticIp) -> Finding:
    record = UnassociatedAddress(address=address, unassociated_since=NOW, skip_tag="reclaim:skip")
    return finding_of(
        RULE,
        record,
        account=MOTO_ACCOUNT,
        cost=Cost(monthly_usd=3.65, estimated=False, price_region="us-east-1", basis="b"),
        as_of=NOW,
    )


def test_byoip_address_is_taken_back_from_its_own_pool() -> None:
    address = ElasticIp(
        allocation_id="eipalloc-0123456789abcdef0",
        public_ip="198.51.100.7",
        domain="vpc",
        network_border_group="us-east-1",
        public_ipv4_pool="ipv4pool-ec2-0123456789abcdef0",
        tags={"Name": "byoip", "aws:cloudformation:logical-id": "X"},
    )
    finding = _finding_for(address)
    rule = EipUnassociated()
    allocate = rule.build_rollback(finding).step("allocate").call.params
    assert allocate == {
        "Domain": "vpc",
        "Address": "198.51.100.7",
        "NetworkBorderGroup": "us-east-1",
        "PublicIpv4Pool": "ipv4pool-ec2-0123456789abcdef0",
        # aws: tags cannot be set by anyone but AWS
        "TagSpecifications": [
            {"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "byoip"}]}
        ],
    }
    release = rule.build_plan(finding).step("release").call.params
    assert release == {
        "AllocationId": "eipalloc-0123456789abcdef0",
        "NetworkBorderGroup": "us-east-1",
    }
    assert any("own pool" in note for note in rule.build_plan(finding).notes)


def test_amazon_default_reverse_dns_is_not_restored() -> None:
    address = ElasticIp(
        allocation_id="eipalloc-0123456789abcdef1",
        public_ip="3.3.3.3",
        domain="vpc",
        ptr_record="ec2-3-3-3-3.compute-1.amazonaws.com.",
    )
    steps = [s.id for s in EipUnassociated().build_rollback(_finding_for(address)).steps]
    assert steps == ["allocate", "verify"]
