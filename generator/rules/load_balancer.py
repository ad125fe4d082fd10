"""An Application or Network Load Balancer as the elbv2 describes answer it, in the shape
elb-idle records and the Create calls take back: the load balancer, its attributes, its
listeners (protocol, port, SSL policy, certificates, default actions) and their rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue

from generator.aws.tags import tags_from_api

LbType = Literal["application", "network"]
SECURE_PROTOCOLS = frozenset({"HTTPS", "TLS"})
SELF_ANSWERING_ACTIONS = frozenset({"fixed-response", "redirect"})
"""Actions that answer requests without a target: a load balancer with no targets that
uses one still serves someone."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenerRule(_Frozen):
    priority: int
    conditions: tuple[dict[str, JsonValue], ...]
    actions: tuple[dict[str, JsonValue], ...]


class ListenerSpec(_Frozen):
    port: int
    protocol: str
    ssl_policy: str | None = None
    default_certificate: str | None = None
    extra_certificates: tuple[str, ...] = ()
    alpn_policy: tuple[str, ...] = ()
    default_actions: tuple[dict[str, JsonValue], ...]
    rules: tuple[ListenerRule, ...] = ()

    def create_params(self) -> dict[str, JsonValue]:
        """CreateListener's parameters, without the load balancer."""
        params: dict[str, JsonValue] = {
            "Protocol": self.protocol,
            "Port": self.port,
            "DefaultActions": list(self.default_actions),
        }
        if self.ssl_policy:
            params["SslPolicy"] = self.ssl_policy
        if self.default_certificate:
            params["Certificates"] = [{"CertificateArn": self.default_certificate}]
        if self.alpn_policy:
            params["AlpnPolicy"] = list(self.alpn_policy)
        return params

    def actions(self) -> Iterable[Mapping[str, Any]]:
        yield from self.default_actions
        for rule in self.rules:
            yield from rule.actions


class LoadBalancerSpec(_Frozen):
    arn: str
    name: str
    type: LbType
    scheme: str
    ip_address_type: str
    vpc_id: str
    dns_name: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...] = ()
    created: str
    tags: dict[str, str] = {}
    attributes: dict[str, str] = {}

    @property
    def metric_dimension(self) -> str:
        """CloudWatch's LoadBalancer dimension: the ARN after ``loadbalancer/``."""
        return self.arn.split(":loadbalancer/", 1)[-1]

    def label(self) -> str:
        kind = "Application" if self.type == "application" else "Network"
        return f"{kind} Load Balancer {self.name}"


def unsupported(item: Mapping[str, Any]) -> str | None:
    """Why reclaim cannot record this load balancer so that CreateLoadBalancer makes it
    again, or None."""
    kind = item.get("Type")
    if kind not in ("application", "network"):
        return f"{kind} load balancer: elb-idle judges Application and Network Load Balancers"
    if item.get("CustomerOwnedIpv4Pool") or item.get("IpamPools"):
        return "addresses from a customer-owned or IPAM pool: left to a human"
    for zone in item.get("AvailabilityZones") or []:
        if zone.get("OutpostId"):
            return "on an Outpost: left to a human"
        for address in zone.get("LoadBalancerAddresses") or []:
            if address.get("AllocationId") or address.get("PrivateIPv4Address"):
                return "fixed Elastic IPs or private IPs per subnet: left to a human"
    return None


def parse_load_balancer(
    item: Mapping[str, Any], tags: Mapping[str, str], attributes: Iterable[Mapping[str, Any]]
) -> LoadBalancerSpec:
    return LoadBalancerSpec(
        arn=item["LoadBalancerArn"],
        name=item["LoadBalancerName"],
        type=item["Type"],
        scheme=item.get("Scheme", "internet-facing"),
        ip_address_type=item.get("IpAddressType", "ipv4"),
        vpc_id=item.get("VpcId", ""),
        dns_name=item.get("DNSName", ""),
        subnets=tuple(sorted(z["SubnetId"] for z in item.get("AvailabilityZones") or [])),
        security_groups=tuple(sorted(item.get("SecurityGroups") or [])),
        created=_iso(item.get("CreatedTime")),
        tags=dict(sorted(tags.items())),
        attributes={a["Key"]: a.get("Value", "") for a in sorted(attributes, key=_key)},
    )


def _key(attribute: Mapping[str, Any]) -> str:
    return str(attribute["Key"])


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value or "")


def action(item: Mapping[str, Any]) -> dict[str, JsonValue]:
    """An action as Create calls take it: the ``ForwardConfig`` form of a forward when AWS
    answers both forms (it does), never both."""
    result = {k: v for k, v in item.items() if v not in (None, [], {})}
    if "ForwardConfig" in result:
        result.pop("TargetGroupArn", None)
    return result


def condition(item: Mapping[str, Any]) -> dict[str, JsonValue]:
    """A rule condition as CreateRule takes it: the ``*Config`` form when AWS answers both
    it and the legacy ``Values`` (it does), never both."""
    result = {k: v for k, v in item.items() if v not in (None, [], {})}
    if any(k.endswith("Config") for k in result):
        result.pop("Values", None)
    return result


def unsupported_listener(item: Mapping[str, Any]) -> str | None:
    """Why reclaim cannot make this listener again from its record, or None."""
    mode = (item.get("MutualAuthentication") or {}).get("Mode")
    if mode and mode != "off":
        return f"listener {item.get('Port')} uses mutual TLS ({mode}): left to a human"
    return None


def parse_listener(
    item: Mapping[str, Any],
    rules: Iterable[Mapping[str, Any]],
    certificates: Iterable[Mapping[str, Any]],
) -> ListenerSpec:
    protocol = item["Protocol"]
    secure = protocol in SECURE_PROTOCOLS
    listed: list[Mapping[str, Any]] = item.get("Certificates") or []
    default = listed[0].get("CertificateArn") if listed else None
    extra = sorted(
        c["CertificateArn"]
        for c in certificates
        if not c.get("IsDefault") and c.get("CertificateArn") != default
    )
    return ListenerSpec(
        port=item["Port"],
        protocol=protocol,
        ssl_policy=item.get("SslPolicy") if secure else None,
        default_certificate=default if secure else None,
        extra_certificates=tuple(extra) if secure else (),
        alpn_policy=tuple(item.get("AlpnPolicy") or ()),
        default_actions=tuple(action(a) for a in _ordered(item.get("DefaultActions") or [])),
        rules=tuple(
            sorted(
                (
                    ListenerRule(
                        priority=int(rule["Priority"]),
                        conditions=tuple(condition(c) for c in rule.get("Conditions") or []),
                        actions=tuple(action(a) for a in _ordered(rule.get("Actions") or [])),
                    )
                    for rule in rules
                    if not rule.get("IsDefault") and rule.get("Priority") != "default"
                ),
                key=lambda r: r.priority,
            )
        ),
    )


def _ordered(actions: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(actions, key=lambda a: int(a.get("Order") or 0))


def target_groups(listeners: Iterable[ListenerSpec]) -> tuple[str, ...]:
    """Every target group the listeners' actions forward to (kept by the deletion)."""
    found: set[str] = set()
    for listener in listeners:
        for item in listener.actions():
            if isinstance(item.get("TargetGroupArn"), str):
                found.add(item["TargetGroupArn"])
            forward = item.get("ForwardConfig")
            if isinstance(forward, dict):
                for group in forward.get("TargetGroups") or []:
                    if isinstance(group, dict) and isinstance(group.get("TargetGroupArn"), str):
                        found.add(group["TargetGroupArn"])
    return tuple(sorted(found))


def answers_without_targets(listeners: Iterable[ListenerSpec]) -> bool:
    return any(
        item.get("Type") in SELF_ANSWERING_ACTIONS
        for listener in listeners
        for item in listener.actions()
    )


def tags_by_arn(descriptions: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    return {d["ResourceArn"]: tags_from_api(d.get("Tags")) for d in descriptions}


def alias_name(dns_name: str) -> str:
    """A DNS name as Route 53 alias targets name a load balancer: lower case, no trailing
    dot, no ``dualstack.`` prefix."""
    name = dns_name.lower().rstrip(".")
    return name.removeprefix("dualstack.")
