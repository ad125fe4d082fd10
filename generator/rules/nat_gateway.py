"""A NAT gateway and the routes that target it, as DescribeNatGateways and
DescribeRouteTables describe them: what nat-gateway-idle records, and the JMESPath that
checks live AWS against the record (literals only, through ``json_literal``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue

from generator.aws.tags import tags_from_api
from generator.manifest.paths import json_literal

DESTINATION_KEYS = ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId")
"""A route's destination: an IPv4 CIDR, an IPv6 CIDR or a managed prefix list."""


class NatRoute(BaseModel):
    """One route that sends traffic to the gateway: its table and its destination."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    route_table_id: str
    destination_key: Literal[
        "DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId"
    ]
    destination: str

    @classmethod
    def from_api(cls, route_table_id: str, route: Mapping[str, Any]) -> NatRoute | None:
        for key in DESTINATION_KEYS:
            if route.get(key):
                return cls(
                    route_table_id=route_table_id,
                    destination_key=key,
                    destination=route[key],
                )
        return None

    @property
    def params(self) -> dict[str, JsonValue]:
        """The route's identity as CreateRoute/ReplaceRoute take it."""
        return {"RouteTableId": self.route_table_id, self.destination_key: self.destination}

    def matches(self) -> str:
        """JMESPath filter body: a route of a table with this destination."""
        return f"{self.destination_key} == {json_literal(self.destination)}"

    def label(self) -> str:
        return f"{self.destination} in {self.route_table_id}"


class NatGatewaySpec(BaseModel):
    """What CreateNatGateway needs to make the gateway again, and what identifies it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nat_gateway_id: str
    subnet_id: str
    vpc_id: str
    connectivity_type: Literal["public", "private"]
    allocation_id: str | None
    public_ip: str | None
    private_ip: str
    tags: dict[str, str] = {}

    def label(self) -> str:
        name = f" ({self.tags['Name']})" if self.tags.get("Name") else ""
        return f"NAT gateway {self.nat_gateway_id}{name}"


def unsupported(item: Mapping[str, Any]) -> str | None:
    """Why reclaim cannot record this gateway so that CreateNatGateway makes it again."""
    mode = item.get("AvailabilityMode")
    if mode and mode != "zonal":
        return f"{mode} NAT gateway: its zones and addresses are managed by AWS; left to a human"
    addresses = item.get("NatGatewayAddresses") or []
    if len(addresses) != 1:
        return (
            f"{len(addresses)} addresses (secondary IPs): reclaim recreates single-address "
            "gateways only"
        )
    if not addresses[0].get("PrivateIp"):
        return "no private IP recorded for its address"
    if item.get("ConnectivityType", "public") == "public" and not addresses[0].get("AllocationId"):
        return "public gateway without an Elastic IP allocation"
    return None


def parse_gateway(item: Mapping[str, Any]) -> NatGatewaySpec:
    """A DescribeNatGateways item ``unsupported`` has accepted."""
    address = item["NatGatewayAddresses"][0]
    public = item.get("ConnectivityType", "public") == "public"
    return NatGatewaySpec(
        nat_gateway_id=item["NatGatewayId"],
        subnet_id=item["SubnetId"],
        vpc_id=item["VpcId"],
        connectivity_type="public" if public else "private",
        allocation_id=address.get("AllocationId") if public else None,
        public_ip=address.get("PublicIp") if public else None,
        private_ip=address["PrivateIp"],
        tags=tags_from_api(item.get("Tags")),
    )


def routes_to(gateway_id: str, route_tables: Iterable[Mapping[str, Any]]) -> tuple[NatRoute, ...]:
    """Every route in ``route_tables`` whose target is the gateway, sorted."""
    found = []
    for table in route_tables:
        for route in table.get("Routes", []):
            if route.get("NatGatewayId") != gateway_id:
                continue
            parsed = NatRoute.from_api(table["RouteTableId"], route)
            if parsed is not None:
                found.append(parsed)
    return tuple(sorted(found, key=lambda r: (r.route_table_id, r.destination_key, r.destination)))


def table_ids(routes: Iterable[NatRoute]) -> list[str]:
    return sorted({r.route_table_id for r in routes})


def destinations_in(routes: Iterable[NatRoute], table_id: str) -> list[str]:
    return sorted(r.destination for r in routes if r.route_table_id == table_id)


def table_routes(table_id: str) -> str:
    """JMESPath: the routes of one table in a DescribeRouteTables answer."""
    return f"(RouteTables[?RouteTableId == {json_literal(table_id)}] | [0].Routes || `[]`)"


def destinations_to(gateway_id: str, table_id: str) -> str:
    """JMESPath: the sorted destinations in ``table_id`` that target ``gateway_id``."""
    to_gateway = f"NatGatewayId == {json_literal(gateway_id)}"
    picked = " || ".join(DESTINATION_KEYS)
    return f"sort({table_routes(table_id)}[?{to_gateway}].[{picked}][])"
