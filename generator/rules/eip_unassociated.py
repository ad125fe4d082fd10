"""eip-unassociated: Elastic IPs attached to nothing, billed as public IPv4. Release them.

Undo: AllocateAddress asking for the same address, with its tags and reverse DNS. AWS gives
a released Amazon-pool address back only if no other customer has been given it meanwhile,
hence the grade best-effort. (An address from your own BYOIP pool always comes back.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from generator.aws.listings import ADDRESSES, Listing
from generator.aws.tags import HELD_FOR_ROLLBACK_TAG, restorable_tags, tag_list, tags_from_api
from generator.findings import Evidence, Finding, Reversibility, Risk, SkippedResource
from generator.iam.scopes import ELASTIC_IP, never_skipped, only
from generator.manifest import steps
from generator.manifest.models import AwsCall, Expectation, Lookup
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
from generator.state import state_key

AMAZON_POOL = "amazon"
CLOUDFORMATION_STACK_TAG = "aws:cloudformation:stack-name"
_IMPORTANT = re.compile(r"prod|do[-_ ]?not[-_ ]?(delete|release)|keep|critical|important", re.I)
_PTR_BATCH = 50


class EipUnassociatedSettings(RuleSettings):
    min_unassociated_days: int = Field(
        default=7,
        ge=0,
        description="Days reclaim's scans must have seen the address unassociated (AWS records "
        "no disassociation time; the state file's first-seen clock stands in).",
    )
    skip_cloudformation_managed: bool = Field(
        default=True,
        description="Leave addresses created by a CloudFormation stack to the stack: releasing "
        "them behind its back makes the stack drift.",
    )


class ElasticIp(BaseModel):
    """An Elastic IP as DescribeAddresses (and DescribeAddressesAttribute) describe it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allocation_id: str | None
    public_ip: str
    domain: str
    network_border_group: str | None = None
    public_ipv4_pool: str | None = None
    association_id: str | None = None
    instance_id: str | None = None
    network_interface_id: str | None = None
    private_ip: str | None = None
    customer_owned_ip: str | None = None
    carrier_ip: str | None = None
    service_managed: str | None = None
    tags: dict[str, str] = {}
    ptr_record: str | None = None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> ElasticIp:
        def text(key: str) -> str | None:
            return item.get(key) or None  # some endpoints send "" for "none"

        return cls(
            allocation_id=text("AllocationId"),
            public_ip=item["PublicIp"],
            domain=item.get("Domain", "standard"),
            network_border_group=text("NetworkBorderGroup"),
            public_ipv4_pool=text("PublicIpv4Pool"),
            association_id=text("AssociationId"),
            instance_id=text("InstanceId"),
            network_interface_id=text("NetworkInterfaceId"),
            private_ip=text("PrivateIpAddress"),
            customer_owned_ip=text("CustomerOwnedIp"),
            carrier_ip=text("CarrierIp"),
            service_managed=text("ServiceManaged"),
            tags=tags_from_api(item.get("Tags")),
        )

    @property
    def associated(self) -> bool:
        return bool(self.association_id or self.instance_id or self.network_interface_id)

    @property
    def restorable_tags(self) -> dict[str, str]:
        return restorable_tags(self.tags)

    @property
    def own_pool(self) -> bool:
        """From the customer's own (BYOIP) pool: nobody else can be given it."""
        return self.public_ipv4_pool not in (None, AMAZON_POOL)

    @property
    def custom_ptr(self) -> str | None:
        """The reverse DNS name someone set, without the trailing dot; None for AWS's own."""
        if not self.ptr_record:
            return None
        name = self.ptr_record.rstrip(".")
        return None if name.endswith(".amazonaws.com") else name

    def label(self) -> str:
        name = f" ({self.tags['Name']})" if self.tags.get("Name") else ""
        return f"Elastic IP {self.public_ip} ({self.allocation_id}){name}"


class UnassociatedAddress(BaseModel):
    """What the finding records: enough to re-derive the plan and to ask for the IP back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: ElasticIp
    unassociated_since: datetime
    skip_tag: str


class EipUnassociated(Rule[EipUnassociatedSettings, UnassociatedAddress]):
    name: ClassVar[str] = "eip-unassociated"
    summary: ClassVar[str] = "Elastic IPs associated with nothing (billed as public IPv4)"
    resource_type: ClassVar[str] = "AWS::EC2::EIP"
    reversibility: ClassVar[Reversibility] = "best-effort"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "Elastic IPs associated with nothing, seen so for `min_unassociated_days` (7; AWS "
            "records no disassociation time, the state file's first-seen clock stands in); "
            "CloudFormation-managed, service-managed, Outposts/Wavelength and EC2-Classic "
            "addresses are left alone"
        ),
        change="record IP, allocation, tags and reverse DNS (PTR), then ReleaseAddress",
        undo=(
            "AllocateAddress asking for the same IP (and its BYOIP pool), with its tags; the "
            "custom PTR is set again. **Fails if another AWS customer was given the IP meanwhile** "
            "(a BYOIP address cannot be lost)"
        ),
    )
    settings_model = EipUnassociatedSettings
    record_model = UnassociatedAddress
    bill_footprint: ClassVar[BillFootprint | None] = BillFootprint(
        own=r"ElasticIP:IdleAddress|PublicIPv4:IdleAddress"
    )
    listings: ClassVar[tuple[Listing, ...]] = (
        ADDRESSES.read_whole("the PTR records of all candidates are asked in batches first"),
    )
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset({("ec2", "DescribeAddresses"), ("ec2", "DescribeAddressesAttribute")}),
        apply=frozenset(
            {
                ("ec2", "DescribeAddresses"),
                ("ec2", "DescribeAddressesAttribute"),
                ("ec2", "ReleaseAddress"),
            }
        ),
        rollback=frozenset(
            {
                ("ec2", "DescribeAddresses"),
                ("ec2", "DescribeAddressesAttribute"),
                ("ec2", "AllocateAddress"),
                ("ec2", "ModifyAddressAttribute"),
            }
        ),
        scopes={
            "ec2:ReleaseAddress": never_skipped(
                ELASTIC_IP, "never an address carrying the skip tag"
            ),
            "ec2:AllocateAddress": only(
                ELASTIC_IP, why="Elastic IPs only, to recover a released address"
            ),
            "ec2:ModifyAddressAttribute": only(ELASTIC_IP, why="Elastic IPs only"),
        },
    )

    # ---- detection -------------------------------------------------------------------

    def scan(
        self, ctx: ScanContext, settings: EipUnassociatedSettings
    ) -> Iterator[Finding | SkippedResource]:
        ec2 = ctx.client("ec2")
        # DescribeAddresses returns every address of the region in one page, listed once for
        # the rules that read it (ec2-idle tells Elastic IPs from other public ones with it).
        addresses = [
            ElasticIp.from_api(item)
            for page in ctx.listing(ADDRESSES)
            for item in page.get("Addresses", [])
        ]
        yield from self.evaluate(ctx, settings, addresses, ec2)

    def evaluate(
        self,
        ctx: ScanContext,
        settings: EipUnassociatedSettings,
        addresses: list[ElasticIp],
        ec2: Any,
    ) -> Iterator[Finding | SkippedResource]:
        """Addresses as parsed from DescribeAddresses; ``ec2`` is asked only for the PTR
        records of the candidates."""
        candidates: list[tuple[ElasticIp, datetime]] = []
        threshold = timedelta(days=settings.min_unassociated_days)
        for address in addresses:
            if address.associated:
                continue  # in use: not this rule's business
            resource_id = address.allocation_id or address.public_ip
            since = ctx.state.first_seen(
                self.name, state_key(ctx.account_id, ctx.region, resource_id), ctx.as_of
            )
            reason = self._skip_reason(ctx, settings, address)
            if reason is None and ctx.as_of - since < threshold:
                reason = (
                    f"seen unassociated for {(ctx.as_of - since).days} day(s), under "
                    f"min_unassociated_days={settings.min_unassociated_days}"
                )
            if reason is not None:
                yield self.skipped(ctx, resource_id, reason)
            else:
                candidates.append((address, since))
        ptr = _ptr_records(ec2, [a.allocation_id for a, _ in candidates if a.allocation_id])
        for address, since in candidates:
            recorded = address.model_copy(
                update={"ptr_record": ptr.get(address.allocation_id or "")}
            )
            yield self._finding(ctx, recorded, since)

    def _skip_reason(
        self, ctx: ScanContext, settings: EipUnassociatedSettings, address: ElasticIp
    ) -> str | None:
        if address.allocation_id is None or address.domain != "vpc":
            return "EC2-Classic address (no allocation ID): AWS retired EC2-Classic"
        if address.service_managed:
            return f"managed by {address.service_managed}: release it through that service"
        if address.customer_owned_ip or address.carrier_ip:
            return "Outposts / Wavelength address: left to a human"
        held_for = address.tags.get(HELD_FOR_ROLLBACK_TAG)
        if held_for:
            return (
                f"held for the rollback of reclaim plan {held_for} (a deleted NAT gateway's "
                f"address): release it only once that plan is past rollback, by removing the "
                f"{HELD_FOR_ROLLBACK_TAG} tag"
            )
        stack = address.tags.get(CLOUDFORMATION_STACK_TAG)
        if stack and settings.skip_cloudformation_managed:
            return f"belongs to CloudFormation stack {stack!r}: remove it from the stack instead"
        return ctx.exclusions.reason_to_skip(address.allocation_id, address.tags)

    def _finding(self, ctx: ScanContext, address: ElasticIp, since: datetime) -> Finding:
        assert address.allocation_id is not None
        idle_days = (ctx.as_of - since).days
        risk, risk_reasons = _risk(address, idle_days)
        record = UnassociatedAddress(
            address=address, unassociated_since=since, skip_tag=ctx.exclusions.skip_tag
        )
        evidence = [
            Evidence(label="Association", value="none", source="DescribeAddresses"),
            Evidence(
                label="Seen unassociated since",
                value=f"{since.isoformat()} ({idle_days} days)",
                source="first seen by reclaim's scans (state file)",
            ),
            Evidence(
                label="Reverse DNS (PTR)",
                value=address.ptr_record or "none",
                source="DescribeAddressesAttribute domain-name",
            ),
            Evidence(
                label="Pool",
                value=address.public_ipv4_pool or AMAZON_POOL,
                source="DescribeAddresses",
            ),
        ]
        return self.new_finding(
            ctx,
            title=f"Release unassociated {address.label()}",
            cost=ctx.prices.public_ipv4_cost(region=ctx.region),
            risk=risk,
            risk_reasons=risk_reasons,
            evidence=evidence,
            record=record,
        )

    # ---- manifests (pure) --------------------------------------------------------------

    def resource_of(self, record: UnassociatedAddress) -> str:
        # Only VPC addresses (with an allocation ID) become findings: an empty part names none.
        return record.address.allocation_id or ""

    def tags_of(self, record: UnassociatedAddress) -> Mapping[str, str]:
        return record.address.tags

    def plan(self, finding: Finding, record: UnassociatedAddress) -> ManifestBody:
        address = record.address
        alloc = address.allocation_id
        assert alloc is not None
        by_allocation = AwsCall(
            service="ec2", operation="DescribeAddresses", params={"AllocationIds": [alloc]}
        )
        release_params: dict[str, JsonValue] = {"AllocationId": alloc}
        if address.network_border_group:
            release_params["NetworkBorderGroup"] = address.network_border_group
        release = AwsCall(service="ec2", operation="ReleaseAddress", params=release_params)
        plan_steps = (
            steps.precheck(
                "precheck",
                f"Read {alloc} and confirm it is still {address.public_ip}, associated with "
                f"nothing, without the skip tag, and with the recorded tags.",
                by_allocation,
                Expectation(
                    path="!(Addresses[0].AssociationId || Addresses[0].InstanceId || "
                    "Addresses[0].NetworkInterfaceId)",
                    equals=True,
                    what="associated with nothing",
                ),
                steps.skip_tag_key_absent(
                    record.skip_tag, keys_at="Addresses[0].Tags[].Key || `[]`"
                ),
                *_identity_expectations(address),
            ),
            steps.precheck(
                "precheck-ptr",
                "Confirm the reverse DNS (PTR) record is still "
                f"{address.ptr_record or 'unset'}, the value the rollback restores.",
                _ptr_call(alloc),
                Expectation(
                    path="Addresses[0].PtrRecord",
                    equals=address.ptr_record,
                    what="reverse DNS (PTR) record",
                ),
            ),
            steps.record(
                "record-ptr",
                "Record the address's reverse DNS (PTR) record in the journal, next to the "
                "address and tags the finding recorded.",
                _ptr_call(alloc),
                outputs={"PtrRecord": "Addresses[0].PtrRecord"},
            ),
            steps.dry_run(
                f"Ask EC2 whether ReleaseAddress {alloc} would be permitted (DryRun); "
                "anything but DryRunOperation stops the plan.",
                release,
            ),
            steps.change(
                "release",
                f"Release {address.public_ip} ({alloc}).",
                release,
                destroys_data=True,
                already_done=Lookup(
                    call=by_allocation, found_on_error="InvalidAllocationID.NotFound"
                ),
            ),
            steps.verify(
                "verify",
                f"Confirm {alloc} no longer exists.",
                by_allocation,
                expect_error="InvalidAllocationID.NotFound",
            ),
        )
        return ManifestBody(
            steps=plan_steps,
            notes=_plan_notes(address),
        )

    def rollback(self, finding: Finding, record: UnassociatedAddress) -> ManifestBody:
        address = record.address
        restored = ref("steps.allocate.AllocationId")
        allocate: dict[str, JsonValue] = {"Domain": "vpc", "Address": address.public_ip}
        if address.network_border_group:
            allocate["NetworkBorderGroup"] = address.network_border_group
        if address.own_pool:
            allocate["PublicIpv4Pool"] = address.public_ipv4_pool
        if address.restorable_tags:
            allocate["TagSpecifications"] = [
                {"ResourceType": "elastic-ip", "Tags": tag_list(address.restorable_tags)}
            ]
        ptr_attribute = AwsCall(
            service="ec2",
            operation="DescribeAddressesAttribute",
            params={"AllocationIds": [restored], "Attribute": "domain-name"},
        )
        ptr = address.custom_ptr
        rollback_steps = [
            steps.change(
                "allocate",
                f"Ask AWS for {address.public_ip} again (AllocateAddress with Address), "
                "with its recorded tags.",
                AwsCall(service="ec2", operation="AllocateAddress", params=allocate),
                outputs={"AllocationId": "AllocationId"},
                already_done=Lookup(
                    call=AwsCall(
                        service="ec2",
                        operation="DescribeAddresses",
                        params={"Filters": [{"Name": "public-ip", "Values": [address.public_ip]}]},
                    ),
                    found_when="length(Addresses) > `0`",
                    outputs={"AllocationId": "Addresses[0].AllocationId"},
                ),
                failure_hint=(
                    f"AWS would not give {address.public_ip} back: another AWS customer has "
                    "most likely been given it since it was released, and then it cannot be "
                    "recovered. Allocate a new address and update whatever named the old one."
                ),
            )
        ]
        if ptr:
            rollback_steps.append(
                steps.change(
                    "restore-ptr",
                    f"Set the reverse DNS (PTR) record back to {ptr}.",
                    AwsCall(
                        service="ec2",
                        operation="ModifyAddressAttribute",
                        params={"AllocationId": restored, "DomainName": ptr},
                    ),
                    already_done=Lookup(call=ptr_attribute, found_when=_ptr_is(ptr)),
                    failure_hint=(
                        f"AWS sets reverse DNS only while the forward DNS record {ptr} "
                        f"resolves to {address.public_ip}; restore that record first."
                    ),
                )
            )
        rollback_steps.append(
            steps.verify(
                "verify",
                f"Confirm {address.public_ip} is allocated again with the recorded domain, "
                "network border group, pool and tags.",
                AwsCall(
                    service="ec2",
                    operation="DescribeAddresses",
                    params={"AllocationIds": [restored]},
                ),
                *_identity_expectations(address),
            )
        )
        if ptr:
            rollback_steps.append(
                steps.verify(
                    "verify-ptr",
                    f"Confirm the reverse DNS record is {ptr} (or being set to it).",
                    ptr_attribute,
                    Expectation(path=_ptr_is(ptr), equals=True, what="reverse DNS"),
                )
            )
        return ManifestBody(
            steps=tuple(rollback_steps),
            notes=(
                f"The address comes back with a new allocation ID; {address.allocation_id} is "
                "not reused. Re-associate it with whatever needs it.",
            ),
        )


def _identity_expectations(address: ElasticIp) -> tuple[Expectation, ...]:
    """The recorded address, domain, border group, pool and tags."""
    root = "Addresses[0]"
    checks = [
        Expectation(path=f"{root}.PublicIp", equals=address.public_ip, what="public IP"),
        Expectation(path=f"{root}.Domain", equals=address.domain, what="domain"),
        steps.tags_unchanged(f"{root}.Tags", address.tags),
    ]
    if address.network_border_group:
        checks.append(
            Expectation(
                path=f"{root}.NetworkBorderGroup",
                equals=address.network_border_group,
                what="network border group",
            )
        )
    if address.public_ipv4_pool:
        checks.append(
            Expectation(
                path=f"{root}.PublicIpv4Pool", equals=address.public_ipv4_pool, what="IPv4 pool"
            )
        )
    return tuple(checks)


def _ptr_call(allocation_id: str) -> AwsCall:
    return AwsCall(
        service="ec2",
        operation="DescribeAddressesAttribute",
        params={"AllocationIds": [allocation_id], "Attribute": "domain-name"},
    )


def _ptr_is(name: str) -> str:
    """JMESPath: the PTR record is ``name`` (AWS may add the trailing dot), or an update to
    it is under way (AWS applies PTR changes asynchronously)."""
    spellings = json_literal([name, f"{name}."])
    return (
        f"contains({spellings}, Addresses[0].PtrRecord || '') || "
        f"contains({spellings}, Addresses[0].PtrRecordUpdate.Value || '')"
    )


def _ptr_records(ec2: Any, allocation_ids: list[str]) -> dict[str, str | None]:
    records: dict[str, str | None] = {}
    paginator = ec2.get_paginator("describe_addresses_attribute")
    for start in range(0, len(allocation_ids), _PTR_BATCH):
        batch = allocation_ids[start : start + _PTR_BATCH]
        for page in paginator.paginate(AllocationIds=batch, Attribute="domain-name"):
            for item in page.get("Addresses", []):
                records[item["AllocationId"]] = item.get("PtrRecord") or None
    return records


def _plan_notes(address: ElasticIp) -> tuple[str, ...]:
    notes = [
        f"Before merging, make sure nothing still names {address.public_ip}: DNS records, "
        "firewall and partner allow-lists, configuration.",
    ]
    if address.own_pool:
        notes.append(
            f"{address.public_ip} returns to your own pool {address.public_ipv4_pool}; the "
            "rollback takes it from there, so it cannot be lost to another customer."
        )
    else:
        notes.append(
            f"Recovery is best-effort: the rollback asks AWS for {address.public_ip} again, "
            "which works only if no other AWS customer has been given it meanwhile. If one "
            "has, the address is gone for good."
        )
    if address.custom_ptr:
        notes.append(
            f"The reverse DNS record {address.custom_ptr} (often a mail server's identity) "
            "goes with the address; the rollback sets it again, which AWS allows only while "
            f"{address.custom_ptr} resolves to {address.public_ip}."
        )
    return tuple(notes)


def _risk(address: ElasticIp, idle_days: int) -> tuple[Risk, list[str]]:
    if address.custom_ptr:
        return "high", [
            f"reverse DNS is set to {address.custom_ptr}: probably a mail or partner-facing "
            "identity"
        ]
    reasons: list[str] = []
    for key, value in address.tags.items():
        if _IMPORTANT.search(key) or _IMPORTANT.search(value):
            reasons.append(f"tag {key}={value!r} suggests someone meant to keep it")
            break
    if idle_days < 30:
        reasons.append(f"seen unassociated only {idle_days} days")
    if reasons:
        return "medium", reasons
    if address.own_pool:
        return "low", ["unassociated 30+ days; the address stays in your own pool"]
    return "low", ["unassociated 30+ days, no tag asking to keep it"]
