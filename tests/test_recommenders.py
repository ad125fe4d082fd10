"""A second opinion from Cost Optimization Hub and Compute Optimizer, through botocore's
Stubber: moto has neither service, and Stubber checks every request and response against
the botocore models (cost-optimization-hub 2022-07-26, compute-optimizer 2019-11-01)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from generator.aws.recommenders import COH_REGION, second_opinion

ACCOUNT = "123456789012"
REGION = "eu-west-1"
VOLUME = "vol-0a1b2c3d4e5f60718"
ADDRESS = "eipalloc-0a1b2c3d4e5f60718"


def _clients() -> tuple[dict[str, Any], dict[str, Stubber]]:
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    clients = {
        "cost-optimization-hub": boto3.client(
            "cost-optimization-hub", region_name=COH_REGION, **keys
        ),
        "compute-optimizer": boto3.client("compute-optimizer", region_name=REGION, **keys),
    }
    return clients, {name: Stubber(client) for name, client in clients.items()}


def _client_for(clients: dict[str, Any]) -> Any:
    def client_for(service: str, region: str) -> Any:
        expected = COH_REGION if service == "cost-optimization-hub" else REGION
        assert region == expected, (service, region)
        return clients[service]

    return client_for


def _hub_item(**given: Any) -> dict[str, Any]:
    item = {
        "recommendationId": "rec-1",
        "accountId": ACCOUNT,
        "region": REGION,
        "resourceId": VOLUME,
        "resourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{VOLUME}",
        "currentResourceType": "EbsVolume",
        "recommendedResourceType": "EbsVolume",
        "estimatedMonthlySavings": 3.6,
        "estimatedSavingsPercentage": 100.0,
        "estimatedMonthlyCost": 3.6,
        "currencyCode": "USD",
        "implementationEffort": "VeryLow",
        "restartNeeded": False,
        "actionType": "Delete",
        "rollbackPossible": False,
        "lastRefreshTimestamp": datetime(2026, 11, 30, tzinfo=UTC),
        "recommendationLookbackPeriodInDays": 14,
        "source": "ComputeOptimizer",
    }
    return {**item, **given}


def _idle_item(resource: str, value: float, after: float | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "resourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{resource}",
        "resourceId": resource,
        "resourceType": "EBSVolume",
        "accountId": ACCOUNT,
        "finding": "Unattached",
        "findingDescription": "The volume is not attached to an instance.",
        "savingsOpportunity": {
            "savingsOpportunityPercentage": 100.0,
            "estimatedMonthlySavings": {"currency": "USD", "value": value},
        },
        "lookBackPeriodInDays": 14.0,
    }
    if after is not None:
        item["savingsOpportunityAfterDiscounts"] = {
            "savingsOpportunityPercentage": 100.0,
            "estimatedMonthlySavings": {"currency": "USD", "value": after},
        }
    return item


def test_both_recommenders_answer_and_the_comparison_shows_agreement_and_disagreement() -> None:
    clients, stubs = _clients()
    stubs["cost-optimization-hub"].add_response(
        "list_recommendations",
        {"items": [_hub_item()]},
        {
            "filter": {
                "accountIds": [ACCOUNT],
                "regions": [REGION],
                "resourceIds": sorted([VOLUME, ADDRESS]),
            }
        },
    )
    stubs["compute-optimizer"].add_response(
        "get_idle_recommendations",
        {
            "idleRecommendations": [_idle_item("vol-someoneelse", 9.0, None)],
            "nextToken": "page-2",
        },
        {"accountIds": [ACCOUNT]},
    )
    stubs["compute-optimizer"].add_response(
        "get_idle_recommendations",
        {"idleRecommendations": [_idle_item(VOLUME, 4.0, 2.0)]},
        {"accountIds": [ACCOUNT], "nextToken": "page-2"},
    )
    with stubs["cost-optimization-hub"], stubs["compute-optimizer"]:
        opinion = second_opinion(_client_for(clients), ACCOUNT, REGION, [VOLUME, ADDRESS])
    for stub in stubs.values():
        stub.assert_no_pending_responses()

    assert opinion.unavailable == {}
    assert opinion.corroborates(VOLUME) and not opinion.corroborates(ADDRESS)
    assert "vol-someoneelse" not in opinion.opinions  # another resource's recommendation
    lines = opinion.compare(VOLUME, 3.6)
    assert lines == [
        "Cost Optimization Hub: also flags it (Delete), estimates $3.60/month after discounts; "
        "rollbackPossible: false",
        # the after-discounts figure is the one shown, and its distance from reclaim's
        "Compute Optimizer: also flags it (Unattached), estimates $2.00/month after discounts "
        "(reclaim: $3.60/month)",
    ]
    # a resource neither flags: said, per source, not left out
    assert opinion.compare(ADDRESS, 3.65) == [
        "Cost Optimization Hub: does not flag this resource",
        "Compute Optimizer: does not flag this resource",
    ]


@pytest.mark.parametrize(
    ("service_error", "said"),
    [
        (("compute-optimizer", "OptInRequiredException"), "not opted in"),
        (("cost-optimization-hub", "AccessDeniedException"), "access denied"),
    ],
)
def test_a_recommender_absent_or_refused_is_said_once_and_the_other_still_answers(
    service_error: tuple[str, str], said: str
) -> None:
    refused, code = service_error
    clients, stubs = _clients()
    for service, stub in stubs.items():
        if service == refused:
            operation = (
                "get_idle_recommendations"
                if service == "compute-optimizer"
                else "list_recommendations"
            )
            stub.add_client_error(operation, service_error_code=code, http_status_code=400)
        elif service == "compute-optimizer":
            stub.add_response(
                "get_idle_recommendations", {"idleRecommendations": [_idle_item(VOLUME, 4.0, None)]}
            )
        else:
            stub.add_response("list_recommendations", {"items": [_hub_item()]})
    with stubs["cost-optimization-hub"], stubs["compute-optimizer"]:
        opinion = second_opinion(_client_for(clients), ACCOUNT, REGION, [VOLUME, ADDRESS])
    source = "Compute Optimizer" if refused == "compute-optimizer" else "Cost Optimization Hub"
    assert opinion.unavailable == {source: said}
    assert opinion.corroborates(VOLUME)  # the other source's answer is kept
    lines = opinion.compare(ADDRESS, 3.65)
    assert lines.count(f"{source}: not asked ({said})") == 1
    assert not any(line.startswith(f"{source}: does not flag") for line in lines)


def test_no_resource_no_call() -> None:
    clients, stubs = _clients()
    with stubs["cost-optimization-hub"], stubs["compute-optimizer"]:
        assert second_opinion(_client_for(clients), ACCOUNT, REGION, []).opinions == {}


def test_each_open_pr_whose_finding_holds_gets_the_second_opinion_as_one_comment() -> None:
    from types import SimpleNamespace

    from rich.console import Console

    from generator.pipeline.second_opinion import MARKER, comment_second_opinions

    clients, stubs = _clients()
    stubs["cost-optimization-hub"].add_client_error(
        "list_recommendations", service_error_code="AccessDeniedException", http_status_code=400
    )
    stubs["compute-optimizer"].add_response(
        "get_idle_recommendations", {"idleRecommendations": [_idle_item(VOLUME, 4.0, None)]}
    )

    def held(resource: str, monthly: float, finding_id: str) -> Any:
        observed = SimpleNamespace(
            id=finding_id,
            account=ACCOUNT,
            region=REGION,
            resource_id=resource,
            cost=SimpleNamespace(monthly_usd=monthly),
        )
        return SimpleNamespace(plan=object(), observed=observed)

    posted: dict[int, str] = {}

    class Commenter:
        def upsert_comment(self, number: int, marker: str, body: str) -> str:
            assert body.startswith(marker)
            posted[number] = body
            return f"#{number}"

    out = Console(record=True, width=200)
    changed = SimpleNamespace(plan=None, observed=None)  # no longer holds: not asked about
    with stubs["cost-optimization-hub"], stubs["compute-optimizer"]:
        corroborated = comment_second_opinions(
            [held(VOLUME, 4.0, "f-vol"), held(ADDRESS, 3.65, "f-eip"), changed],
            lambda _plan: _client_for(clients),
            Commenter(),
            {"f-vol": 1, "f-eip": 2},
            out,
        )
    assert corroborated == {"f-vol": True, "f-eip": False}
    assert "AWS also flags this resource" in posted[1]
    assert "Compute Optimizer: also flags it (Unattached), estimates $4.00/month" in posted[1]
    assert "AWS does not flag this resource" in posted[2]  # the disagreement, shown
    assert "Compute Optimizer: does not flag this resource" in posted[2]
    assert all("Cost Optimization Hub: not asked (access denied)" in b for b in posted.values())
    assert out.export_text().count("Cost Optimization Hub not asked (access denied)") == 1
    assert MARKER in posted[1]


def test_the_scan_role_may_make_every_call_of_a_second_opinion() -> None:
    from generator.aws.recommenders import CALLS
    from generator.aws.scan_policy import ACCOUNT_CALLS, scan_session_policy

    assert CALLS <= ACCOUNT_CALLS
    import json

    (statement,) = json.loads(scan_session_policy([]))["Statement"]
    assert {
        "cost-optimization-hub:ListRecommendations",
        "compute-optimizer:GetIdleRecommendations",
    } <= set(statement["Action"])
