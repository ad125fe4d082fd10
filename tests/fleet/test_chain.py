"""The two-hop role chain against moto: where calls land, ExternalId, refresh, errors."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from moto.core import set_initial_no_auth_action_count

import generator.aws.chain as chain_module
import generator.aws.scan_policy as scan_policy
from generator.aws.chain import Hop, RoleChain, RoleChainError, RunIdentity, assume_role
from generator.aws.scan_policy import scan_actions, scan_session_policy
from generator.aws.session import new_session
from generator.errors import ConfigError, ReclaimError
from generator.iam.actions import iam_action
from generator.rules import RULES
from generator.scan import scan
from tests.fleet.support import (
    CUSTOMER_A,
    CUSTOMER_B,
    REGION,
    SERVICE,
    SERVICE_ROLE,
    fleet_config,
    make_role,
    make_user_keys,
    trust,
    unattached_volumes,
)

SCAN = RunIdentity(kind="scan", run="test")
SESSION_ARN = f"arn:aws:sts::{SERVICE}:assumed-role/reclaim-service/{SCAN.session_name}"


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[Hop]:
    """Every AssumeRole reclaim makes, in order (the real call still happens)."""
    made: list[Hop] = []
    real = chain_module.assume_role

    def recording(sts: Any, hop: Hop, identity: RunIdentity) -> dict[str, Any]:
        made.append(hop)
        return real(sts, hop, identity)

    monkeypatch.setattr(chain_module, "assume_role", recording)
    return made


def _two_customers(tmp_path: Path, **account_b: Any):
    return fleet_config(
        tmp_path,
        service_role={"role_arn": SERVICE_ROLE},
        regions=[REGION, "eu-west-1", "eu-central-1"],
        accounts=[
            {"name": "a", "role_arn": f"arn:aws:iam::{CUSTOMER_A}:role/reclaim-remediation"},
            {
                "name": "b",
                "role_arn": f"arn:aws:iam::{CUSTOMER_B}:role/reclaim-remediation",
                **account_b,
            },
        ],
    )


def test_calls_land_in_each_customer_account_and_each_hop_is_assumed_once(
    aws, tmp_path: Path, hops: list[Hop]
):
    in_a = unattached_volumes(CUSTOMER_A, REGION, 3)
    in_a += unattached_volumes(CUSTOMER_A, "eu-west-1", 1)
    in_b = unattached_volumes(CUSTOMER_B, "eu-central-1", 2)
    unattached_volumes(SERVICE, REGION, 4)  # the tooling account is not scanned
    config = _two_customers(tmp_path)
    chain = RoleChain(config, SCAN)

    scan(config, as_of=datetime.now(UTC), session_for=chain.session_for)
    report = scan(
        config,
        as_of=datetime.now(UTC) + timedelta(days=30),
        session_for=RoleChain(config, SCAN).session_for,
    )

    found = {(f.account, f.resource_id) for f in report.findings}
    assert found == {(CUSTOMER_A, v) for v in in_a} | {(CUSTOMER_B, v) for v in in_b}
    assert report.errors == ()
    # Per scan: hop 1 once, hop 2 once per account, whatever the regions and threads.
    assert [h.number for h in hops].count(1) == 2
    assert sorted(h.role_arn for h in hops if h.number == 2) == sorted(
        [a.role_arn for a in config.accounts] * 2
    )
    identity = chain.session_for(config.accounts[1]).client("sts", REGION).get_caller_identity()
    assert identity["Arn"] == (
        f"arn:aws:sts::{CUSTOMER_B}:assumed-role/reclaim-remediation/{SCAN.session_name}"
    )


def test_source_identity_is_set_once_at_the_first_hop(aws, tmp_path, hops):
    config = _two_customers(tmp_path)
    apply = RunIdentity(kind="apply", run="gh-7-1", actor="octo-cat[bot]")
    RoleChain(config, apply).session_for(config.accounts[0])
    RoleChain(config, SCAN).session_for(config.accounts[0])
    direct = fleet_config(
        tmp_path, accounts=[{"name": "a", "role_arn": config.accounts[0].role_arn}]
    )
    RoleChain(direct, apply).session_for(direct.accounts[0])

    assert [(h.number, h.source_identity) for h in hops] == [
        (1, "octo-cat-bot-"),  # AWS allows [\w+=,.@-]: the actor is made safe, not dropped
        (2, None),  # persists from hop 1; AWS refuses an attempt to set it again
        (1, "reclaim-scan"),  # a scan names no person, only itself
        (2, None),
        (2, "octo-cat-bot-"),  # without hop 1, hop 2 is the first hop reclaim assumes
    ]


def _auth_on_fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **account: Any):
    """Service account with a CI user, the service role, and (moto quirk: same account so
    the trust policy is checked) a remediation role requiring an ExternalId."""
    key, secret = make_user_keys(SERVICE, "ci", "sts:AssumeRole", "sts:SetSourceIdentity")
    make_role(
        SERVICE,
        "reclaim-service",
        trust(f"arn:aws:iam::{SERVICE}:user/ci"),
        "sts:AssumeRole",
        "sts:SetSourceIdentity",
    )
    role = make_role(
        SERVICE,
        "reclaim-remediation",
        trust(SESSION_ARN, "right-external-id"),
        "ec2:*",
        "sts:GetCallerIdentity",
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    return fleet_config(
        tmp_path,
        service_role={"role_arn": SERVICE_ROLE},
        accounts=[{"name": "prod", "role_arn": role, "external_id_env": "EXT_PROD", **account}],
    )


def test_with_iam_auth_on_the_right_external_id_passes_and_a_wrong_one_is_refused(
    aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    @set_initial_no_auth_action_count(0)
    def run() -> None:
        config = _auth_on_fleet(tmp_path, monkeypatch)
        account = config.accounts[0]

        monkeypatch.setenv("EXT_PROD", "right-external-id")
        session = RoleChain(config, SCAN).session_for(account)
        ec2 = session.client("ec2", REGION)
        volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
        assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [volume]

        monkeypatch.setenv("EXT_PROD", "wrong-external-id")
        with pytest.raises(RoleChainError) as caught:
            RoleChain(config, SCAN).session_for(account)
        text = str(caught.value)
        assert "hop 2" in text and account.role_arn in text and "AccessDenied" in text
        assert "ExternalId" in (caught.value.hint or "")
        assert "wrong-external-id" not in text and "right-external-id" not in text

    run()


def test_a_configured_external_id_that_is_missing_is_never_silently_dropped(
    aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hops: list[Hop]
):
    """moto accepts an AssumeRole without the ExternalId its trust policy requires; reclaim
    refuses to send one without it."""

    @set_initial_no_auth_action_count(0)
    def run() -> None:
        config = _auth_on_fleet(tmp_path, monkeypatch)
        monkeypatch.delenv("EXT_PROD", raising=False)
        with pytest.raises(ConfigError) as caught:
            RoleChain(config, SCAN).session_for(config.accounts[0])
        assert "accounts[0].external_id_env" in caught.value.message
        assert [h.number for h in hops] == [1]  # hop 2 was never attempted

    run()


def test_hop_1_refused_by_its_trust_policy_names_the_hop_and_the_fix(
    aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    @set_initial_no_auth_action_count(0)
    def run() -> None:
        key, secret = make_user_keys(SERVICE, "intruder", "sts:AssumeRole")
        make_role(SERVICE, "reclaim-service", trust(f"arn:aws:iam::{SERVICE}:user/ci"))
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        config = fleet_config(
            tmp_path,
            service_role={"role_arn": SERVICE_ROLE},
            accounts=[{"name": "a", "role_arn": f"arn:aws:iam::{CUSTOMER_A}:role/r"}],
        )
        with pytest.raises(RoleChainError) as caught:
            RoleChain(config, SCAN).session_for(config.accounts[0])
        assert caught.value.message.startswith(f"hop 1 (service role {SERVICE_ROLE})")
        assert "trust policy of " + SERVICE_ROLE in (caught.value.hint or "")

    run()


class _Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_both_hops_refresh_before_expiry_and_calls_keep_working(aws, tmp_path, hops):
    volume = unattached_volumes(CUSTOMER_A, REGION, 1)[0]
    config = _two_customers(tmp_path)
    clock = _Clock()
    session = RoleChain(config, SCAN, time_fetcher=clock).session_for(config.accounts[0])
    ec2 = session.client("ec2", REGION)
    first_key = ec2._request_signer._credentials.get_frozen_credentials().access_key
    assert [h.number for h in hops] == [1, 2]

    ec2.describe_volumes()
    assert [h.number for h in hops] == [1, 2]  # fresh credentials are reused

    # 55 minutes in: inside the refresh window of both hops' one-hour sessions.
    clock.offset = timedelta(minutes=55)
    volumes = ec2.describe_volumes()["Volumes"]
    assert [v["VolumeId"] for v in volumes] == [volume]
    assert sorted(h.number for h in hops) == [1, 1, 2, 2]
    assert ec2._request_signer._credentials.get_frozen_credentials().access_key != first_key


class _FakeSts:
    """STS whose sessions last exactly one hour of the injected clock."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.calls: list[dict[str, Any]] = []

    def assume_role(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        n = len(self.calls)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{n:016d}",
                "SecretAccessKey": "s",
                "SessionToken": "t",
                "Expiration": self.clock() + timedelta(hours=1),
            }
        }


def test_a_three_hour_run_never_signs_with_expired_credentials():
    clock = _Clock()
    sts = _FakeSts(clock)
    credentials = chain_module.refreshable_hop(
        sts, Hop(2, "arn:aws:iam::222222222222:role/r"), SCAN, time_fetcher=clock
    )
    for minute in range(0, 181, 5):
        clock.offset = timedelta(minutes=minute)
        frozen = credentials.get_frozen_credentials()
        assert int(frozen.access_key[4:]) == len(sts.calls)  # always the latest session
        assert credentials._seconds_remaining() > 10 * 60  # never inside the hard window
    # Refreshed 15 minutes before each expiry: at 45, 90, 135 and 180 minutes.
    assert len(sts.calls) == 5


def test_assume_role_sends_the_run_the_external_id_and_the_source_identity():
    sts = new_session().client("sts", region_name=REGION)
    identity = RunIdentity.current(
        "apply", "alice", environ={"GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2"}
    )
    hop = Hop(
        2,
        "arn:aws:iam::222222222222:role/r",
        external_id="ext-123",
        source_identity=identity.source_identity,
    )
    with Stubber(sts) as stub:
        stub.add_response(
            "assume_role",
            {
                "Credentials": {
                    "AccessKeyId": "ASIAXXXXXXXXXXXXXXXX",
                    "SecretAccessKey": "s",
                    "SessionToken": "t",
                    "Expiration": datetime.now(UTC),
                }
            },
            {
                "RoleArn": hop.role_arn,
                "RoleSessionName": "reclaim-apply-gh-42-2",
                "DurationSeconds": 3600,
                "ExternalId": "ext-123",
                "SourceIdentity": "alice",
            },
        )
        metadata = assume_role(sts, hop, identity)
    assert metadata["access_key"] == "ASIAXXXXXXXXXXXXXXXX"
    assert "ext-123" not in repr(hop)


@pytest.mark.parametrize(
    ("code", "message", "hint_part"),
    [
        (
            "ExpiredToken",
            "The security token included in the request is expired",
            "the service role (hop 1) are invalid or expired",
        ),
        (
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit",
            "chained sessions cannot last longer than one hour",
        ),
        (
            "AccessDenied",
            "not authorized to perform: sts:AssumeRole",
            "sts:AssumeRole and sts:SetSourceIdentity",
        ),
    ],
)
def test_assume_role_failures_carry_a_hint_for_the_likely_fix(code, message, hint_part):
    sts = new_session().client("sts", region_name=REGION)
    hop = Hop(2, "arn:aws:iam::222222222222:role/r", account_label="222222222222")
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", service_error_code=code, service_message=message)
        with pytest.raises(RoleChainError) as caught:
            assume_role(sts, hop, SCAN)
    assert caught.value.message.startswith(
        "hop 2 (role of account 222222222222 arn:aws:iam::222222222222:role/r)"
    )
    assert code in caught.value.message
    assert hint_part in (caught.value.hint or "")


def test_role_session_names_carry_the_run_and_stay_within_aws_limits():
    local = RunIdentity.current("scan", environ={}, now=datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    assert local.session_name == "reclaim-scan-local-20261128T060000"
    # a scan changes nothing and names no person, but says what it is: the generated
    # remediation roles trust only sessions that carry a SourceIdentity
    assert local.source_identity == "reclaim-scan"
    github = RunIdentity.current("rollback", "a" * 80, environ={"GITHUB_RUN_ID": "9" * 70})
    assert len(github.session_name) == 64 and github.session_name.startswith("reclaim-rollback-gh-")
    assert github.source_identity == "a" * 64


def test_scan_sessions_carry_a_read_only_policy_and_changes_none(aws, tmp_path, hops):
    config = _two_customers(tmp_path)
    RoleChain(config, SCAN).session_for(config.accounts[0])
    apply = RunIdentity(kind="apply", run="gh-7-1", actor="octocat")
    RoleChain(config, apply).session_for(config.accounts[0])

    scan_hop1, scan_hop2, apply_hop1, apply_hop2 = hops
    assert scan_hop1.session_policy is None  # hop 1 must still assume the customer roles
    assert apply_hop1.session_policy is None and apply_hop2.session_policy is None
    assert scan_hop2.session_policy is not None
    (statement,) = json.loads(scan_hop2.session_policy)["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
    assert statement["Action"] == scan_actions(RULES[n].calls.scan for n in config.enabled_rules())
    assert "ec2:DescribeVolumes" in statement["Action"]
    assert "ec2:DescribeRegions" in statement["Action"]  # regions: all-enabled
    assert not any(
        a.startswith(("ec2:Delete", "ec2:Stop", "ec2:Modify")) for a in statement["Action"]
    )
    for name in config.enabled_rules():
        for service, operation in RULES[name].calls.scan:
            action = iam_action(service, operation)
            assert action is None or action in statement["Action"], action


def test_the_session_policy_is_sent_with_assume_role() -> None:
    sts = new_session().client("sts", region_name=REGION)
    policy = scan_session_policy([RULES["ebs-unattached"].calls.scan])
    hop = Hop(2, f"arn:aws:iam::{CUSTOMER_A}:role/r", session_policy=policy)
    expiry = datetime.now(UTC) + timedelta(hours=1)
    with Stubber(sts) as stub:
        stub.add_response(
            "assume_role",
            {
                "Credentials": {
                    "AccessKeyId": "AKIAEXAMPLEEXAMPLE",
                    "SecretAccessKey": "secret",
                    "SessionToken": "token",
                    "Expiration": expiry,
                }
            },
            {
                "RoleArn": hop.role_arn,
                "RoleSessionName": SCAN.session_name,
                "DurationSeconds": chain_module.SESSION_SECONDS,
                "Policy": policy,
            },
        )
        assume_role(sts, hop, SCAN)
    assert json.loads(policy)["Statement"][0]["Action"] == [
        "ce:GetCostAndUsage",  # realized savings of applied changes (measure-savings)
        "ce:GetCostAndUsageWithResources",
        "cloudtrail:LookupEvents",
        "compute-optimizer:GetIdleRecommendations",  # the second opinion on open PRs
        "cost-optimization-hub:ListRecommendations",
        "ec2:DescribeRegions",
        "ec2:DescribeVolumes",
        "rbin:ListRules",  # ebs-unattached: does a Recycle Bin rule keep deleted volumes
    ]


def test_a_policy_over_the_size_limit_is_folded_into_read_wildcards_or_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every rule's reads together are folded already (more than 2,048 characters exact):
    # with all of them on, the session policy is the read verbs of each service.
    folded_already = json.loads(scan_session_policy([r.calls.scan for r in RULES.values()]))
    assert "ec2:Describe*" in folded_already["Statement"][0]["Action"]
    # A few rules' reads fit exactly, until the limit is one character less.
    everything = [
        RULES[name].calls.scan
        for name in ("ebs-unattached", "ebs-gp2-to-gp3", "ec2-idle", "eip-unassociated")
    ]
    exact = scan_session_policy(everything)
    assert "ec2:DescribeVolumes" in exact
    monkeypatch.setattr(scan_policy, "MAX_POLICY_CHARS", len(exact) - 1)
    folded = json.loads(scan_session_policy(everything))["Statement"][0]["Action"]
    assert "ec2:Describe*" in folded and "ec2:DescribeVolumes" not in folded
    assert all(a.split(":")[1].startswith(("Describe", "List", "Get", "Lookup")) for a in folded)
    monkeypatch.setattr(scan_policy, "MAX_POLICY_CHARS", 100)
    with pytest.raises(ReclaimError, match="exceeds AssumeRole's 100 characters"):
        scan_session_policy(everything)


def test_the_scan_policy_is_built_once_while_accounts_are_prepared_in_parallel(
    aws, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """Building it loads service models (~0.2 s of CPU); ten accounts racing to build it
    cost a fleet scan over a second before this was locked."""
    built: list[int] = []
    real = scan_policy.scan_session_policy

    def counting(scan_calls: Any) -> str:
        built.append(1)
        return real(scan_calls)

    monkeypatch.setattr(scan_policy, "scan_session_policy", counting)
    config = _two_customers(tmp_path)
    chain = RoleChain(config, SCAN)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(chain.session_for, [config.accounts[0], config.accounts[1]] * 4))
    assert built == [1]
